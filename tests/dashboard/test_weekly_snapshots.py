"""The weekly review's as-of findings the worker stores at week boundaries (``week_findings``).

They equal a replay of the history from scratch after many incremental worker passes, the review
(page, JSON twin, Markdown) is the same with and without them, a stored value is what the page
shows, and a late run (started before a stored boundary) makes the later boundaries replay again
until the worker stores them anew. Both backends.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from weekly_history import (
    BROKEN,
    DAYS,
    FIRST_DAY,
    POLLUTER,
    PROJECT,
    RETRY,
    TIMEOUT,
    VICTIM,
    WEEKS,
    _integration_cases,
    _store,
    _unit_cases,
)

from dashboard.analysis import flaky, history, interference, run_cache, week_findings
from dashboard.analysis.confirmations import record_verdict
from dashboard.analysis.updates import refresh_project
from dashboard.analysis.week_findings import WeekFindings, stored_findings, wanted_boundaries, with_suspects
from dashboard.analysis.weekly import find_project, weekly_review
from dashboard.analysis.weeks import Week
from dashboard.analysis.window import Window
from dashboard.weekly_render import render_markdown, review_json
from dashboard.worker import run_once
from ingest.analysis_models import WeekFindingsRow
from ingest.db import write_transaction
from ingest.models import Project
from ingest.records import CaseRecord

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # long after the history: every week is complete
REVIEWED = [Week(2026, n) for n in (3, 5, 6, 8, 9)]


def _project_id(engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(Project.id).where(Project.name == PROJECT))


def _build_incrementally(engine, *, refresh_every: int = 3) -> int:
    """Store weekly_history's runs day by day, running the worker's refresh every few days."""
    rng = random.Random(20260105)
    polluted: list[int] = []
    project_id = None
    for day in range(DAYS):
        when = FIRST_DAY + timedelta(days=day, hours=6)
        _store(engine, "unit", when, day, _unit_cases(day), seed=None)
        for slot in range(2):
            seed = str(rng.randrange(10**9))
            _store(engine, "integration", when + timedelta(hours=6 * (slot + 1)), day,
                   _integration_cases(day, slot, random.Random(seed), polluted), seed=seed)
        project_id = project_id or _project_id(engine)
        if day % refresh_every == refresh_every - 1:
            refresh_project(engine, project_id)
    refresh_project(engine, project_id)
    return project_id


def _replayed(session: Session, project_id: int, boundary: datetime) -> dict:
    """The findings at ``boundary`` as the until= path computes them from scratch, in stored form
    (suspects at Mondays only, as stored)."""
    history._AS_OF.clear()
    before = Window.before(boundary)
    suspects, notes = (interference.suspects_and_notes(session, project_id, before) if with_suspects(boundary)
                       else (None, None))
    found = WeekFindings(boundary, flaky.flaky_tests(session, project_id, before),
                         flaky.broken_tests(session, project_id, before), suspects, notes)
    return json.loads(json.dumps(found.to_json()))


def _stored_rows(session: Session, project_id: int) -> dict[datetime, dict]:
    rows = session.execute(select(WeekFindingsRow.boundary, WeekFindingsRow.findings)
                           .where(WeekFindingsRow.project_id == project_id)).all()
    return {boundary: findings for boundary, findings in rows}


def _reviews(engine, project_id: int) -> dict[str, tuple[dict, str]]:
    """Each reviewed week's JSON and Markdown, built with no cache."""
    run_cache.clear()
    history._AS_OF.clear()
    out = {}
    with Session(engine) as s:
        for week in REVIEWED:
            review = weekly_review(s, project_id, Window.of_week(week), now=NOW)
            out[week.label] = (review_json(review, "https://h.example"), render_markdown(review, "https://h.example"))
    return out


