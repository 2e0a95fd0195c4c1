"""What the pytest-specific formats share: markers from keywords, outcomes from phases."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ingest import records as R

# Keywords pytest adds that are not marks (function attributes, the parametrize helper attr).
_NOT_MARKERS = frozenset({"", "pytestmark"})
_WORKER_HINT = re.compile(r"^\[(gw\d+)\] ")


def markers_from_keywords(
    nodeid: str, keywords: Iterable[str], root_name: str | None = None
) -> tuple[str, ...]:
    """Return the marks among a test's pytest keywords.

    pytest's keywords are the test's own names and marks followed by those of each parent node
    (class, module, directories, the rootdir, the session). Everything from the top-most path
    segment of the node id onwards is an ancestor name, not a mark; node names and parameter ids
    are dropped too.
    """
    path, _, rest = nodeid.partition("::")
    segments = path.split("/")
    names = set(segments)
    for part in rest.split("::"):
        base, bracket, params = part.partition("[")
        names.add(part)
        names.add(base)
        if bracket:
            params = params[:-1] if params.endswith("]") else params
            names.add(params)
            names.update(params.split("-"))
    if root_name:
        names.add(root_name)
    keywords = list(keywords)
    if len(segments) > 1:
        stop = keywords.index(segments[0]) if segments[0] in keywords else len(keywords)
    else:
        # A module in the rootdir: its marks follow its name, then come the rootdir and the session ("").
        stop = len(keywords) - (2 if keywords and keywords[-1] == "" else 1)
    found: list[str] = []
    for keyword in keywords[:stop]:
        if keyword in names or keyword in _NOT_MARKERS or keyword in found:
            continue
        found.append(keyword)
    return tuple(found)


def phase_outcome(phases: Mapping[str, Mapping], wasxfail: bool = False) -> str:
    """Return the test outcome from its setup/call/teardown phase outcomes."""
    setup = (phases.get("setup") or {}).get("outcome")
    call = (phases.get("call") or {}).get("outcome")
    teardown = (phases.get("teardown") or {}).get("outcome")
    if setup in ("failed", "error", "rerun"):
        return R.ERROR
    if setup == "skipped":
        return R.XFAILED if wasxfail else R.SKIPPED
    if call in ("failed", "rerun"):
        return R.FAILED
    if call == "skipped":
        return R.XFAILED if wasxfail else R.SKIPPED
    if teardown in ("failed", "error", "rerun"):
        return R.ERROR
    if call == "passed" and wasxfail:
        return R.XPASSED
    return R.PASSED


def worker_hint(longrepr: str | None) -> tuple[str | None, str | None]:
    """Split xdist's ``[gwN] linux -- Python ...`` first line off a longrepr; return (worker, rest)."""
    if not longrepr:
        return None, longrepr
    match = _WORKER_HINT.match(longrepr)
    if not match:
        return None, longrepr
    rest = longrepr.split("\n", 1)[1].strip("\n") if "\n" in longrepr else ""
    return match.group(1), rest or None


def first_line(text: str | None, limit: int = 1000) -> str | None:
    """Return the first non-blank line of ``text`` (clipped), the usual one-line failure message."""
    if not text:
        return None
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[:limit] + "…"
    return None


def json_number(value) -> float | None:
    """Return a JSON number as float; anything else (null, strings, booleans) as None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
