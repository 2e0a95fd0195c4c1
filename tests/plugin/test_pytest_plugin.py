"""The suitehealth pytest plugin, driven by pytester on a small suite under xdist and reruns."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from dashboard import create_app
from ingest import models  # models.Test: a "Test*" name imported here would be collected
from ingest.db import make_engine
from ingest.models import Result, Run
from ingest.tokens import create_token

SUITE = """
import os
import pytest

@pytest.fixture
def db():
    yield {"rows": 1}

@pytest.mark.integration
def test_orders_are_stored(db):
    assert db["rows"] == 1

@pytest.mark.e2e
def test_checkout_page(tmp_path):
    assert tmp_path.exists()

def test_flaky_once():
    marker = os.path.join(os.path.dirname(__file__), "flaky-ran-once")
    if not os.path.exists(marker):
        open(marker, "w").close()
        assert False, "first attempt fails"

@pytest.mark.parametrize("n", range(6))
def test_unit_math(n):
    assert n * 0 == 0
"""
SEED = "1234"


def _assert_outcomes(result, **expected) -> None:
    outcomes = result.parseoutcomes()
    assert {k: outcomes.get(k, 0) for k in ("passed", "failed", "rerun")} == {
        "passed": 0, "failed": 0, "rerun": 0, **expected}, result.stdout.str()


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module", autouse=True)
def _import_everything_first(tmp_path_factory):
    """Import the app and CLI before any pytester snapshot of sys.modules.

    pytester drops the modules first imported during a test when it ends, and numpy (under the
    dashboard) cannot be imported twice in one process.
    """
    import dashboard.cli  # noqa: F401

    create_app({"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('preload') / 'x.db'}"})


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_shop=SUITE)
    return pytester


def _run_xdist(pytester, *args):
    return pytester.runpytest("-p", "xdist", "-n", "2", "--reruns", "2", "-p", "randomly",
                              f"--randomly-seed={SEED}", "-p", "no:cacheprovider", *args)


@pytest.mark.postgres
def test_xdist_report_keeps_workers_phases_markers_fixtures_seed_and_reruns_through_ingest(suite, sqlite_url,
                                                                                          pg_url):
    result = _run_xdist(suite, "--suitehealth-report=report.jsonl")
    _assert_outcomes(result, passed=9, rerun=1)
    lines = _lines(suite.path / "report.jsonl")
    assert lines[0]["$report_type"] == "SessionStart"
    assert lines[0]["suitehealth"]["random_seed"] == SEED
    assert lines[-1] == {**lines[-1], "$report_type": "SessionFinish", "exitstatus": 0}
    reports = [line for line in lines if line["$report_type"] == "TestReport"]
    assert {r["worker_id"] for r in reports} == {"gw0", "gw1"}
    phases = Counter((r["nodeid"], r["when"]) for r in reports)
    assert phases[("test_shop.py::test_orders_are_stored", "setup")] == 1
    assert phases[("test_shop.py::test_orders_are_stored", "call")] == 1
    assert phases[("test_shop.py::test_orders_are_stored", "teardown")] == 1
    for r in reports:
        assert r["start"] <= r["stop"] and r["duration"] >= 0 and isinstance(r["item_index"], int)
    stored = next(r for r in reports if r["nodeid"].endswith("test_orders_are_stored"))
    assert stored["suitehealth"] == {"markers": ["integration"], "fixtures": ["db"]}
    page = next(r for r in reports if r["nodeid"].endswith("test_checkout_page"))
    assert page["suitehealth"]["markers"] == ["e2e"] and "tmp_path" in page["suitehealth"]["fixtures"]
    flaky_calls = [r["outcome"] for r in reports
                   if r["nodeid"].endswith("test_flaky_once") and r["when"] == "call"]
    assert flaky_calls == ["rerun", "passed"]
    # Round trip: the ingest engineer's reportlog reader keeps all of it, on both backends.
    for url in (sqlite_url, pg_url):
        _assert_ingests_intact(suite.path / "report.jsonl", url)


def _assert_ingests_intact(report, url: str) -> None:
    from click.testing import CliRunner

    from dashboard.cli import main

    ingested = CliRunner().invoke(main, ["--db", url, "ingest", str(report), "--project", "shop",
                                         "--suite", "unit", "--json"], catch_exceptions=False)
    assert ingested.exit_code == 0, ingested.output
    summary = json.loads(ingested.output)
    assert (summary["tests"], summary["passed"], summary["reruns"]) == (9, 9, 1)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            run = session.scalars(select(Run)).one()
            assert run.random_seed == SEED and run.workers == 2
            rows = session.execute(
                select(models.Test.nodeid, models.Test.markers, Result)
                .join(Result, Result.test_id == models.Test.id).order_by(Result.order_index)).all()
    finally:
        engine.dispose()
    finals = {nodeid: (markers, result) for nodeid, markers, result in rows if result.final}
    for nodeid, (_, result) in finals.items():
        assert result.worker_id in ("gw0", "gw1"), nodeid
        assert result.start_ts is not None and result.stop_ts >= result.start_ts, nodeid
        assert None not in (result.setup_s, result.call_s, result.teardown_s), nodeid
    markers, _ = finals["test_shop.py::test_orders_are_stored"]
    assert "integration" in markers and "fixture:db" in markers
    flaky = [r for nodeid, _, r in rows if nodeid.endswith("test_flaky_once")]
    assert [(r.attempt, r.final) for r in flaky] == [(1, False), (2, True)]


def test_plugin_is_inactive_without_its_options(suite):
    result = suite.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    _assert_outcomes(result, passed=8, failed=1)
    assert "suitehealth:" not in result.stdout.str()
    assert not list(suite.path.glob("*.jsonl"))


@pytest.fixture
def live_server(engine):
    """The dashboard app on a real loopback socket (werkzeug, threaded) on the test database."""
    app = create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_upload_at_session_end_stores_the_run_even_when_tests_fail(suite, engine, live_server, monkeypatch):
    token = create_token(engine, "shop")[1]
    monkeypatch.setenv("SUITEHEALTH_URL", live_server)
    monkeypatch.setenv("SUITEHEALTH_TOKEN", token)
    monkeypatch.setenv("SUITEHEALTH_PROJECT", "shop")
    result = suite.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "--suitehealth-upload",
                             "--suitehealth-suite", "unit")
    _assert_outcomes(result, passed=8, failed=1)
    assert result.ret == 1  # the failing test still fails the session
    result.stdout.fnmatch_lines([f"suitehealth: uploaded as run * {live_server}/projects/shop/runs/*"])
    with Session(engine) as session:
        run = session.scalars(select(Run)).one()
        assert (run.tests, run.failed, run.suite.name) == (9, 1, "unit")


def test_server_down_warns_and_never_fails_the_session(suite, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("SUITEHEALTH_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("SUITEHEALTH_TOKEN", "sh_whatever")
    monkeypatch.setenv("SUITEHEALTH_PROJECT", "shop")
    monkeypatch.setenv("SUITEHEALTH_UPLOAD_RETRIES", "0")
    result = suite.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "--reruns", "1",
                             "--suitehealth-upload")
    _assert_outcomes(result, passed=9, rerun=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["suitehealth: NOT uploaded (cannot reach*); report kept at *.jsonl"])


def test_upload_without_url_or_token_warns(suite, monkeypatch):
    for name in ("SUITEHEALTH_URL", "SUITEHEALTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = suite.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "--suitehealth-upload")
    assert result.ret == 1  # only the failing test decides
    result.stdout.fnmatch_lines(["suitehealth: NOT uploaded: set SUITEHEALTH_URL*"])