def _page(client, week: Week) -> tuple[str, dict]:
    run_cache.clear()
    history._AS_OF.clear()
    html = client.get(f"/projects/{PROJECT}/weekly?week={week.label}")
    api = client.get(f"/api/v1/projects/{PROJECT}/weekly?week={week.label}")
    assert html.status_code == 200 and api.status_code == 200
    return html.get_data(as_text=True), api.get_json()


def _words(html: str) -> str:
    return " ".join(html.split())


NOTE = re.compile(r'<p class="notice analysis-status".*?</p>', re.S)


def test_stored_findings_after_incremental_passes_equal_a_replay_from_scratch(engine):
    project_id = _build_incrementally(engine)
    with Session(engine) as s:
        stored = _stored_rows(s, project_id)
        runs = history.iter_runs(s, project_id)
        wanted = wanted_boundaries(runs, NOW)
        # Every midnight from the first week's start to the week after the last one: the Mondays
        # with suspects, the other days with the flaky and broken tests only.
        assert wanted == [WEEKS[0].start + timedelta(days=d) for d in range(7 * len(WEEKS) + 1)]
        assert [b for b in wanted if with_suspects(b)] == [w.start for w in WEEKS] + [WEEKS[-1].end]
        assert sorted(stored) == wanted
        for boundary in wanted:
            assert stored[boundary] == _replayed(s, project_id, boundary), boundary
            assert stored_findings(s, project_id, boundary) is not None
        # The history's planted findings are in there, so the comparison compared something.
        last = stored[WEEKS[-1].end]
        assert {f["nodeid"] for f in last["flaky"]} >= {TIMEOUT, VICTIM}
        assert [b["nodeid"] for b in last["broken"]] == [BROKEN]
        assert any(s_["victim"] == VICTIM and POLLUTER in s_["polluters"] for s_ in last["suspects"])
        first = WEEKS[0].start
        assert stored[first] == {"format": week_findings.FORMAT, "boundary": first.isoformat(),
                                 "flaky": [], "broken": [], "suspects": [], "notes": []}


