"""The weekly review against a history with planted events: each week names exactly what was planted.

One history per backend (SQLite file, private PostgreSQL schema), built once for the module; the
page, its JSON twin and the CLI are checked against the same database.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from weekly_history import POLLUTER, PROJECT, SKIP_REASON, TOTAL, VICTIM, WEEKS, build_history

from dashboard.analysis.weekly import cached_weekly_review, find_project
from dashboard.analysis.weeks import Week, last_complete_week
from dashboard.analysis.window import Window
from dashboard.settings import Settings
from ingest.db import ensure_schema, make_engine
from ingest.models import Result, Run
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

PG_URL = os.environ.get("SUITEHEALTH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BASE = "https://health.example.com"
ESCAPE_PROJECT = "escape-check"
NASTY_TEST = "tests/test_x.py::test_a[<b>|</b>]"
NASTY_REASON = "needs <redis> | cluster"
ESCAPE_WEEK = Week(2026, 20)


# Every test runs on both backends (one xdist group each where loadgroup honours groups).
pytestmark = pytest.mark.parametrize("history", [
    pytest.param("sqlite", marks=pytest.mark.xdist_group("weekly-sqlite")),
    pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.xdist_group("weekly-postgresql")]),
], indirect=True, scope="module")

# Built once per backend and process: xdist tears module fixtures down whenever a worker's queue
# runs dry, and rebuilding the history and its eight reviews each time would dominate this module.
_BUILT: dict[str, tuple] = {}


def _drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def history(request):
    """(database URL, planted truth, {week label: review}) on a fresh database of each backend."""
    backend = request.param
    if backend not in _BUILT:
        if backend == "sqlite":
            url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='weekly-')) / 'weekly.db'}"
        else:
            schema = "t_" + uuid.uuid4().hex[:16]
            admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            admin.dispose()
            atexit.register(_drop_schema, schema)
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        engine = make_engine(url)
        ensure_schema(engine)
        try:
            truth = build_history(engine)
            _store_nasty_project(engine)
            with Session(engine) as session:
                project = find_project(session, PROJECT)
                # Through the cache the page and the CLI use, so their tests reuse these reviews.
                settings = Settings.from_environment()
                reviews = {w.label: cached_weekly_review(session, project.id, Window.of_week(w), settings)
                           for w in WEEKS}
        finally:
            engine.dispose()
        _BUILT[backend] = (url, truth, reviews)
    return _BUILT[backend]


def _store_nasty_project(engine) -> None:
    """A project whose only news is a skip surge of a test with markup and a pipe in its name."""
    for week, outcome in ((ESCAPE_WEEK.previous, "passed"), (ESCAPE_WEEK, "skipped")):
        store_cases(engine, RunMeta(project=ESCAPE_PROJECT, suite="integration", started_at=week.start
                                    + timedelta(hours=9)),
                    [CaseRecord(nodeid=NASTY_TEST, outcome=outcome, duration_s=0.1, markers=("integration",),
                                message=NASTY_REASON if outcome == "skipped" else None)])


def _names(items, key="nodeid") -> set:
    return {item[key] for item in items or []}


# ---- planted truth, week by week ------------------------------------------------------------

@pytest.mark.parametrize("week", [w.label for w in WEEKS])
def test_review_names_exactly_the_planted_skip_surges(history, week):
    _, truth, reviews = history
    surges = reviews[week].skip_surges
    assert {s.reason for s in surges} == truth.skip_surge_reasons.get(week, set())
    assert {t.nodeid for s in surges for t in s.examples} == truth.skip_surge_tests.get(week, set())
    for s in surges:
        assert s.integration_tests == s.tests  # the planted surge hit the integration suite only
        assert s.suites == ["integration"]


@pytest.mark.parametrize("week", [w.label for w in WEEKS])
def test_review_names_exactly_the_planted_slowdown_and_where_it_began(history, week):
    _, truth, reviews = history
    slower = reviews[week].slower_tests
    assert _names(slower) == truth.slower.get(week, set())
    for item in slower:
        assert item["began_run_id"] == truth.slowdown_run_id
        assert item["after_s"] > item["before_s"]


@pytest.mark.parametrize("week", [w.label for w in WEEKS])
def test_review_names_exactly_the_tests_that_became_or_stopped_being_flaky(history, week):
    _, truth, reviews = history
    review = reviews[week]
    assert _names(review.new_flaky) == truth.new_flaky.get(week, set())
    assert _names(review.no_longer_flaky) == truth.no_longer_flaky.get(week, set())


@pytest.mark.parametrize("week", [w.label for w in WEEKS])
def test_review_names_exactly_the_tests_that_broke_and_the_run_where_it_began(history, week):
    _, truth, reviews = history
    broken = reviews[week].broken
    assert _names(broken) == truth.broken.get(week, set())
    for b in broken:
        assert b["new"] and b["since_run_id"] == truth.broken_since_run_id
        assert b["consecutive_failures"] == b["failures_this_week"] == 5


@pytest.mark.parametrize("week", [w.label for w in WEEKS])
def test_review_names_exactly_the_new_interference_suspects(history, week):
    _, truth, reviews = history
    found = {(s["victim"], s["polluters"][0]) for s in reviews[week].new_suspects}
    assert found == truth.new_suspects.get(week, set())


@pytest.mark.parametrize("week", [w.label for w in WEEKS])
def test_review_names_exactly_the_suites_that_lost_tests(history, week):
    _, truth, reviews = history
    drops = reviews[week].count_drops
    assert {d.suite for d in drops} == truth.count_drops.get(week, set())
    for d in drops:
        assert d.missing_total == d.dropped == 3


def test_quiet_weeks_recommend_nothing_and_planted_weeks_lead_with_their_evidence(history):
    _, truth, reviews = history
    planted = set().union(*(getattr(truth, a).keys() for a in (
        "skip_surge_reasons", "slower", "new_flaky", "new_suspects", "count_drops", "broken")))
    quiet = [w for w, r in reviews.items() if w not in planted and not r.red_runs]
    assert quiet and all(reviews[w].actions == [] for w in quiet)
    for review in reviews.values():
        assert all(a.payoff > 0 and a.evidence and a.link.startswith("/projects/") for a in review.actions)
    polluter_week = next(iter(truth.new_suspects))
    top = reviews[polluter_week].actions[0]
    victim_failures = reviews[polluter_week].new_suspects[0]["victim_failures_this_week"]
    assert top.kind == "suspect" and top.subject == POLLUTER and top.evidence.endswith("(new this week)")
    plural = "" if victim_failures == 1 else "s"
    assert f"{victim_failures} failure{plural} of 1 test this week" in top.evidence and victim_failures > 0
    # The next week the polluter still costs failures: still recommended, no longer new.
    ongoing = [a for a in reviews[polluter_week.replace("W08", "W09")].actions if a.kind == "suspect"]
    assert [a.subject for a in ongoing] == [POLLUTER] and "new this week" not in ongoing[0].evidence
    surge_week = next(iter(truth.skip_surge_reasons))
    restore = [a for a in reviews[surge_week].actions if a.kind == "skips"]
    assert len(restore) == 1 and SKIP_REASON in restore[0].title and "6 tests skipped" in restore[0].evidence
    slow_week = next(iter(truth.slower))
    kinds = [a.kind for a in reviews[slow_week].actions]
    assert "slowdown" in kinds and "count-drop" in kinds


def test_runs_and_pass_rate_agree_with_the_stored_results(history):
    url, _, reviews = history
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            for w in WEEKS:
                in_week = (Run.started_at >= w.start, Run.started_at < w.end, Run.project.has(name=PROJECT))
                runs = session.scalar(select(func.count()).select_from(Run).where(*in_week))
                counts = dict(session.execute(
                    select(Result.outcome, func.count()).join(Run, Run.id == Result.run_id)
                    .where(*in_week, Result.final).group_by(Result.outcome)).all())
                review = reviews[w.label]
                assert review.runs == runs
                ran = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0)
                assert review.pass_rate == pytest.approx(counts.get("passed", 0) / ran)
    finally:
        engine.dispose()


def test_a_week_with_runs_fills_every_section_from_the_analyses(history):
    _, _, reviews = history
    review = reviews[WEEKS[-1].label]
    for section in (review.slower_tests, review.slowest_tests, review.new_flaky, review.no_longer_flaky,
                    review.broken, review.new_suspects):
        assert section is not None
    assert {s.suite for s in review.suites} == {"unit", "integration"}
    assert all(s.budget_s and s.status for s in review.suites)
    assert review.pyramid is not None
    assert {d["level"] for d in review.pyramid["drift"]} >= {"unit", "integration"}


# ---- page, JSON twin, navigation, empty week --------------------------------------------------

@pytest.fixture(scope="module")
def weekly_client(history):
    from dashboard import create_app

    url, _, _ = history
    return create_app({"DATABASE_URL": url, "TESTING": True}).test_client()


def test_page_shows_the_planted_suspect_with_links_and_week_navigation(weekly_client, history):
    _, truth, _ = history
    week = next(iter(truth.new_suspects))
    resp = weekly_client.get(f"/projects/{PROJECT}/weekly?week={week}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "New interference suspects" in html and VICTIM in html and POLLUTER in html
    assert f'href="/projects/{PROJECT}/weekly?week=2026-W07"' in html
    assert f'href="/projects/{PROJECT}/weekly?week=2026-W09"' in html
    polluter_link = f"/projects/{PROJECT}/tests?nodeid=" + quote(POLLUTER, safe="")
    assert f'href="{polluter_link}"' in html
    assert 'aria-current="page">Weekly review' in html


def test_json_twin_carries_the_same_review_with_its_base_url(weekly_client, history):
    _, truth, reviews = history
    week = next(iter(truth.slower))
    data = weekly_client.get(f"/api/v1/projects/{PROJECT}/weekly?week={week}").get_json()
    # No SUITEHEALTH_BASE_URL here: links stay relative rather than echo the request's Host header.
    assert data["week"] == week and data["base_url"] is None
    assert [t["nodeid"] for t in data["slower_tests"]] == [TOTAL]
    assert [a["title"] for a in data["actions"]] == [a.title for a in reviews[week].actions]


def test_default_week_is_the_last_complete_one_and_an_empty_week_points_to_the_latest_runs(weekly_client):
    resp = weekly_client.get(f"/projects/{PROJECT}/weekly")
    html = resp.get_data(as_text=True)
    expected = last_complete_week(datetime.now(UTC))
    assert f"No runs in {expected.label}" in html
    assert f'href="/projects/{PROJECT}/weekly?week={WEEKS[-1].label}"' in html
    data = weekly_client.get(f"/api/v1/projects/{PROJECT}/weekly").get_json()
    assert data["empty"] is True and data["actions"] == []
    assert data["latest_week_with_runs"] == WEEKS[-1].label


def test_bad_week_is_a_400_and_unknown_project_a_404(weekly_client):
    assert weekly_client.get(f"/api/v1/projects/{PROJECT}/weekly?week=2026-13").get_json()["status"] == 400
    resp = weekly_client.get(f"/projects/{PROJECT}/weekly?week=2026-W54")
    assert resp.status_code == 400 and "2026 has no ISO week 54" in resp.get_data(as_text=True)
    assert weekly_client.get("/projects/nope/weekly").status_code == 404


def test_page_escapes_test_names_and_skip_reasons(weekly_client):
    resp = weekly_client.get(f"/projects/{ESCAPE_PROJECT}/weekly?week={ESCAPE_WEEK.label}")
    html = resp.get_data(as_text=True)
    assert "<b>|</b>" not in html and "&lt;b&gt;|&lt;/b&gt;" in html
    assert "needs &lt;redis&gt; | cluster" in html


def test_page_reflects_a_run_stored_after_it_was_first_shown(weekly_client, history):
    url, _, _ = history
    path = f"/api/v1/projects/{ESCAPE_PROJECT}/weekly?week={ESCAPE_WEEK.label}"
    before = weekly_client.get(path).get_json()["runs"]
    engine = make_engine(url)
    try:
        store_cases(engine, RunMeta(project=ESCAPE_PROJECT, suite="integration",
                                    started_at=ESCAPE_WEEK.start + timedelta(days=2)),
                    [CaseRecord(nodeid=NASTY_TEST, outcome="passed", duration_s=0.1)])
    finally:
        engine.dispose()
    assert weekly_client.get(path).get_json()["runs"] == before + 1


# ---- the CLI: Markdown, self-contained HTML, JSON ----------------------------------------------

def _cli(url: str, *args: str) -> str:
    from dashboard.cli import main

    result = CliRunner().invoke(main, ["--db", url, "report", "weekly", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_markdown_report_has_headings_tables_and_absolute_links(history):
    url, truth, _ = history
    week = next(iter(truth.skip_surge_reasons))
    md = _cli(url, "--project", PROJECT, "--week", week, "--base-url", BASE + "/")
    assert md.startswith(f"# Weekly review: weekly-shop, {week}\n")
    for heading in ("## Recommended actions", "## Suites: wall time against budget", "## Skip surges",
                    "## Flakiness", "## New interference suspects", "## Pyramid drift"):
        assert f"\n{heading}\n" in md
    assert "| Suite | Runs |" in md and "|---|---:|" in md
    links = re.findall(r"\]\(([^)]+)\)", md)
    assert links and all(link.startswith(BASE + "/projects/weekly-shop") for link in links)
    assert "database not available: could not connect to <host>".replace("<", "\\<").replace(">", "\\>") in md
    # Every table row has as many cells as its header.
    for block in re.findall(r"((?:^\|.*\|\n)+)", md, flags=re.M):
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in block.strip().splitlines()}
        assert len(widths) == 1, block


def test_markdown_escapes_pipes_and_markup_in_test_names(history):
    url, _, _ = history
    md = _cli(url, "--project", ESCAPE_PROJECT, "--week", ESCAPE_WEEK.label, "--base-url", BASE)
    assert "`tests/test_x.py::test_a[<b>\\|</b>]`" in md
    assert "needs \\<redis\\> \\| cluster" in md


class _References(HTMLParser):
    """Collect every attribute that could load something, and every tag name."""

    def __init__(self):
        super().__init__()
        self.tags: set[str] = set()
        self.loads: list[tuple[str, str, str]] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if tag == "a" and name == "href":
                self.anchors.append(value)
            elif name in ("src", "href", "srcset", "data", "poster", "action", "background"):
                self.loads.append((tag, name, value))


def test_html_report_is_self_contained(history):
    url, truth, _ = history
    week = next(iter(truth.new_suspects))
    html = _cli(url, "--project", PROJECT, "--week", week, "--format", "html", "--base-url", BASE)
    refs = _References()
    refs.feed(html)
    assert refs.loads == []
    assert not refs.tags & {"script", "link", "img", "iframe", "object", "embed", "video", "audio", "svg"}
    assert "<style>" in html and "@import" not in html and "url(" not in html
    assert refs.anchors and all(a.startswith(BASE + "/") for a in refs.anchors)
    assert VICTIM in html and "New interference suspects" in html


def test_json_report_matches_the_page_data(history, weekly_client):
    url, truth, _ = history
    week = next(iter(truth.new_flaky))
    data = json.loads(_cli(url, "--project", PROJECT, "--week", week, "--format", "json", "--base-url", BASE))
    api = weekly_client.get(f"/api/v1/projects/{PROJECT}/weekly?week={week}").get_json()
    assert data["base_url"] == BASE
    for key in ("runs", "pass_rate", "new_flaky", "skip_surges", "actions", "suites"):
        assert data[key] == api[key], key


def test_cli_refuses_an_unknown_project_and_a_malformed_week(history):
    from dashboard.cli import main

    url, _, _ = history
    result = CliRunner().invoke(main, ["--db", url, "report", "weekly", "--project", "nope"])
    assert result.exit_code == 1 and "no project named 'nope'" in result.output
    result = CliRunner().invoke(main, ["--db", url, "report", "weekly", "--project", PROJECT, "--week", "W7"])
    assert result.exit_code == 2 and "2026-W07" in result.output


# ---- in a real browser, served by gunicorn --------------------------------------------------

@pytest.mark.browser
@pytest.mark.server
def test_page_draws_its_chart_on_screen_and_prints_without_navigation(history, server_factory, page):
    url, truth, _ = history
    server = server_factory(url, workers=1)
    week = next(iter(truth.new_suspects))
    page.goto(f"{server.url}/projects/{PROJECT}/weekly?week={week}", timeout=180_000)
    page.wait_for_selector("#chart-days.chart-ready", timeout=60_000)
    assert page.locator(".week-nav").is_visible() and page.locator(".topbar").is_visible()
    page.emulate_media(media="print")
    assert not page.locator(".week-nav").is_visible()
    assert not page.locator(".topbar").is_visible() and not page.locator(".footer").is_visible()
    assert page.locator("#suspects table").is_visible() and page.get_by_text(VICTIM).first.is_visible()
