"""The weekly review's parts summarised from results, stored by the worker per week (``week_parts``).

After incremental worker passes every stored week equals a computation from scratch; the review
(page, JSON twin, Markdown) is the same with and without them; a stored value is what the page
shows; a late run, a deleted run or other settings make the affected weeks compute again until the
worker stores them anew; ``reindex`` forgets them. Both backends.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from test_weekly_snapshots import PROJECT, REVIEWED, _build_incrementally, _page, _reviews
from weekly_history import SKIP_REASON, SLOWDOWN_WEEK, WEEKS, _store, _unit_cases

from dashboard.analysis import week_findings, week_parts
from dashboard.analysis.week_parts import compute_parts, is_stored, stored_parts
from dashboard.analysis.weeks import Week
from dashboard.settings import Settings
from dashboard.worker import run_once
from ingest.analysis_models import WeekFindingsRow, WeekPartsRow, forget_stored_summaries
from ingest.db import write_transaction
from ingest.models import Run, Suite


def _rows(session: Session, project_id: int) -> dict:
    rows = session.execute(select(WeekPartsRow.week_start, WeekPartsRow.parts)
                           .where(WeekPartsRow.project_id == project_id)).all()
    return {week_start.replace(tzinfo=None): parts for week_start, parts in rows}


def _from_scratch(session: Session, project_id: int, week: Week) -> dict:
    parts = compute_parts(session, project_id, PROJECT, week, Settings.from_environment())
    return json.loads(json.dumps(parts.to_json()))


def test_stored_parts_equal_a_computation_from_scratch_and_the_review_reads_them(engine, client):
    project_id = _build_incrementally(engine, refresh_every=4)
    settings = Settings.from_environment()
    with Session(engine) as s:
        stored = _rows(s, project_id)
        # Every week with runs, and only those.
        assert sorted(stored) == [w.start.replace(tzinfo=None) for w in WEEKS]
        for week in WEEKS:
            assert stored[week.start.replace(tzinfo=None)] == _from_scratch(s, project_id, week), week
            assert is_stored(s, project_id, week, settings)
        # The planted slowdown and skip surge are in the stored parts, so the comparison compared them.
        slowdown = stored[SLOWDOWN_WEEK.start.replace(tzinfo=None)]
        assert slowdown["slower_tests"], "the planted slowdown week stores no slower test"
        surges = [surge["reason"] for parts in stored.values() for surge in parts["skip_surges"]]
        assert any(SKIP_REASON in reason for reason in surges)
        assert any(parts["failures"] for parts in stored.values())

    with_rows = _reviews(engine, project_id)
    pages = {w.label: _page(client, w) for w in REVIEWED}
    assert all(api["analysis"]["weekly_parts"] == "stored" for _, api in pages.values())

    with write_transaction(engine) as s:
        s.execute(delete(WeekPartsRow).where(WeekPartsRow.project_id == project_id))
    assert _reviews(engine, project_id) == with_rows
    for week in REVIEWED:
        html, api = _page(client, week)
        assert api["analysis"]["weekly_parts"] == "computed"
        assert {k: v for k, v in api.items() if k not in ("analysis", "generated_at")} == {
            k: v for k, v in pages[week.label][1].items() if k not in ("analysis", "generated_at")}
    with Session(engine) as s:  # nothing was stored by reading
        assert _rows(s, project_id) == {}

    # A hand-edited stored value is what the page shows: the page reads the stored parts.
    run_once(engine)
    before_edit = _page(client, SLOWDOWN_WEEK)[1]
    marker = "tests/unit/test_hand_edited.py::test_only_in_the_stored_row"
    with Session(engine) as s:
        edited = _rows(s, project_id)[SLOWDOWN_WEEK.start.replace(tzinfo=None)]
    edited["slower_tests"][0]["nodeid"] = marker
    with write_transaction(engine) as s:
        s.execute(update(WeekPartsRow).where(WeekPartsRow.project_id == project_id,
                                             WeekPartsRow.week_start == SLOWDOWN_WEEK.start)
                  .values(parts=edited))
    html, api = _page(client, SLOWDOWN_WEEK)
    assert api["analysis"]["weekly_parts"] == "stored"
    assert marker in {t["nodeid"] for t in api["slower_tests"]}
    assert marker in html

    # A row of the right format but not the right shape (damaged, edited by hand) is not used: the
    # page computes, says so, and shows the same review as before the edit. Week findings alike.
    with write_transaction(engine) as s:
        s.execute(update(WeekPartsRow).where(WeekPartsRow.project_id == project_id,
                                             WeekPartsRow.week_start == SLOWDOWN_WEEK.start)
                  .values(parts={"format": week_parts.FORMAT, "week": ["not", "a", "label"]}))
        s.execute(update(WeekFindingsRow).where(WeekFindingsRow.project_id == project_id,
                                                WeekFindingsRow.boundary == SLOWDOWN_WEEK.end)
                  .values(findings={"format": week_findings.FORMAT, "flaky": "nope", "broken": None}))
    html, api = _page(client, SLOWDOWN_WEEK)
    assert api["analysis"]["weekly_parts"] == api["analysis"]["weekly_findings"] == "computed"
    assert marker not in html
    same = ("analysis", "generated_at")
    assert {k: v for k, v in api.items() if k not in same} == {
        k: v for k, v in before_edit.items() if k not in same}


def test_late_runs_deleted_runs_or_other_settings_make_weeks_compute_until_stored_again(engine, client):
    project_id = _build_incrementally(engine, refresh_every=5)
    settings = Settings.from_environment()
    late_week = Week(2026, 4)
    _store(engine, "unit", late_week.start + timedelta(days=2, hours=2), 16, _unit_cases(16), seed=None)
    with Session(engine) as s:
        before = _rows(s, project_id)
        for week in WEEKS:
            # The late run's week and every later one lose their row (budget trends look back over
            # all runs before a week's end); the earlier ones keep it.
            assert is_stored(s, project_id, week, settings) == (week < late_week), week
    assert _page(client, Week(2026, 6))[1]["analysis"]["weekly_parts"] == "computed"
    assert _page(client, Week(2026, 3))[1]["analysis"]["weekly_parts"] == "stored"

    run_once(engine)
    with Session(engine) as s:
        after = _rows(s, project_id)
        assert sorted(after) == sorted(before)
        for week in WEEKS:
            assert after[week.start.replace(tzinfo=None)] == _from_scratch(s, project_id, week), week
            assert is_stored(s, project_id, week, settings)
        # The late run's week counts one more run's results in its failures or pyramid.
        assert after[late_week.start.replace(tzinfo=None)] != before[late_week.start.replace(tzinfo=None)]

    # Other settings (another default budget) are other parts: not used, whatever the runs.
    other = replace(settings, budget_s=settings.budget_s + 1)
    with Session(engine) as s:
        assert stored_parts(s, project_id, Week(2026, 6), settings) is not None
        assert stored_parts(s, project_id, Week(2026, 6), other) is None
    # So is a suite's own budget (`suitehealth budget set`): the review shows it at once.
    with write_transaction(engine) as s:
        s.execute(update(Suite).where(Suite.project_id == project_id, Suite.name == "integration")
                  .values(budget_s=1.0))
    with Session(engine) as s:
        assert not is_stored(s, project_id, Week(2026, 6), settings)
    review = _page(client, Week(2026, 6))[1]
    assert review["analysis"]["weekly_parts"] == "computed"
    assert {x["suite"]: x["budget_s"] for x in review["suites"]}["integration"] == 1.0
    run_once(engine)
    with Session(engine) as s:
        assert is_stored(s, project_id, Week(2026, 6), settings)
        assert _rows(s, project_id)[Week(2026, 6).start.replace(tzinfo=None)]["budgets"]["integration"][
            "budget_s"] == 1.0

    # A deleted run also changes the fingerprint of every week whose lookback held it.
    with write_transaction(engine) as s:
        victim = s.scalar(select(Run.id).where(Run.project_id == project_id,
                                               Run.started_at >= Week(2026, 8).start,
                                               Run.started_at < Week(2026, 8).end).limit(1))
        s.execute(delete(Run).where(Run.id == victim))
    with Session(engine) as s:
        assert not is_stored(s, project_id, Week(2026, 8), settings)
        assert not is_stored(s, project_id, Week(2026, 9), settings)
        assert is_stored(s, project_id, Week(2026, 7), settings)

    # reindex forgets them (results are rewritten under the same run ids), with the week findings.
    with write_transaction(engine) as s:
        forget_stored_summaries(s, project_id)
    with Session(engine) as s:
        assert _rows(s, project_id) == {}
    assert week_parts.refresh_week_parts(engine, project_id) == len(WEEKS)
    assert week_parts.refresh_week_parts(engine, project_id) == 0  # up to date: nothing to do