def test_review_is_identical_with_and_without_stored_findings_and_uses_them(engine, client):
    project_id = _build_incrementally(engine, refresh_every=7)
    # `suitehealth confirm` verdicts apply to stored and replayed suspects alike: one proving the
    # detected polluter, one proving a cause of a victim the history could not explain.
    with write_transaction(engine) as s:
        record_verdict(s, project_id, victim=VICTIM, kind="polluter", tested=[POLLUTER], culprits=[POLLUTER],
                       verdict="proven", recorded_at=Week(2026, 8).start + timedelta(days=3))
        record_verdict(s, project_id, victim=TIMEOUT, kind="polluter", tested=[RETRY], culprits=[RETRY],
                       verdict="proven", recorded_at=Week(2026, 6).start + timedelta(days=1))
    with_rows = _reviews(engine, project_id)
    pages = {w.label: _page(client, w) for w in REVIEWED}
    for html, api in pages.values():
        assert api["analysis"]["weekly_findings"] == "stored"
        assert not NOTE.search(html)
    flaky_urls = [f"/api/v1/projects/{PROJECT}/flaky?until={w.last_day.isoformat()}{q}"
                  for w in REVIEWED for q in ("", "&suite=unit", "&suite=integration")]
    # Any day of a complete week (its midnights are stored too), and the suspects at a week's end.
    flaky_urls += [f"/api/v1/projects/{PROJECT}/flaky?until={(w.first_day + timedelta(days=2)).isoformat()}"
                   for w in REVIEWED]
    flaky_urls += [f"/api/v1/projects/{PROJECT}/suspects?until={w.last_day.isoformat()}{q}"
                   for w in REVIEWED for q in ("", f"&since={w.first_day.isoformat()}")]
    # A range: the stored findings at its end, keeping what was seen since its start, as a replay does.
    flaky_urls += [f"/api/v1/projects/{PROJECT}/flaky?until={w.last_day.isoformat()}&since={since}"
                   for w in REVIEWED for since in (w.first_day.isoformat(), "2026-01-20")]
    flaky_pages = {url: client.get(url).get_json() for url in flaky_urls}

    with write_transaction(engine) as s:
        s.execute(delete(WeekFindingsRow).where(WeekFindingsRow.project_id == project_id))
    without = _reviews(engine, project_id)
    assert without == with_rows
    # Nothing was stored by reading.
    with Session(engine) as s:
        assert _stored_rows(s, project_id) == {}
    for week in REVIEWED:
        html, api = _page(client, week)
        assert api["analysis"]["weekly_findings"] == "computed"
        assert "has not stored this" in NOTE.search(html).group(0)
        assert _words(NOTE.sub("", html)) == _words(pages[week.label][0])
        # The same review, but for the note and the moment each was generated.
        assert {k: v for k, v in api.items() if k not in ("analysis", "generated_at")} == {
            k: v for k, v in pages[week.label][1].items() if k not in ("analysis", "generated_at")}
    for url in flaky_urls:  # ?until= a week's last day: the same list from the replay
        history._AS_OF.clear()
        assert client.get(url).get_json() == flaky_pages[url], url
    assert any(page.get("tests") for page in flaky_pages.values())
    assert any(page.get("broken") for page in flaky_pages.values())
    assert any(page.get("suspects") for page in flaky_pages.values())
    # The planted W08 findings are in the review both ways.
    review = with_rows["2026-W08"][0]
    assert {f["nodeid"] for f in review["new_flaky"]} == {VICTIM}
    assert any(s_["victim"] == VICTIM and s_["tier"] == "proven" for s_ in review["new_suspects"])
    assert any(s_["victim"] == TIMEOUT and s_["tier"] == "proven"
               for json_, _ in with_rows.values() for s_ in json_["new_suspects"] or [])

    # A hand-edited stored value is what the page shows: the page reads the stored findings.
    run_once(engine)
    with Session(engine) as s:
        boundary = Week(2026, 8).end
        row = _stored_rows(s, project_id)[boundary]
    marker = "tests/unit/test_hand_edited.py::test_only_in_the_stored_row"
    edited = json.loads(json.dumps(row))
    edited["flaky"].append({**edited["flaky"][0], "nodeid": marker, "status": "flaky"})
    edited["notes"].append({"victim": marker, "suite": "unit", "failures": 2, "runs": 9,
                            "note": "its order never changed"})
    with write_transaction(engine) as s:
        s.execute(update(WeekFindingsRow).where(WeekFindingsRow.project_id == project_id,
                                                WeekFindingsRow.boundary == boundary)
                  .values(findings=edited))
    html, api = _page(client, Week(2026, 8))
    assert marker in {f["nodeid"] for f in api["new_flaky"]}
    assert marker in html
    assert api["analysis"]["weekly_findings"] == "stored"
    sunday = Week(2026, 8).last_day.isoformat()
    listed = client.get(f"/api/v1/projects/{PROJECT}/flaky?until={sunday}").get_json()
    assert marker in {t["nodeid"] for t in listed["tests"]}
    suspects = client.get(f"/api/v1/projects/{PROJECT}/suspects?until={sunday}").get_json()
    assert marker in {n["victim"] for n in suspects["undecidable"]}


