"""One documented limit per stored string and number, enforced before the database.

Everything stored comes from CI, that is from anyone who can open a pull request, and the two
databases disagree about what they accept: PostgreSQL refuses NUL characters in text, values
longer than a ``varchar(n)`` and index entries over ~2.7 KB; SQLite stores all of it. So the
limits are checked here, once, the same way for both:

- names that identify something (project, suite, commit) are refused when too long, because
  clipping would merge two different names into one;
- descriptive text (branch, build URL, worker id, seed, host, file names) is clipped, ending in
  ``…`` so the cut is visible;
- a test node id longer than ``NODEID_MAX_BYTES`` keeps its head plus a hash of the whole id, so
  it stays unique and the same test keeps the same row run after run;
- NUL becomes ``␀`` (U+2400) in text, and a NUL in a name is refused;
- durations outside [0, a week] and moments outside [1970, now + 1 day] become unknown (None);
  NaN and infinity are never stored.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import chain, islice

from ingest.errors import MetadataError
from ingest.formats.values import MAX_DURATION_S, epoch_in_range, seconds_in_range, utc_in_range
from ingest.records import CaseRecord, ReportMeta, RunMeta

# Names: refused when longer (characters). Matches the columns in ingest.models.
NAME_LIMITS = {"project": 200, "suite": 200, "commit": 64}
# Descriptive run text: clipped when longer (characters).
RUN_TEXT_LIMITS = {"branch": 300, "build_id": 200, "build_url": 2000}
# Per-test text: clipped when longer. Node ids are limited in UTF-8 bytes (see nodeid_key).
CASE_TEXT_LIMITS = {"name": 2000, "classname": 2000, "file": 2000, "worker_id": 50}
MARKER_CHARS = 200
MAX_MARKERS = 100
RANDOM_SEED_CHARS = 100
HOSTNAME_CHARS = 200
SOURCE_CHARS = 500
ENV_VALUE_CHARS = 2000
# PostgreSQL's btree refuses index entries over 2704 bytes; (project_id, nodeid) is indexed.
NODEID_MAX_BYTES = 2000
CLIP_MARK = "…"
NUL_MARK = "\u2400"
_HASH_CHARS = 16
_CHUNK = 2000

_F = CaseRecord._fields
_NODEID_AT = _F.index("nodeid")
_MARKERS_AT = _F.index("markers")
_TEXT_AT = [_F.index(f) for f in ("nodeid", "name", "classname", "file", "worker_id", "message", "details")]
_LIMITED_AT = [(_F.index(f), limit) for f, limit in CASE_TEXT_LIMITS.items()]
_SECONDS_AT = [_F.index(f) for f in ("duration_s", "setup_s", "call_s", "teardown_s")]
_EPOCH_AT = [_F.index(f) for f in ("start", "stop")]


def clip(text: str | None, limit: int) -> str | None:
    """Return ``text`` without NUL, cut to ``limit`` characters ending in ``…`` when longer."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", NUL_MARK)
    return text if len(text) <= limit else text[: limit - len(CLIP_MARK)] + CLIP_MARK


def check_name(kind: str, value: str, option: str | None = None) -> str:
    """Return a project/suite/commit name if it fits its column; refuse it with a message otherwise."""
    limit = NAME_LIMITS[kind]
    label = option or f"--{kind}"
    if "\x00" in value:
        raise MetadataError(f"{label} must not contain a NUL character")
    if len(value) > limit:
        raise MetadataError(f"{label} is {len(value):,} characters long; at most {limit} are allowed")
    return value


def nodeid_key(nodeid: str) -> str:
    """Return the node id as stored: unchanged when short, else its head, ``…#`` and a hash of it all."""
    if "\x00" in nodeid:
        nodeid = nodeid.replace("\x00", NUL_MARK)
    if len(nodeid) * 4 <= NODEID_MAX_BYTES:  # cannot be too long, whatever the characters
        return nodeid
    raw = nodeid.encode("utf-8", "surrogatepass")
    if len(raw) <= NODEID_MAX_BYTES:
        return nodeid
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_CHARS]
    tail = f"{CLIP_MARK}#{digest}"
    head = raw[: NODEID_MAX_BYTES - len(tail.encode())].decode("utf-8", "ignore")
    return head + tail


def bounded_run_meta(meta: RunMeta) -> RunMeta:
    """Return ``meta`` within the limits: names checked, text clipped, time in range.

    Raises MetadataError (a 400 on upload, a one-line CLI error) for a name that does not fit or
    a start time outside 1970..now + 1 day.
    """
    changes: dict = {}
    check_name("project", meta.project)
    check_name("suite", meta.suite)
    if meta.commit is not None:
        check_name("commit", meta.commit)
    for field, limit in RUN_TEXT_LIMITS.items():
        value = getattr(meta, field)
        bounded = clip(value, limit)
        if bounded is not value:
            changes[field] = bounded
    if meta.started_at is not None:
        started = utc_in_range(meta.started_at)
        if started is None:
            raise MetadataError(f"started at {meta.started_at.isoformat()} is not between 1970 and tomorrow")
        changes["started_at"] = started
    if meta.duration_s is not None and seconds_in_range(meta.duration_s) is None:
        changes["duration_s"] = None
    if meta.environment:
        changes["environment"] = bounded_json(meta.environment)
    return replace(meta, **changes) if changes else meta


