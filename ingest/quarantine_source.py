"""Where the pytest plugin gets the quarantine list: a file, or the server with a cached fallback.

Standard library only (it runs inside every CI job). A server that cannot be reached, times out,
answers an error or sends something that is not a quarantine list never breaks the build: the
last list fetched from that server is used instead, and the one-line note says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from ingest.quarantine_list import ListedTest, QuarantineListError, parse_document

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LoadedList:
    """The quarantined tests in force for this session and the one line that says where they came from."""

    tests: tuple[ListedTest, ...]
    note: str
    # "file", "server", "cache" (server failed, cached list used) or "none" (failed, nothing cached).
    origin: str


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def export_url(source: str, project: str | None) -> str:
    """Return the export endpoint: ``source`` itself if it is one, else the server's for ``project``."""
    if "/api/v1/projects/" in urlsplit(source).path:
        return source
    if not project:
        raise QuarantineListError("a server URL needs the project: --suitehealth-project or "
                                  "SUITEHEALTH_PROJECT (or the whole URL, "
                                  "/api/v1/projects/<p>/quarantine/export)")
    return f"{source.rstrip('/')}/api/v1/projects/{quote(project, safe='')}/quarantine/export"


def cache_dir() -> Path:
    """Return $SUITEHEALTH_CACHE_DIR, else $XDG_CACHE_HOME/suitehealth, else ~/.cache/suitehealth."""
    if os.environ.get("SUITEHEALTH_CACHE_DIR"):
        return Path(os.environ["SUITEHEALTH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "suitehealth"


def cache_path(url: str, folder: Path | None = None) -> Path:
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]
    return (folder or cache_dir()) / f"quarantine-{digest}.json"


def load_file(path: str) -> LoadedList:
    """Read a list written by ``suitehealth quarantine export --format json``."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise QuarantineListError(f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise QuarantineListError(f"{path}: not JSON ({exc})") from exc
    try:
        _, tests = parse_document(data)
    except QuarantineListError as exc:
        raise QuarantineListError(f"{path}: {exc}") from exc
    return LoadedList(tuple(tests), f"suitehealth: {_count(tests)} quarantined (from {path})", "file")


def load_server(url: str, token: str | None, *, folder: Path | None = None,
                timeout_s: float = TIMEOUT_S) -> LoadedList:
    """Fetch the list from the server's export endpoint ``url``; fall back to the cached copy."""
    cached = cache_path(url, folder)
    try:
        data = _fetch(url, token, timeout_s)
        _, tests = parse_document(data)
    except (QuarantineListError, OSError, ValueError) as exc:
        return _from_cache(cached, _reason(exc))
    _write_cache(cached, data)
    host = urlsplit(url).netloc
    return LoadedList(tuple(tests), f"suitehealth: {_count(tests)} quarantined (from {host})", "server")


def _fetch(url: str, token: str | None, timeout_s: float) -> dict:
    headers = {"Accept": "application/json", "User-Agent": "suitehealth-pytest/1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=b"", headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout_s) as resp:
        return json.loads(resp.read(10 << 20))


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _from_cache(path: Path, reason: str) -> LoadedList:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        _, tests = parse_document(data)
    except (OSError, ValueError):
        return LoadedList((), f"suitehealth: quarantine server unreachable ({reason}) and no cached list: "
                              "no test is quarantined", "none")
    when = data.get("generated_at") or "an earlier run"
    note = (f"suitehealth: quarantine server unreachable ({reason}); using the cached list of {when}: "
            f"{_count(tests)} quarantined")
    return LoadedList(tuple(tests), note, "cache")


def _write_cache(path: Path, data: dict) -> None:
    """Write atomically: parallel CI jobs on one runner may share the cache folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".quarantine-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the list still works for this session, just not cached


def _count(tests) -> str:
    n = len(tests)
    return f"{n} test{'s' if n != 1 else ''}"
