"""Interference suspects on the real test suites of open-source projects, scored against pair-run truth.

tests/data/realsuites/<project>/ holds 30+ JUnit reports of that project's own suite run here in random
order (pytest-randomly, one seed per run) and truth.json, made by running each victim alone and each
candidate before it in a fixed order (tools/realsuites/make_corpus.py; each README says how). The
reports are ingested through the library into a fresh SQLite file and a fresh PostgreSQL schema, as a
user's CI would store them, and the interference analysis is scored per victim:

- found: every true cause is a suspect's first test or sits inside its group (a group holds what the
  history cannot tell apart: a module named whole, the tests that always ran together);
- wrong: a suspect names no true cause, or accuses a test that has none (a false victim, a random flake);
- missed: a true cause appears in no suspect of its victim.

Victims the current detector does not get right are strict xfails with the reason: when the detector
improves, they XPASS and fail, and the mark comes off. `python tests/realworld/test_real_suites.py`
prints the score table.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from dashboard import create_app
from dashboard.analysis import history, run_cache, week_findings, week_parts
from dashboard.analysis.interference import suspects_and_notes
from dashboard.analysis.unexplained import without_suspect
from dashboard.analysis.weekly import weekly_review
from dashboard.analysis.weeks import Week
from dashboard.analysis.window import Window
from dashboard.settings import Settings
from dashboard.weekly_render import review_json
from dashboard.worker import run_once
from ingest.analysis_models import forget_stored_summaries
from ingest.db import ensure_schema, make_engine, write_transaction
from ingest.models import Project
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

DATA = Path(__file__).resolve().parents[1] / "data" / "realsuites"
PROJECTS = sorted(p.name for p in DATA.iterdir() if (p / "truth.json").exists())
PG_URL = os.environ.get("SUITEHEALTH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2026, 11, 1, tzinfo=UTC)

# (project, victim) -> why the current detector gets it wrong. Measured, not guessed: remove an entry
# when its test XPASSes.
KNOWN_MISSES: dict[tuple[str, str], str] = {}
# python-openflow's last-writer victim (test_vendor_header) was one until 2026-12-07: 30 runs cannot
# name its setters (test_a_short_history_of_a_last_writer_victim_names_nothing_and_lists_it); with
# 200 runs the last-writer analysis (dashboard/analysis/last_writer.py) names every one.
LAST_WRITER_VICTIM = (
    "python-openflow",
    "tests/unit/v0x01/test_symmetric/test_vendor_header.py::TestVendorHeader::test_minimum_size",
)
SHORT_HISTORY = 30  # runs: what the trial had, and too few for the last-writer pattern


def truth_of(project: str) -> dict:
    return json.loads((DATA / project / "truth.json").read_text())


def caused_victims(project: str) -> list[dict]:
    return [v for v in truth_of(project)["victims"] if v["causes"]]


# ---- building one analysed history per project and backend ---------------------------------

# Built once per backend and process (as tests/dashboard/test_interference.py does): ingesting and
# analysing 30 runs of a 250-test suite is the slow part, and the tests only read the result.
_BUILT: dict[tuple[str, str], tuple] = {}


def _admin(statement: str) -> None:
    # A short-lived engine: the PostgreSQL server is shared, and idle pooled connections held for the
    # whole session have run it out of client slots.
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _database_url(request, backend: str, tmp_path_factory) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('realsuites') / 'db.sqlite'}"
    schema = "t_" + uuid.uuid4().hex[:16]
    _admin(f'CREATE SCHEMA "{schema}"')
    request.config.add_cleanup(lambda: _admin(f'DROP SCHEMA "{schema}" CASCADE'))
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def ingest_project(engine, project: str, limit: int | None = None) -> int:
    """Store every run of PROJECT (the first LIMIT) as its own CI run on one commit, an hour apart;
    return the project id."""
    reports = sorted((DATA / project).glob("run-*.xml.gz"))[:limit]
    assert len(reports) >= 30
    for i, path in enumerate(reports):
        meta = RunMeta(
            project=project, suite="tests", branch="main", commit="sdist",
            started_at=START + timedelta(hours=i),
        )  # fmt: skip
        ingest_sources(engine, [ReportSource.from_path(path)], meta)
    # The analysis is the worker's job (pages only read what it stored), as on a real server.
    run_once(engine)
    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == project))


def analysed(request, project: str, backend: str, tmp_path_factory) -> list:
    """The suspects of PROJECT's stored history on BACKEND."""
    key = (project, backend)
    if key not in _BUILT:
        url = _database_url(request, backend, tmp_path_factory)
        engine = make_engine(url)
        try:
            ensure_schema(engine)
            project_id = ingest_project(engine, project)
            with Session(engine) as s:
                suspects, _ = suspects_and_notes(s, project_id)
                _WITHOUT_SUSPECT[key] = [t.nodeid for t in without_suspect(s, project_id)]
            _PAGES[key] = _suspects_page_and_json(url, project)
            _REVIEWS[key] = _reviews_stored_and_computed(engine, project_id)
        finally:
            engine.dispose()  # only the suspects are kept; no connection stays open between tests
        _BUILT[key] = suspects
    return _BUILT[key]