def bounded_report_meta(meta: ReportMeta) -> ReportMeta:
    """Return a report's own facts within the limits (out-of-range values become unknown)."""
    started = utc_in_range(meta.started_at) if meta.started_at is not None else None
    return replace(
        meta,
        source=clip(meta.source, SOURCE_CHARS),
        started_at=started,
        duration_s=seconds_in_range(meta.duration_s),
        hostname=clip(meta.hostname, HOSTNAME_CHARS),
        random_seed=clip(meta.random_seed, RANDOM_SEED_CHARS),
        properties=bounded_json(meta.properties),
    )


def bounded_json(value, depth: int = 0):
    """Return a small JSON-able value with NUL-free, clipped strings and finite numbers."""
    if isinstance(value, str):
        return clip(value, ENV_VALUE_CHARS)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth > 5:
        return None
    if isinstance(value, dict):
        return {clip(str(k), MARKER_CHARS): bounded_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [bounded_json(v, depth + 1) for v in value]
    return value


def bounded_cases(cases: Iterable[CaseRecord]) -> Iterator[CaseRecord]:
    """Yield ``cases`` within the limits (see ``bounded_batch``), a chunk at a time."""
    cases = iter(cases)
    while chunk := list(islice(cases, _CHUNK)):
        yield from bounded_batch(chunk)[0]


def bounded_batch(batch: list[CaseRecord]) -> tuple[list[CaseRecord], list[tuple]]:
    """Return ``batch`` within the limits, and its columns (one tuple per CaseRecord field).

    The batch is transposed once and every check runs over a whole column in C (``map``, ``max``,
    ``sum``): a clean batch, the usual case, costs well under a microsecond per case and comes back
    as it is; only a batch with a problem is fixed record by record. The store inserts from the
    columns, so the transposition is paid once for both.
    """
    if not batch:
        return batch, []
    columns = list(zip(*batch, strict=True))
    if columns_are_clean(columns, len(batch)):
        return batch, columns
    batch = list(map(bounded_case, batch))
    return batch, list(zip(*batch, strict=True))


def columns_are_clean(columns: list[tuple], n: int) -> bool:
    """Return whether the transposed cases ``columns`` (``n`` rows) are all within the limits."""
    if max(map(len, columns[_NODEID_AT])) * 4 > NODEID_MAX_BYTES:
        return False
    for at, limit in _LIMITED_AT:
        present = list(filter(None, columns[at]))
        if present and max(map(len, present)) > limit:
            return False
    # One join and one search over every text column: far cheaper than a test per string.
    if "\x00" in "".join(filter(None, chain.from_iterable(columns[at] for at in _TEXT_AT))):
        return False
    for fields, high in ((_SECONDS_AT, MAX_DURATION_S), (_EPOCH_AT, None)):
        for at in fields:
            column = columns[at]
            missing = column.count(None)
            if missing == n:
                continue
            present = column if missing == 0 else [v for v in column if v is not None]
            # NaN or infinity makes the sum non-finite; min/max catch the rest.
            if not math.isfinite(sum(present)) or min(present) < 0:
                return False
            if high is not None and max(present) > high:
                return False
            if high is None and epoch_in_range(max(present)) is None:
                return False
    markers = list(filter(None, columns[_MARKERS_AT]))
    return not markers or all(map(_markers_clean, markers))


def _markers_clean(markers: tuple) -> bool:
    return len(markers) <= MAX_MARKERS and all(
        isinstance(m, str) and len(m) <= MARKER_CHARS and "\x00" not in m for m in markers)


def bounded_case(case: CaseRecord) -> CaseRecord:
    """Return one case within the limits (a copy only when something changed)."""
    changes: dict = {}
    nodeid = nodeid_key(case.nodeid)
    if nodeid != case.nodeid:
        changes["nodeid"] = nodeid
    for field, limit in CASE_TEXT_LIMITS.items():
        value = getattr(case, field)
        if value is not None and not isinstance(value, str):
            value = str(value)
        bounded = clip(value, limit)
        if bounded != getattr(case, field):
            changes[field] = bounded
    for field in ("message", "details"):  # their length is the store's (head and tail kept)
        value = getattr(case, field)
        if value is not None and "\x00" in value:
            changes[field] = value.replace("\x00", NUL_MARK)
    for field in ("duration_s", "setup_s", "call_s", "teardown_s"):
        value = getattr(case, field)
        if value is not None and seconds_in_range(value) is None:
            changes[field] = None
    for field in ("start", "stop"):
        value = getattr(case, field)
        if value is not None and epoch_in_range(value) is None:
            changes[field] = None
    if case.markers and not _markers_clean(case.markers):
        changes["markers"] = tuple(dict.fromkeys(
            clip(str(m), MARKER_CHARS) for m in case.markers[:MAX_MARKERS]))
    return case._replace(**changes) if changes else case