def test_a_late_run_invalidates_later_boundaries_until_the_worker_stores_them_again(engine, client):
    from dashboard import create_app

    project_id = _build_incrementally(engine, refresh_every=5)
    late_at = Week(2026, 5).start + timedelta(days=2, hours=1)
    with Session(engine) as s:
        before = _stored_rows(s, project_id)
    # A server whose history is "too big to replay" (REPLAY_LIMIT 10 results): what it showed before.
    big = create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                      "REPLAY_LIMIT": 10}).test_client()
    shown = _page(big, Week(2026, 6))[1]
    assert shown["analysis"]["weekly_findings"] == shown["analysis"]["weekly_parts"] == "stored"
    # A run of W05 uploaded now (after every later week was stored): test_timeout fails in it.
    cases = [CaseRecord(nodeid=n, outcome="failed" if n == TIMEOUT else "passed",
                        message="TimeoutError: late" if n == TIMEOUT else None, duration_s=0.05,
                        file=n.split("::")[0], markers=("unit",))
             for n in (c.nodeid for c in _unit_cases(16))]
    _store(engine, "unit", late_at, 16, cases, seed=None)
    with Session(engine) as s:
        for boundary in before:
            valid = stored_findings(s, project_id, boundary) is not None
            assert valid == (boundary <= late_at), boundary
    html, api = _page(client, Week(2026, 6))
    assert api["analysis"]["weekly_findings"] == "computed"
    assert NOTE.search(html)
    assert _page(client, Week(2026, 3))[1]["analysis"]["weekly_findings"] == "stored"
    # Too big to replay: the rows being stored again are shown as they were, and the page says so.
    html, api = _page(big, Week(2026, 6))
    assert api["analysis"]["weekly_findings"] == api["analysis"]["weekly_parts"] == "stale"
    assert "shown as it was stored until the worker stores it again" in _words(NOTE.search(html).group(0))
    # What the rows hold is shown as before the late run; the run totals (counted per request) move.
    stored_keys = ("new_flaky", "no_longer_flaky", "broken", "new_suspects", "slower_tests", "slowest_tests",
                   "pyramid", "skip_surges", "count_drops")
    assert {k: api[k] for k in stored_keys} == {k: shown[k] for k in stored_keys}
    assert api["runs_before"] == shown["runs_before"] + 1  # the late run, in W05

    run_once(engine)  # the worker: analyses the late run, drops and stores the later boundaries again
    with Session(engine) as s:
        after = _stored_rows(s, project_id)
        assert sorted(after) == sorted(before)
        for boundary in after:
            assert after[boundary] == _replayed(s, project_id, boundary), boundary
            if boundary <= late_at:
                assert after[boundary] == before[boundary]
        # The late failure counts from the first midnight after it on (a day boundary of W05).
        changed = [b for b in after if after[b] != before[b]]
        assert changed and min(changed) == late_at.replace(hour=0) + timedelta(days=1)
    assert _page(client, Week(2026, 6))[1]["analysis"]["weekly_findings"] == "stored"
    # Stored again, the big server shows the late run's week as the replay does.
    restored = _page(big, Week(2026, 6))[1]
    assert restored["analysis"]["weekly_findings"] == restored["analysis"]["weekly_parts"] == "stored"
    same = ("analysis", "generated_at")
    assert {k: v for k, v in restored.items() if k not in same} == {
        k: v for k, v in _page(client, Week(2026, 6))[1].items() if k not in same}


def test_an_upgraded_database_gets_its_findings_on_the_workers_first_pass(engine):
    project_id = _build_incrementally(engine, refresh_every=DAYS)
    with write_transaction(engine) as s:  # as after the 0006 migration: analysed, nothing stored
        s.execute(delete(WeekFindingsRow))
    with Session(engine) as s:
        assert find_project(s, PROJECT) is not None
        assert all(stored_findings(s, project_id, w.end) is None for w in WEEKS)
    run_once(engine)
    with Session(engine) as s:
        stored = _stored_rows(s, project_id)
        assert sorted(stored) == [WEEKS[0].start + timedelta(days=d) for d in range(7 * len(WEEKS) + 1)]
        for boundary in (Week(2026, 4).end, WEEKS[-1].end):
            assert stored[boundary] == _replayed(s, project_id, boundary)


