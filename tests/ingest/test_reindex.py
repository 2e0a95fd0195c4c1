"""``suitehealth reindex`` gives runs stored under the old identity rule (classname+name, every
repeat a rerun) today's identities, and keeps every stored result.

The old rule is rebuilt here from the parsed records themselves — ``plain_nodeid(classname, name)``
for every non-pytest testcase, as ingest/formats/junit.py did before the identity rules — so the
"old" database is exactly what an earlier suitehealth stored.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from ingest_helpers import CORPUS, parse_file
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.formats.junit import plain_nodeid
from ingest.models import Result, Run, Test
from ingest.records import ParsedReport, ReportMeta, RunMeta
from ingest.reindex import reindex
from ingest.sources import ReportSource
from ingest.store import combined_hash, store_reports

PLAYWRIGHT = CORPUS / "playwright/report.xml"
BROWSERS = ("chromium", "firefox", "webkit")


def store_the_old_way(engine, *paths, project="old") -> int:
    """Store ``paths`` as one run the way suitehealth did before the identity rules; return the run id."""
    reports = []
    for path in paths:
        cases, meta = parse_file(path)
        legacy = [
            c if ".py" in c.nodeid else c._replace(nodeid=plain_nodeid(c.classname, c.name)) for c in cases
        ]
        # Then a report named only its first hostname.
        reports.append(
            ParsedReport(ReportMeta(format="junit", source=str(path), hostname=meta.hostname), iter(legacy))
        )
    hashed = combined_hash([ReportSource.from_path(p) for p in paths])
    return store_reports(engine, RunMeta(project=project, suite="e2e"), reports, content_hash=hashed).run_id


def kept_results(engine, run_id) -> Counter:
    """Every stored fact of a run's results except which test they belong to."""
    with Session(engine) as session:
        rows = session.execute(
            select(Result.outcome, Result.duration_s, Result.message, Result.order_index).where(
                Result.run_id == run_id
            )
        ).all()
    return Counter(map(tuple, rows))


def run_totals(engine, run_id) -> dict:
    with Session(engine) as session:
        run = session.get(Run, run_id)
        return {
            "tests": run.tests,
            "passed": run.passed,
            "failed": run.failed,
            "skipped": run.skipped,
            "reruns": run.reruns,
            "rerun_passed": run.rerun_passed,
            "hosts": run.environment.get("hostnames"),
            "warnings": run.warnings or [],
        }


def nodeids(engine, run_id) -> list[str]:
    with Session(engine) as session:
        return sorted(
            session.scalars(
                select(Test.nodeid)
                .join(Result, Result.test_id == Test.id)
                .where(Result.run_id == run_id, Result.final)
            )
        )


def test_the_old_rule_really_collapsed_playwright_browsers_into_reruns(engine):
    run_id = store_the_old_way(engine, PLAYWRIGHT)
    old = run_totals(engine, run_id)
    assert (old["tests"], old["reruns"], old["hosts"]) == (31, 62, ["chromium"])
    assert old["rerun_passed"] > 0  # "passed only on a rerun": the false flakiness of issue 10


def test_reindex_from_the_report_gives_the_exact_identities_and_keeps_every_result(engine):
    run_id = store_the_old_way(engine, PLAYWRIGHT)
    before = kept_results(engine, run_id)
    result = reindex(engine, project="old", reports=[ReportSource.from_path(PLAYWRIGHT)])
    assert (result.runs_from_reports, result.runs_from_stored_results, result.results_rewritten) == (1, 0, 93)
    assert kept_results(engine, run_id) == before
    after = run_totals(engine, run_id)
    assert (after["tests"], after["reruns"], after["rerun_passed"], after["hosts"]) == (
        93,
        0,
        0,
        list(BROWSERS),
    )
    ids = nodeids(engine, run_id)
    assert [i for i in ids if "should allow me to add todo items" in i] == [
        f"tests/demo-todo-app.spec.ts::New Todo › should allow me to add todo items[{b}]" for b in BROWSERS
    ]
    with Session(engine) as session:  # the 31 collapsed identities had no results left and are gone
        assert session.scalar(select(func.count()).select_from(Test)) == 93
    assert result.tests_created == 93 and result.tests_deleted == 31


def test_reindex_without_the_report_splits_the_collapsed_testcases_and_says_so(engine):
    run_id = store_the_old_way(engine, PLAYWRIGHT)
    before = kept_results(engine, run_id)
    result = reindex(engine, project="old")
    assert (result.runs_from_reports, result.runs_from_stored_results) == (0, 1)
    assert kept_results(engine, run_id) == before
    after = run_totals(engine, run_id)
    assert (after["tests"], after["reruns"], after["rerun_passed"]) == (93, 0, 0)
    assert (
        "reindexed from the stored results" in after["warnings"][0]
        and "62 testcase(s)" in after["warnings"][0]
    )
    first = "tests/demo-todo-app.spec.ts::New Todo › should allow me to add todo items"
    assert [i for i in nodeids(engine, run_id) if i.startswith(first)] == [first, first + "#2", first + "#3"]


