"""--suitehealth-quarantine in real pytest sessions (pytester): run and skip modes, xdist, the
suitehealth report keeping the real failure, a real gunicorn server and its cached fallback."""

from __future__ import annotations

import json
import socket

import pytest
from quarantine_helpers import QUARANTINED, SUITE, quarantine

from ingest.tokens import create_token


def _outcomes(result) -> dict:
    found = result.parseoutcomes()
    return {k: found.get(k, 0) for k in ("passed", "failed", "xfailed", "skipped")}


@pytest.fixture
def list_file(pytester, cli, engine):
    """The suite in a pytester directory and the quarantine list exported by the CLI."""
    pytester.makepyfile(test_suite=SUITE)
    quarantine(engine, "shop", QUARANTINED)
    out = pytester.path / "quarantine.json"
    result = cli("quarantine", "export", "--project", "shop", "--format", "json", "-o", out,
                 "--base-url", "https://health.example.com")
    assert result.exit_code == 0, result.output
    return out


def test_run_mode_turns_quarantined_failures_into_xfail_with_reason_and_link(pytester, list_file):
    result = pytester.runpytest("-p", "no:randomly", "-rx", f"--suitehealth-quarantine={list_file}")
    assert _outcomes(result) == {"passed": 2, "failed": 1, "xfailed": 2, "skipped": 0}
    assert result.ret == 1  # the real bug still fails the build
    result.stdout.fnmatch_lines([
        "suitehealth: 2 tests quarantined (from *quarantine.json); mode run",
        "suitehealth: 2 quarantined tests failed and were reported as xfail: *",
        "XFAIL test_suite.py::test_flaky_network - quarantined by suitehealth: resets under load "
        "<script>x</script> (https://health.example.com/projects/shop/tests?nodeid=test_suite.py%3A%3A"
        "test_flaky_network)",
        "XFAIL test_suite.py::test_param[[]2[]] - quarantined by suitehealth: param 2 races the cache *",
    ])
    without_bug = pytester.runpytest("-p", "no:randomly", "-k", "not real_bug",
                                     f"--suitehealth-quarantine={list_file}")
    assert _outcomes(without_bug) == {"passed": 2, "failed": 0, "xfailed": 2, "skipped": 0}
    assert without_bug.ret == 0  # quarantined failures alone do not fail the session


def test_skip_mode_does_not_run_quarantined_tests(pytester, list_file):
    result = pytester.runpytest("-p", "no:randomly", f"--suitehealth-quarantine={list_file}",
                                "--suitehealth-quarantine-mode=skip", "-rs")
    # test_param covers both of its cases.
    assert _outcomes(result) == {"passed": 1, "failed": 1, "xfailed": 0, "skipped": 3}
    result.stdout.fnmatch_lines([
        "SKIPPED [[]1[]] test_suite.py*: quarantined by suitehealth: resets under load *",
        "SKIPPED [[]2[]] test_suite.py*: quarantined by suitehealth: param 2 races *",
    ])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the backend is not what is tested
def test_under_xdist_every_worker_applies_the_same_list(pytester, list_file):
    result = pytester.runpytest("-p", "xdist", "-n", "2", "-p", "no:randomly",
                                f"--suitehealth-quarantine={list_file}")
    assert _outcomes(result) == {"passed": 2, "failed": 1, "xfailed": 2, "skipped": 0}


def test_the_suitehealth_report_keeps_the_real_failure(pytester, list_file, cli, db_url):
    """The build sees xfail; the history sees the failure, so the policy can judge and release it."""
    result = pytester.runpytest("-p", "no:randomly", "-k", "not real_bug",
                                f"--suitehealth-quarantine={list_file}", "--suitehealth-report=r.jsonl")
    assert result.ret == 0
    reports = [json.loads(line) for line in (pytester.path / "r.jsonl").read_text().splitlines()]
    calls = {r["nodeid"]: r for r in reports if r.get("when") == "call"}
    assert calls["test_suite.py::test_flaky_network"]["outcome"] == "failed"
    assert "wasxfail" not in calls["test_suite.py::test_flaky_network"]
    assert calls["test_suite.py::test_param[2]"]["outcome"] == "failed"
    stored = cli("ingest", pytester.path / "r.jsonl", "--project", "shop", "--suite", "unit", "--json")
    summary = json.loads(stored.output)
    assert (summary["passed"], summary["failed"], summary["xfailed"]) == (2, 2, 0)


def test_a_file_that_is_not_a_list_is_a_usage_error(pytester):
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "other.json").write_text('{"runs": []}')
    result = pytester.runpytest(f"--suitehealth-quarantine={pytester.path / 'other.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--suitehealth-quarantine: *other.json: not a suitehealth quarantine*"])


@pytest.mark.server
def test_server_list_then_cached_list_when_the_server_is_gone(pytester, engine, db_url, server_factory,
                                                              tmp_path, monkeypatch):
    pytester.makepyfile(test_suite=SUITE)
    quarantine(engine, "shop", QUARANTINED)
    token = create_token(engine, "shop")[1]
    monkeypatch.setenv("SUITEHEALTH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SUITEHEALTH_TOKEN", token)
    server = server_factory(db_url)
    args = ("-p", "no:randomly", "-k", "not real_bug", f"--suitehealth-quarantine={server.url}",
            "--suitehealth-project=shop")
    live = pytester.runpytest(*args)
    assert _outcomes(live) == {"passed": 2, "failed": 0, "xfailed": 2, "skipped": 0}
    assert live.ret == 0
    live.stdout.fnmatch_lines([f"suitehealth: 2 tests quarantined (from 127.0.0.1:{server.port}); mode run"])

    server.stop()
    offline = pytester.runpytest(*args)
    assert _outcomes(offline) == {"passed": 2, "failed": 0, "xfailed": 2, "skipped": 0}
    assert offline.ret == 0
    notes = [line for line in offline.stdout.lines if line.startswith("suitehealth: quarantine server")]
    assert len(notes) == 1, offline.stdout.str()
    assert "unreachable" in notes[0] and "using the cached list of" in notes[0] and "2 tests" in notes[0]


@pytest.mark.server
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_server_refuses_a_wrong_token_and_the_session_still_runs(pytester, engine, db_url, server_factory,
                                                                  tmp_path, monkeypatch):
    pytester.makepyfile(test_suite=SUITE)
    quarantine(engine, "shop", QUARANTINED)
    monkeypatch.setenv("SUITEHEALTH_CACHE_DIR", str(tmp_path / "empty-cache"))
    server = server_factory(db_url)
    result = pytester.runpytest("-p", "no:randomly", f"--suitehealth-quarantine={server.url}",
                                "--suitehealth-project=shop", "--suitehealth-token=sh_not_a_token")
    # Nothing quarantined (no cache yet): the flaky failures count, and the line says why.
    assert _outcomes(result) == {"passed": 2, "failed": 3, "xfailed": 0, "skipped": 0}
    result.stdout.fnmatch_lines(["suitehealth: quarantine server unreachable (HTTP 401) and no cached list: "
                                 "no test is quarantined; mode run"])


def test_unreachable_server_without_cache_quarantines_nothing(pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_suite=SUITE)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("SUITEHEALTH_CACHE_DIR", str(tmp_path / "cache"))
    result = pytester.runpytest("-p", "no:randomly", f"--suitehealth-quarantine=http://127.0.0.1:{closed}",
                                "--suitehealth-project=shop")
    assert _outcomes(result)["failed"] == 3
    result.stdout.fnmatch_lines(["suitehealth: quarantine server unreachable (*) and no cached list*"])