def test_the_worker_stores_the_boundaries_of_the_recent_weeks_with_runs():
    start = datetime(2025, 1, 6, 9, tzinfo=UTC)  # a Monday
    # A run every 3 days for 40 weeks, then a gap of 5 weeks and one last run.
    runs = [history.RunInfo(i + 1, 1, start + timedelta(days=3 * i), None, 10, 0) for i in range(94)]
    runs.append(history.RunInfo(95, 1, runs[-1].started_at + timedelta(weeks=5), None, 10, 0))
    newest = Week(*runs[-1].started_at.isocalendar()[:2])
    settled = newest.end + week_findings.SETTLE
    found = wanted_boundaries(runs, now=settled)
    recent = newest.shifted(-week_findings.DAILY_WEEKS).start
    busy = {Week(*r.started_at.isocalendar()[:2]) for r in runs}
    mondays = {b for w in busy for b in (w.start, w.end)}
    days = {w.start + timedelta(days=d) for w in busy if w.start >= recent for d in range(8)}
    assert found == sorted(mondays | days)
    # Every week's Mondays, with the suspects; the other midnights of the recent weeks only.
    assert [b for b in found if with_suspects(b)] == sorted(mondays)
    assert min(b for b in found if not with_suspects(b)) > recent
    assert found[0] == runs[0].started_at.replace(hour=0) and found[-1] == newest.end
    # Not before runs started just before it had time to arrive; the newest week's days neither.
    assert wanted_boundaries(runs, now=settled - timedelta(seconds=1))[-1] == newest.start
    assert wanted_boundaries([], now=settled) == []


def test_an_as_of_day_beyond_the_replay_limit_answers_for_the_nearest_stored_point_and_says_so(engine):
    from dashboard import create_app

    project_id = _build_incrementally(engine, refresh_every=7)
    monday = Week(2026, 5).start
    # The worker stored every midnight of W05; drop Tuesday..Sunday so Thursday's is missing.
    with write_transaction(engine) as s:
        s.execute(delete(WeekFindingsRow).where(
            WeekFindingsRow.project_id == project_id, WeekFindingsRow.boundary > monday,
            WeekFindingsRow.boundary < Week(2026, 5).end))
    url = engine.url.render_as_string(hide_password=False)
    small = create_app({"DATABASE_URL": url, "TESTING": True, "REPLAY_LIMIT": 10}).test_client()
    roomy = create_app({"DATABASE_URL": url, "TESTING": True}).test_client()
    thursday = "2026-01-29"  # ?until= a day: everything up to its end, the next midnight
    sunday_before = "2026-01-25"  # its end is that Monday, a stored point
    for kind, key in (("flaky", "tests"), ("suspects", "suspects")):
        history._AS_OF.clear()
        snapped = small.get(f"/api/v1/projects/{PROJECT}/{kind}?until={thursday}").get_json()
        assert snapped["as_of"]["exact"] is False
        assert snapped["as_of"]["answered"].startswith(monday.date().isoformat())
        assert "nearest point the analysis worker stored" in snapped["as_of"]["message"]
        at_monday = small.get(f"/api/v1/projects/{PROJECT}/{kind}?until={sunday_before}").get_json()
        assert at_monday["as_of"]["exact"] is True and at_monday["as_of"]["message"] is None
        assert snapped[key] == at_monday[key]
        html = small.get(f"/projects/{PROJECT}/{kind}?until={thursday}").get_data(as_text=True)
        assert "nearest point the analysis worker stored" in html
        # Within the limit the same question is replayed exactly, and the page says nothing.
        history._AS_OF.clear()
        exact = roomy.get(f"/api/v1/projects/{PROJECT}/{kind}?until={thursday}").get_json()
        assert exact["as_of"]["exact"] is True and exact["as_of"]["answered"].startswith("2026-01-30")
        assert "nearest point" not in roomy.get(f"/projects/{PROJECT}/{kind}?until={thursday}").get_data(
            as_text=True)
    # W05's Thursday is a different moment: the planted test_timeout failures of W05 count by then.
    exact_flaky = roomy.get(f"/api/v1/projects/{PROJECT}/flaky?until={thursday}").get_json()["tests"]
    snapped_flaky = small.get(f"/api/v1/projects/{PROJECT}/flaky?until={thursday}").get_json()["tests"]
    assert exact_flaky != snapped_flaky