@pytest.mark.parametrize(
    "name",
    [
        "maven-surefire/surefire3-FlakyTest-mixed.xml",  # flakyFailure/rerunFailure inside a testcase
        "maven-surefire/TEST-io.olamy.FlakyTest.xml",
        "pytest-live/pytest-xunit2-setup-teardown-errors-reruns.xml",  # pytest-rerunfailures
    ],
)
def test_real_reruns_stay_reruns(engine, name):
    run_id = store_the_old_way(engine, CORPUS / name)
    before, ids = run_totals(engine, run_id), nodeids(engine, run_id)
    assert before["reruns"] > 0
    result = reindex(engine, project="old")
    assert result.runs_changed == 0
    assert (run_totals(engine, run_id), nodeids(engine, run_id)) == (before, ids)


def test_reindex_twice_changes_nothing_the_second_time_and_dry_run_changes_nothing(engine):
    playwright = store_the_old_way(engine, PLAYWRIGHT)
    mocha = store_the_old_way(engine, CORPUS / "mocha-junit-reporter/02-example.xml")
    dry = reindex(engine, dry_run=True)
    assert dry.runs_changed == 2
    assert run_totals(engine, playwright)["tests"] == 31 and run_totals(engine, mocha)["tests"] == 29
    reindex(engine)
    assert run_totals(engine, playwright)["tests"] == 93 and run_totals(engine, mocha)["tests"] == 30
    again = reindex(engine)
    assert again.runs_changed == 0 and again.runs_checked == 2


def test_the_cli_reindexes_one_project_and_names_reports_it_could_not_match(cli, engine, tmp_path):
    run_id = store_the_old_way(engine, PLAYWRIGHT, project="shop")
    store_the_old_way(engine, CORPUS / "mocha-junit-reporter/02-example.xml", project="other")
    stranger = tmp_path / "not-stored.xml"
    stranger.write_text('<testsuite name="x"><testcase classname="a" name="b"/></testsuite>')
    result = cli("reindex", "--project", "shop", PLAYWRIGHT, stranger)
    assert result.exit_code == 0, result.output
    assert (
        "Checked 1 runs; rewrote 1 (1 from their reports, 0 from stored results): 93 results kept"
        in result.stdout
    )
    assert "the next `suitehealth worker` pass recomputes them" in result.stdout
    assert f"{stranger}: no stored run has this content" in result.stderr
    assert run_totals(engine, run_id)["tests"] == 93
    listing = json.loads(cli("runs", "--project", "other", "--json").stdout)
    assert listing["runs"][0]["tests"] == 29  # the other project was left alone


def test_a_run_stored_from_several_files_is_reindexed_when_all_of_them_are_given(engine):
    mocha = CORPUS / "mocha-junit-reporter/02-example.xml"
    run_id = store_the_old_way(engine, PLAYWRIGHT, mocha)
    before = kept_results(engine, run_id)
    assert run_totals(engine, run_id)["tests"] == 31 + 29
    alone = reindex(engine, reports=[ReportSource.from_path(PLAYWRIGHT)])  # one file: not this run
    assert alone.runs_changed == 0 and alone.unmatched_reports == [str(PLAYWRIGHT)]
    both = reindex(engine, reports=[ReportSource.from_path(PLAYWRIGHT), ReportSource.from_path(mocha)])
    assert (both.runs_from_reports, both.unmatched_reports) == (1, [])
    assert kept_results(engine, run_id) == before
    after = run_totals(engine, run_id)
    assert (after["tests"], after["reruns"], after["hosts"]) == (93 + 30, 0, list(BROWSERS))
    assert "02-example.xml" in after["warnings"][0] and "divides by zero" in after["warnings"][0]


def test_after_reindex_and_a_worker_pass_no_browser_variant_is_called_flaky(engine, client):
    from dashboard.worker import run_once

    store_the_old_way(engine, PLAYWRIGHT)
    run_once(engine)
    flaky_before = client.get("/api/v1/projects/old/flaky").get_json()["total"]
    assert flaky_before > 0  # the old rule's "passed only on a rerun"
    reindex(engine, project="old", reports=[ReportSource.from_path(PLAYWRIGHT)])
    run_once(engine)
    data = client.get("/api/v1/projects/old/flaky").get_json()
    assert (data["total"], data["tests"]) == (0, [])
