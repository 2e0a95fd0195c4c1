"""CI feedback in the job: the upload gate (--fail-on), the Markdown job summary from upload and
from the pytest plugin, against a real gunicorn server; and `suitehealth flaky` / `suspects`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from history_helpers import store_run
from quarantine_helpers import SUITE, quarantine
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.updates import refresh_project
from ingest.models import Project
from ingest.tokens import create_token

FLAKY = "test_suite.py::test_flaky_network"
BUG = "test_suite.py::test_real_bug"
OTHERS = ("test_suite.py::test_stable", "test_suite.py::test_param[1]", "test_suite.py::test_param[2]")


def _history(engine) -> int:
    """Twelve runs where the network test flakes and everything else passes; return the project id."""
    for i in range(12):
        outcomes = {FLAKY: "failed" if i % 3 == 1 else "passed", BUG: "passed",
                    **dict.fromkeys(OTHERS, "passed")}
        store_run(engine, "shop", "unit", outcomes, i, duration_s=400.0)
    with Session(engine) as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "shop"))
    refresh_project(engine, project_id)
    quarantine(engine, "shop", {"test_suite.py::test_param": "param 2 races the cache"})
    return project_id


def _report(pytester, name: str, *args) -> str:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("-p", "no:randomly", f"--suitehealth-report={name}", *args)
    return str(pytester.path / name)


def _upload(server, token, report, *args, env=None):
    from dashboard.cli import main

    return CliRunner().invoke(main, ["upload", "--server", server.url, "--token", token, "--project", "shop",
                                     "--suite", "unit", "--retries", "0", *args, report],
                              env=env or {}, catch_exceptions=False)


@pytest.mark.server
def test_upload_gate_fails_only_on_new_failures_and_writes_the_step_summary(
        pytester, engine, db_url, server_factory, tmp_path):
    _history(engine)
    token = create_token(engine, "shop")[1]
    server = server_factory(db_url)
    summary = tmp_path / "summary.md"
    report = _report(pytester, "all.jsonl")
    gated = _upload(server, token, report, "--fail-on", "new-failure",
                    env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert gated.exit_code == 1
    assert f"failing the job (--fail-on): 1 new failure: {BUG}" in gated.output
    text = summary.read_text()
    headings = ("#### New failures", "#### Known flaky", "#### Quarantined")
    new, known, quarantined = (text.index(h) for h in headings)
    assert text.index(f"`{BUG}`") > new and known < text.index(f"`{FLAKY}`") < quarantined
    assert text.index("`test_suite.py::test_param[2]`") > quarantined
    assert "Suite time: " in text and "s of a 300 s budget" in text
    # Without the real bug only known flaky and quarantined tests fail: the gate passes.
    clean = _report(pytester, "known.jsonl", "-k", "not real_bug")
    passed = _upload(server, token, clean, "--fail-on", "new-failure", "--fail-on", "new-flaky", "--summary")
    assert passed.exit_code == 0, passed.output
    assert "**3 failed**" not in passed.output and "1 known flaky, 1 quarantined" in passed.output


@pytest.mark.server
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_failure_of_a_test_that_passed_on_the_same_commit_is_new_flaky(pytester, engine, db_url,
                                                                         server_factory):
    _history(engine)  # run 11 is commit c00011, where the real bug passed
    token = create_token(engine, "shop")[1]
    server = server_factory(db_url)
    report = _report(pytester, "flip.jsonl")
    same_commit = ("--commit", "c00011", "--no-summary")
    as_failure = _upload(server, token, report, *same_commit, "--fail-on", "new-failure")
    assert as_failure.exit_code == 0, as_failure.output  # not a new failure: a flake of a passing commit
    as_flaky = _upload(server, token, report, *same_commit, "--fail-on", "new-flaky")
    assert as_flaky.exit_code == 1 and f"1 newly flaky test: {BUG}" in as_flaky.output


@pytest.mark.server
def test_plugin_uploads_and_writes_the_servers_verdicts_to_the_step_summary(
        pytester, engine, db_url, server_factory, tmp_path, monkeypatch):
    _history(engine)
    token = create_token(engine, "shop")[1]
    server = server_factory(db_url)
    summary = tmp_path / "summary.md"
    for name, value in {"SUITEHEALTH_URL": server.url, "SUITEHEALTH_TOKEN": token,
                        "SUITEHEALTH_PROJECT": "shop", "SUITEHEALTH_SUITE": "unit",
                        "GITHUB_STEP_SUMMARY": str(summary)}.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:randomly", "--suitehealth-upload")
    result.stdout.fnmatch_lines([f"suitehealth: job summary written to {summary}"])
    text = summary.read_text()
    assert "### suitehealth: shop / unit ([run " in text
    assert "1 new, 1 known flaky, 1 quarantined" in text


def test_plugin_summary_without_a_server_splits_quarantined_failures(pytester, tmp_path, monkeypatch, cli,
                                                                      engine):
    pytester.makepyfile(test_suite=SUITE)
    quarantine(engine, "shop", {FLAKY: "resets"})
    listed = tmp_path / "q.json"
    cli("quarantine", "export", "--project", "shop", "--format", "json", "-o", listed)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = pytester.runpytest("-p", "no:randomly", f"--suitehealth-quarantine={listed}",
                                "--suitehealth-summary")
    out = result.stdout.str()
    assert "**2 failed**, 1 quarantined failures reported as xfail, of 5 tests." in out
    assert f"| `{FLAKY}` | quarantined by suitehealth: resets" in out
    assert "| `test_suite.py::test_real_bug` | `assert 1 == 2`" in out


def test_flaky_command_in_three_formats(cli, engine):
    _history(engine)
    table = cli("flaky", "--project", "shop")
    assert table.exit_code == 0
    (line,) = [row for row in table.output.splitlines() if FLAKY in row]
    assert line.split()[1:4] == ["12", "4", "new"]
    data = json.loads(cli("flaky", "--project", "shop", "--format", "json").output)
    (row,) = data["flaky"]
    assert (row["nodeid"], row["runs"], row["flakes"], row["quarantined"]) == (FLAKY, 12, 4, False)
    md = cli("flaky", "--project", "shop", "--format", "md").output
    assert f"| `{FLAKY}` | unit | new | " in md
    assert cli("flaky", "--project", "nope").exit_code == 1


def test_suspects_command_quotes_its_reproduce_commands(cli, engine):
    """A polluter whose name holds shell syntax stays one quoted argument."""
    victim, polluter = "tests/test_b.py::test_reads", "tests/test_a.py::test_writes[$(touch x)]"
    import random

    rng = random.Random(7)
    others = [f"tests/test_c.py::test_{i}" for i in range(6)]
    for i in range(40):
        order = [victim, polluter, *others]
        rng.shuffle(order)
        before = order.index(polluter) < order.index(victim)
        outcomes = {n: ("failed" if n == victim and before else "passed") for n in order}
        store_run(engine, "shop", "unit", outcomes, i)
    data = json.loads(cli("suspects", "--project", "shop", "--format", "json").output)
    found = [s for s in data["suspects"] if s["victim"] == victim]
    assert found and found[0]["causes"][0] == polluter
    quoted = "'tests/test_a.py::test_writes[$(touch x)]'"
    assert found[0]["commands"] == [f"pytest -p no:randomly {quoted} {victim}"]
    md = cli("suspects", "--project", "shop", "--format", "md").output
    assert f"`{victim}` fails after `{polluter}`" in md


def test_ingest_gate_and_summary_on_the_local_database(pytester, cli, engine, tmp_path):
    """`ingest --fail-on` gives the same verdicts without a server."""
    _history(engine)
    report = _report(pytester, "all.jsonl")
    summary = tmp_path / "summary.md"
    gated = cli("ingest", report, "--project", "shop", "--suite", "unit", "--fail-on", "new-failure",
                env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert gated.exit_code == 1 and f"1 new failure: {BUG}" in gated.output
    assert "1 new, 1 known flaky, 1 quarantined" in summary.read_text()
    clean = _report(pytester, "known.jsonl", "-k", "not real_bug")
    passed = cli("ingest", clean, "--project", "shop", "--suite", "unit", "--fail-on", "new-failure",
                 "--fail-on", "new-flaky")
    assert passed.exit_code == 0, passed.output
