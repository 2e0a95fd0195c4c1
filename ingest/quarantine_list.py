"""The quarantine list as a document: the JSON that ``quarantine export --format json`` writes, the
server's token-guarded endpoint returns and the pytest plugin reads, and its pytest argument files.

Standard library only: the pytest plugin imports this in any CI image. Node ids and reasons come
from reports and people, so they are checked here once: a node id with a control character or a
leading "-" would turn a line of a pytest argument file into an option (``-p evil`` loads code).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

FORMAT = "suitehealth-quarantine"
VERSION = 1
MAX_NODEID = 2000
MAX_REASON = 1000
EXPORT_FORMATS = ("pytest", "deselect", "json")


class QuarantineListError(ValueError):
    """A node id, URL or quarantine document is not acceptable."""


@dataclass(frozen=True)
class ListedTest:
    """One quarantined test as every reader of the list sees it."""

    nodeid: str
    suite: str | None
    reason: str | None
    added_by: str
    added_at: str
    url: str | None


def covering(nodeid: str, listed: dict) -> object | None:
    """Return the entry of ``listed`` (keyed by node id) that covers ``nodeid``, or None.

    A node id covers itself and what is below it, as on pytest's command line: a parametrize base
    ("t.py::test_x" covers "t.py::test_x[1]"), a class, a file.
    """
    found = listed.get(nodeid)
    if found is not None or not listed:
        return found
    for i, ch in enumerate(nodeid):
        if ch == "[" or nodeid.startswith("::", i):
            found = listed.get(nodeid[:i])
            if found is not None:
                return found
    return None


def nodeid_problem(nodeid: str) -> str | None:
    """Return why ``nodeid`` cannot be quarantined, or None when it can."""
    if not nodeid or not nodeid.strip():
        return "the node id is empty"
    if len(nodeid) > MAX_NODEID:
        return f"the node id is longer than {MAX_NODEID} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in nodeid):
        return "the node id contains a control character (newline, tab ...)"
    if nodeid.startswith("-"):
        return "the node id starts with '-' (pytest would read it as an option)"
    return None


def check_nodeid(nodeid: str) -> str:
    problem = nodeid_problem(nodeid)
    if problem:
        raise QuarantineListError(f"{nodeid[:80]!r}: {problem}")
    return nodeid


def safe_url(url: str | None) -> str | None:
    """Return ``url`` if it is an http(s) URL or a site path ("/projects/..."), else None."""
    if not url or len(url) > 2000 or any(ord(ch) < 32 for ch in url):
        return None
    if url.startswith("/") and not url.startswith("//"):
        return url
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def absolute_url(url: str | None, base_url: str | None) -> str | None:
    """Return a safe absolute URL: site paths are joined to ``base_url`` (kept as paths without one)."""
    url = safe_url(url)
    if url and url.startswith("/") and base_url:
        return base_url.rstrip("/") + url
    return url


def clean_reason(reason: str | None) -> str | None:
    """Return the reason on one line, bounded (it ends up in xfail reasons and Markdown)."""
    if reason is None:
        return None
    text = " ".join(str(reason).split())[:MAX_REASON]
    return text or None


def document(project: str, tests: Iterable[ListedTest], generated_at: str) -> dict:
    """Return the JSON document of a project's quarantine list."""
    return {"format": FORMAT, "version": VERSION, "project": project, "generated_at": generated_at,
            "tests": [asdict(t) for t in sorted(tests, key=lambda t: t.nodeid)]}


def parse_document(data) -> tuple[str | None, list[ListedTest]]:
    """Return (project, tests) of a quarantine document; refuse anything else with a clear message.

    Entries with an unacceptable node id are dropped, not fatal: one bad row must not void the list.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise QuarantineListError(f"not a suitehealth quarantine list (expected \"format\": \"{FORMAT}\")")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise QuarantineListError(f"unsupported quarantine list version {data.get('version')!r}")
    rows = data.get("tests")
    if not isinstance(rows, list):
        raise QuarantineListError("the quarantine list has no \"tests\" array")
    tests = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("nodeid"), str):
            continue
        if nodeid_problem(row["nodeid"]):
            continue
        tests.append(ListedTest(
            nodeid=row["nodeid"], suite=_str(row.get("suite")), reason=clean_reason(_str(row.get("reason"))),
            added_by=_str(row.get("added_by")) or "?", added_at=_str(row.get("added_at")) or "",
            url=safe_url(_str(row.get("url"))),
        ))
    project = data.get("project") if isinstance(data.get("project"), str) else None
    return project, tests


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def render(doc: dict, fmt: str) -> str:
    """Render a quarantine document as json, or as a pytest argument file (``pytest @FILE``).

    ``pytest``: one node id per line (run only the quarantined tests); ``deselect``: one
    ``--deselect=NODEID`` per line (run everything else). One argument per line, no shell involved.
    """
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    _, tests = parse_document(doc)
    if fmt == "pytest":
        return "".join(f"{t.nodeid}\n" for t in tests)
    if fmt == "deselect":
        return "".join(f"--deselect={t.nodeid}\n" for t in tests)
    raise QuarantineListError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