_WITHOUT_SUSPECT: dict[tuple[str, str], list[str]] = {}
_PAGES: dict[tuple[str, str], tuple[str, dict]] = {}


def _suspects_page_and_json(url: str, project: str) -> tuple[str, dict]:
    """The suspects page and its JSON twin, as the dashboard serves them from the stored analysis."""
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    try:
        with app.test_client() as client:
            page = client.get(f"/projects/{project}/suspects?limit=100")
            twin = client.get(f"/api/v1/projects/{project}/suspects?limit=100")
            assert page.status_code == twin.status_code == 200
            return page.get_data(as_text=True), twin.get_json()
    finally:
        app.extensions["suitehealth_engine"].dispose()
# The runs span two ISO weeks (from a Sunday on): the worker stores the boundary between them.
REVIEWED_WEEKS = [Week(2026, 44), Week(2026, 45)]
_REVIEWS: dict[tuple[str, str], dict] = {}


def _reviews_stored_and_computed(engine, project_id: int) -> dict:
    """Each reviewed week's review JSON and where its parts came from: as the worker stored them,
    then with the stored rows deleted (computed from the results and replayed)."""
    out = {}
    for label in ("stored", "computed"):
        run_cache.clear()
        history._AS_OF.clear()
        with Session(engine) as s:
            settings = Settings.from_environment()
            for week in REVIEWED_WEEKS:
                review = weekly_review(s, project_id, Window.of_week(week), settings)
                as_json = review_json(review, "https://h.example")
                out[(label, week.label)] = (
                    {k: v for k, v in as_json.items() if k != "generated_at"},
                    week_findings.review_source(s, project_id, week, settings),
                    week_parts.parts_source(s, project_id, week, settings))
        with write_transaction(engine) as s:
            forget_stored_summaries(s, project_id)
    return out


# ---- scoring --------------------------------------------------------------------------------


@dataclass
class Score:
    """One victim's score: which true causes were named, which suspects named none."""

    victim: str
    found: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # a short description per wrong suspect

    @property
    def right(self) -> bool:
        return not self.missed and not self.wrong


def score_victim(truth: dict, suspects: list) -> Score:
    """Score one true victim against the suspects reported for it.

    ``causes_in_runs``, when the truth has it, are the causes that made the difference in at least
    one stored run (python-openflow's last-writer victim: a setter always followed by an undoer
    leaves no trace in the history); only they can be missed. Naming any pair-run cause is right.
    """
    mine = [s for s in suspects if s.victim == truth["victim"]]
    causes = set(truth["causes"])
    wanted = set(truth.get("causes_in_runs") or causes)
    named = {p for s in mine for p in s.polluters}
    score = Score(truth["victim"])
    score.found = sorted(wanted & named)
    score.missed = sorted(wanted - named)
    for s in mine:
        if s.kind != truth["kind"] or not causes & set(s.polluters):
            score.wrong.append(f"{s.tier} {s.kind} {s.polluters[:3]}{'…' if len(s.polluters) > 3 else ''}")
    return score


def false_victims(project: str, suspects: list) -> list[str]:
    """Tests accused of being victims that the pair runs found no cause for."""
    caused = {v["victim"] for v in caused_victims(project)}
    return sorted({s.victim for s in suspects} - caused)


# ---- tests ----------------------------------------------------------------------------------

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.xdist_group("realsuites-sqlite")),
    pytest.param(
        "postgresql", marks=[pytest.mark.postgres, pytest.mark.xdist_group("realsuites-postgresql")]
    ),
]


