"""`suitehealth confirm` in a project whose pytest addopts use suitehealth's own options, and its cascade
and concurrent suspects.

The checkout (written to a temporary directory) passes ``--suitehealth-report``, ``--suitehealth-upload``
to a local HTTP server, a quarantine list holding the victim, and ``--suitehealth-summary`` in its
``pytest.ini``. pytest refuses those options when the plugin is switched off, and with the plugin on
they would write a report into the checkout, upload the confirm run, or turn the victim's failure
into an xfail. Every run is a real pytest subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from planted_project import QUIET, UNNEEDED, plugins_off

from dashboard.cli_confirm import _summary
from dashboard.confirm import PYTEST_FLAGS, Runner, Target, confirm_target

POLLUTER = "tests/test_flags.py::test_sets_debug_flag"
VICTIM = "tests/test_render.py::test_render_without_debug"
CRASH = "tests/test_crash.py::test_crashes_with_debug_on"
FILLER = "tests/test_filler.py::test_0"


class _Catcher(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def upload_server():
    _Catcher.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Catcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Catcher.hits
    finally:
        server.shutdown()
        server.server_close()


def _checkout(root: Path, url: str) -> Path:
    listed = {"nodeid": VICTIM, "reason": "flaky", "added_by": "ci", "added_at": "2026-12-01"}
    quarantine = {"format": "suitehealth-quarantine", "version": 1, "project": "planted", "tests": [listed]}
    files = {
        "pytest.ini": ("[pytest]\naddopts = --suitehealth-report=suitehealth-report.jsonl "
                       f"--suitehealth-upload --suitehealth-url={url} --suitehealth-project=planted "
                       "--suitehealth-quarantine=quarantine.json --suitehealth-summary\n"),
        "quarantine.json": json.dumps(quarantine),
        "conftest.py": "",
        "app/__init__.py": "",
        "app/state.py": "DEBUG = False\n",
        "tests/__init__.py": "",
        "tests/test_flags.py": (
            "from app import state\n\n\ndef test_sets_debug_flag():\n    state.DEBUG = True\n"),
        "tests/test_render.py": (
            "from app import state\n\n\ndef test_render_without_debug():\n    assert not state.DEBUG\n"),
        "tests/test_crash.py": (
            "from app import state\n\n\ndef test_crashes_with_debug_on():\n    state.DEBUG = True\n"
            "    raise RuntimeError('half way through')\n"),
        "tests/test_filler.py": "def test_0():\n    pass\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            out[str(path.relative_to(root))] = digest
    return out


def test_addopts_with_suitehealth_options_still_confirm_and_nothing_is_reported_uploaded_or_quarantined(
        tmp_path, upload_server, monkeypatch):
    url, hits = upload_server
    root = _checkout(tmp_path, url)
    # What a CI job's environment would add: a token and a job summary file.
    monkeypatch.setenv("SUITEHEALTH_TOKEN", "secret")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path.parent / f"{tmp_path.name}-summary.md"))
    assert "no:suitehealth" not in PYTEST_FLAGS
    before = _snapshot(root)
    run = Runner(root, timeout=120, extra_args=QUIET)
    proven = confirm_target(Target(VICTIM, "polluter", [FILLER, POLLUTER]), run)
    assert proven.verdict == "proven", proven.detail
    assert proven.culprits == [POLLUTER]
    assert run.problem is None
    wrong = confirm_target(Target(VICTIM, "polluter", [FILLER]), run)
    assert wrong.verdict == "not-reproduced"
    assert _snapshot(root) == before  # no suitehealth-report.jsonl, no cache, no bytecode
    assert hits == []  # nothing uploaded, no quarantine list fetched
    assert not Path(os.environ["GITHUB_STEP_SUMMARY"]).exists()


def test_a_pytest_that_cannot_start_is_reported_with_its_reason(tmp_path, upload_server):
    url, _ = upload_server
    root = _checkout(tmp_path, url)
    (root / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option-anywhere\n")
    run = Runner(root, timeout=120, extra_args=QUIET)
    outcome = confirm_target(Target(VICTIM, "polluter", [POLLUTER]), run)
    assert outcome.verdict == "skipped" and outcome.runs == 1
    assert outcome.detail.startswith("pytest exited with 4") and "--no-such-option-anywhere" in outcome.detail


def test_a_cascade_is_re_run_like_a_polluter_and_a_concurrent_one_without_xdist_is_skipped_saying_why(
        tmp_path, upload_server, capsys):
    url, _ = upload_server
    root = _checkout(tmp_path, url)
    run = Runner(root, timeout=120, extra_args=QUIET)
    cascade = confirm_target(Target(VICTIM, "cascade", [FILLER, CRASH]), run)
    assert cascade.verdict == "proven" and cascade.culprits == [CRASH]
    assert "it failed before the victim" in cascade.detail
    # The victim fails after a polluter that passed: proven, and the detail says it is no cascade.
    leaks_anyway = confirm_target(Target(VICTIM, "cascade", [POLLUTER]), run)
    assert leaks_anyway.verdict == "proven" and "whatever its outcome" in leaks_anyway.detail
    clash = confirm_target(Target(VICTIM, "concurrent", [POLLUTER]), run)  # QUIET has -p no:xdist
    assert clash.verdict == "skipped" and "unrecognized arguments: -n" in clash.detail
    _summary([(o.target, o, o.verdict) for o in (cascade, leaks_anyway, clash)])
    out = capsys.readouterr().out
    assert "2 proven, 0 not reproduced, 1 skipped." in out
    assert "Skipped: 1 concurrent. The detail column says why each was skipped (concurrent suspects need " \
           "pytest-xdist" in out


# A clash that shows whenever the two tests overlap in time, not only when their binds happen to
# meet: the client checks the port for 4 s, the server holds it for 8 s (retrying its own bind in
# case the client's check held it at that instant). Alone, or next to test_quick, nothing clashes.
PORT_TESTS = """import socket
import time


def _bind(port):
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_server_holds_the_port():
    for _ in range(100):
        try:
            sock = _bind(PORT)
            break
        except OSError:
            time.sleep(0.02)
    time.sleep(8)
    sock.close()


def test_client_needs_the_port():
    for _ in range(40):
        _bind(PORT).close()
        time.sleep(0.1)


def test_quick():
    pass
"""


def test_a_concurrent_clash_is_proven_on_two_xdist_workers_and_a_wrong_one_is_not_reproduced(tmp_path):
    import socket

    with socket.socket() as probe:  # a port free right now; the tests bind it themselves
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "tests").mkdir()
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_port.py").write_text(PORT_TESTS.replace("PORT)", f"{port})"))
    server, client, quick = (f"tests/test_port.py::{n}" for n in
                             ("test_server_holds_the_port", "test_client_needs_the_port", "test_quick"))
    before = _snapshot(tmp_path)
    with_xdist = plugins_off(*(name for name in UNNEEDED if name != "xdist"))
    run = Runner(tmp_path, timeout=120, extra_args=with_xdist)
    assert "-n" in run.argv([client], workers=2)
    clash = confirm_target(Target(client, "concurrent", [quick, server]), run)
    assert clash.verdict == "proven" and clash.culprits == [server], clash.detail
    assert "on another worker" in clash.detail
    wrong = confirm_target(Target(client, "concurrent", [quick]), run)
    assert wrong.verdict == "not-reproduced" and "weak evidence" in wrong.detail
    assert _snapshot(tmp_path) == before