def _victim_params() -> list:
    params = []
    for project in PROJECTS:
        for v in caused_victims(project):
            reason = KNOWN_MISSES.get((project, v["victim"]))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(project, v, marks=marks, id=f"{project}:{v['victim']}"))
    return params


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("project", "victim"), _victim_params())
def test_every_true_cause_of_a_real_victim_is_named_and_nothing_else(
    request, tmp_path_factory, backend, project, victim
):
    suspects = analysed(request, project, backend, tmp_path_factory)
    score = score_victim(victim, suspects)
    assert score.missed == [] and score.wrong == [], score


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("project", PROJECTS)
def test_no_false_victims_and_no_suspects_for_flakes_without_an_order_signal(
    request, tmp_path_factory, backend, project
):
    suspects = analysed(request, project, backend, tmp_path_factory)
    no_suspect = {v["victim"] for v in truth_of(project)["victims"] if not v["causes"]}
    accused = false_victims(project, suspects)
    # Stated separately: a suspect for a known no-order-signal flake is the worse mistake.
    assert not no_suspect & set(accused), sorted(no_suspect & set(accused))
    assert accused == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_last_writer_victim_gets_the_modules_that_decide_it_as_one_likely_group(
    request, tmp_path_factory, backend
):
    project, victim = LAST_WRITER_VICTIM
    (suspect,) = [s for s in analysed(request, project, backend, tmp_path_factory) if s.victim == victim]
    truth = next(v for v in caused_victims(project) if v["victim"] == victim)
    assert suspect.kind == "state-setter" and suspect.tier == "likely"
    assert suspect.evidence["model"] == "last-writer"
    # Modules, not single tests, are what the history shows: each decided module is named whole.
    decided = {n.split("::")[0] for n in truth["causes_in_runs"]}
    assert decided <= set(suspect.evidence["modules"])
    assert {p.split("::")[0] for p in suspect.polluters} == set(suspect.evidence["modules"])
    # The fit is consistent (the group decides every run) and its permutation p is the smallest.
    e = suspect.evidence
    assert e["pass_with"] == e["fail_without"] == 0 and e["consistent"]
    assert e["fail_with"] == truth["failed_runs"] and e["pass_without"] == truth["passed_runs"]
    assert e["p_value"] == 0.001 and e["bisect"] is not None
    # The page and its JSON twin show the same group: the modules, the counts, the permutation p.
    html, twin = _PAGES[(project, backend)]
    (card,) = [c for c in twin["suspects"] if c["victim"] == victim]
    assert card["evidence"]["modules"] == e["modules"] and card["polluters"] == suspect.polluters
    assert card["evidence"]["fail_with"] == e["fail_with"] and card["tier"] == "likely"
    start = html.index(f"Passes when the last module to write shared state before it was one of these "
                       f"{len(e['modules'])} modules ({len(suspect.polluters)} tests)")
    body = html[start : html.index("Reproduce:", start)]
    assert [m for m in e["modules"][:20] if f'<li class="nodeid">{m}</li>' not in body] == []
    assert "Permutation p = 0.001" in body and "suitehealth confirm</code> bisects it" in body
    # The weekly review of the week it was first found names the modules, in its table and its action.
    review = _REVIEWS[(project, backend)][("stored", REVIEWED_WEEKS[1].label)][0]
    (new,) = [s for s in review["new_suspects"] if s["victim"] == victim]
    assert new["modules"] and {p.split("::")[0] for p in new["polluters"]} == set(new["modules"])
    (action,) = [a for a in review["actions"] if a["subject"] == victim]
    assert f"the last module to write shared state before it was one of {len(new['modules'])} modules (" in (
        action["evidence"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_short_history_of_a_last_writer_victim_names_nothing_and_lists_it(
    request, tmp_path_factory, backend
):
    # Its first 30 runs: even knowing every writer, shuffled outcomes fit as well 1 time in 20, so
    # nothing may be named. Not silence: the suspects page lists it under "Flaky, no suspect" with
    # its `confirm --unexplained` command.
    project, victim = LAST_WRITER_VICTIM
    engine = make_engine(_database_url(request, backend, tmp_path_factory))
    try:
        ensure_schema(engine)
        project_id = ingest_project(engine, project, limit=SHORT_HISTORY)
        with Session(engine) as s:
            suspects, _ = suspects_and_notes(s, project_id)
            listed = [t.nodeid for t in without_suspect(s, project_id)]
    finally:
        engine.dispose()
    assert victim not in {s.victim for s in suspects}
    assert victim in listed
    # The other victim of the same runs is still found: the short history is not empty of signal.
    assert {s.victim for s in suspects} == {v["victim"] for v in caused_victims(project)} - {victim}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("project", PROJECTS)
def test_the_weekly_reviews_of_a_real_suite_read_the_stored_rows_and_equal_a_computation(
    request, tmp_path_factory, backend, project
):
    analysed(request, project, backend, tmp_path_factory)
    reviews = _REVIEWS[(project, backend)]
    for week in REVIEWED_WEEKS:
        stored, findings, parts = reviews[("stored", week.label)]
        computed, findings_after, parts_after = reviews[("computed", week.label)]
        assert (findings, parts) == ("stored", "stored"), week
        assert (findings_after, parts_after) == ("computed", "computed"), week
        assert stored == computed, week
        assert stored["runs"] > 0
    # The flaky tests of the real suite are in the reviews, so the comparison compared something.
    assert any(reviews[("stored", w.label)][0]["new_flaky"] for w in REVIEWED_WEEKS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pydu_victims_failing_with_the_same_message_are_linked_through_their_shared_cause(
    request, tmp_path_factory, backend
):
    # The cwd victims fail with one message, test_run (a shell) with another; the stored failure
    # signatures reach the analysis through the worker and say which victims fail the same way.
    suspects = {s.victim: s for s in analysed(request, "pydu", backend, tmp_path_factory)}
    cd, run = suspects["tests/test_path.py::test_cd"], suspects["tests/test_cmd.py::test_run"]
    timers = {v for v in suspects if v.startswith("tests/test_dt.py::TestTimer::")}
    assert len(timers) == 3
    assert {frozenset(vs) for vs in cd.evidence["same_signature"].values()} == {frozenset(timers)}
    assert run.evidence["same_signature"] == {}
    assert all(len(vs) == 4 for vs in run.evidence["also_breaks"].values())


@pytest.mark.parametrize("project", PROJECTS)
def test_truth_was_established_by_pair_runs_on_enough_random_runs(project):
    truth = truth_of(project)
    assert truth["runs"] >= 30 and truth["tests"] >= 100
    assert len(list((DATA / project).glob("run-*.xml.gz"))) == truth["runs"]
    for v in truth["victims"]:
        assert v["kind"] in ("polluter", "state-setter", "none")
        assert (v["kind"] == "none") == (not v["causes"])
        assert set(v.get("causes_in_runs", [])) <= set(v["causes"])
        assert not set(v.get("undoers", [])) & set(v["causes"])
        if "model_agrees_runs" in v:  # a model of the victim's outcome must explain every run
            assert v["model_agrees_runs"] == truth["runs"]


# ---- the score table, for people -------------------------------------------------------------


def score_table(backend_url: str) -> str:
    """Ingest every project into BACKEND_URL (fresh) and return one line per project."""
    lines = [f"{'project':10s} {'tests':>5s} {'runs':>4s} {'victims':>7s} {'causes':>6s} found wrong missed"]
    for project in PROJECTS:
        engine = make_engine(backend_url.format(project=project))
        ensure_schema(engine)
        project_id = ingest_project(engine, project)
        with Session(engine) as s:
            suspects, _ = suspects_and_notes(s, project_id)
        engine.dispose()
        truth = truth_of(project)
        scores = [score_victim(v, suspects) for v in caused_victims(project)]
        causes = sum(len(v.get("causes_in_runs") or v["causes"]) for v in caused_victims(project))
        wrong = sum(len(s.wrong) for s in scores) + len(false_victims(project, suspects))
        lines.append(
            f"{project:10s} {truth['tests']:5d} {truth['runs']:4d} {len(scores):7d} {causes:6d} "
            f"{sum(len(s.found) for s in scores):5d} {wrong:5d} {sum(len(s.missed) for s in scores):6d}"
        )
        for s in scores:
            if not s.right:
                lines.append(f"    {s.victim}: found {len(s.found)}, missed {len(s.missed)}, wrong {s.wrong}")
        for victim in false_victims(project, suspects):
            lines.append(f"    false victim {victim}")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(score_table(sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/{{project}}.sqlite"))
