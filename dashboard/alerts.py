"""Alerts after new runs: a new flaky test, a new interference suspect, a suite newly over its budget.

Each event is announced once. Its key (kind + suite + test, or + victim and causes) is claimed in
``alerts_sent`` under a unique constraint before anything is sent, so two workers refreshing the same
project cannot both announce it. Every refresh then sends ONE message per project listing what is new,
so a team enabling alerts on an old project gets one digest, not a message per test. A claimed event
whose delivery failed stays unsent and goes out with the next refresh; an event that stopped being
true is forgotten, so it is news again if it comes back.

Destinations are those of the weekly review (``[tool.suitehealth.notify]``, see ``dashboard.notify``):
the webhooks by default; ``alerts = "all"`` adds mail, ``alerts = "off"`` silences alerts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.analysis import budget, flaky, interference
from dashboard.analysis.levels import ConfigError
from dashboard.notify import Delivery, Destinations, Message, deliver, destinations
from dashboard.settings import Settings
from dashboard.urls import Urls
from ingest.analysis_models import AlertSent
from ingest.db import write_transaction
from ingest.models import Project

log = logging.getLogger("suitehealth.alerts")

ALERT_MODES = ("webhooks", "all", "off")
# An announcement claimed but not marked sent after this long is retried (its delivery failed).
RETRY_AFTER = timedelta(minutes=5)
# Events keep relative paths; a message puts them under its base URL.
LINKS = Urls()


@dataclass(frozen=True)
class Event:
    kind: str  # "flaky" | "suspect" | "budget"
    key: str
    title: str
    path: str  # dashboard path of its evidence

    @property
    def key_hash(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()


def current_events(session: Session, project_id: int, project: str, *,
                   settings: Settings | None = None) -> list[Event]:
    """Every alert-worthy condition true now, read from the stored analyses."""
    events = [
        Event("flaky", f"flaky\0{t.suite}\0{t.nodeid}",
              f"{t.nodeid} ({t.suite}) is flaky: {t.flakes} flaky result{'s' if t.flakes != 1 else ''} "
              f"in {t.runs} runs", LINKS.test(project, t.nodeid))
        for t in flaky.flaky_tests(session, project_id) if t.status != "fixed"
    ]
    for s in interference.find_suspects(session, project_id):
        causes = " + ".join(s.polluters)
        events.append(Event(
            "suspect", f"suspect\0{s.suite}\0{s.victim}\0{s.kind}\0" + "\0".join(sorted(s.polluters)),
            f"{s.victim} fails when {causes} ran before it ({s.kind})" if s.kind == "polluter"
            else f"{s.victim}: suspect {causes} ({s.kind})",
            LINKS.project(project, "suspects")))
    for b in budget.suite_budgets(session, project_id, settings=settings):
        if b.status == "over":
            median = f"median {b.median_s:.0f} s" if b.median_s else "over"
            events.append(Event("budget", f"budget\0{b.suite}",
                                 f"suite {b.suite} is over its {b.budget_s:.0f} s budget ({median})",
                                 LINKS.budget(project, b.suite)))
    return events


ALERT_KINDS = ("flaky", "suspect", "budget")


def claim_new(session: Session, project_id: int, events: list[Event], now: datetime, *,
              kinds: tuple[str, ...] = ALERT_KINDS, forget: bool = True) -> list[Event]:
    """Record the events not yet announced and return them with any earlier unsent ones; forget the rest.

    Call inside a write transaction (``ingest.db.write_transaction``). Each new key is claimed in its
    own savepoint: a key another worker claimed first is skipped (it is that worker's to send).
    Only rows of ``kinds`` are considered; with ``forget`` those whose event is gone are deleted.
    """
    by_hash = {e.key_hash: e for e in events}
    known = {h: (sent_at, claimed_at) for h, sent_at, claimed_at in session.execute(
        select(AlertSent.key_hash, AlertSent.sent_at, AlertSent.first_seen_at)
        .where(AlertSent.project_id == project_id, AlertSent.kind.in_(kinds))).all()}
    gone = [h for h in known if h not in by_hash]
    if gone and forget:
        session.execute(delete(AlertSent).where(AlertSent.project_id == project_id,
                                                AlertSent.key_hash.in_(gone)))
    claimed = []
    for h, event in by_hash.items():
        if h in known:
            sent_at, claimed_at = known[h]
            # Unsent: its claimer's delivery failed, or it is still delivering. Take it over only
            # after RETRY_AFTER, renewing the claim (compare-and-set, so one worker wins).
            if sent_at is None and claimed_at <= now - RETRY_AFTER:
                taken = session.execute(update(AlertSent).where(
                    AlertSent.project_id == project_id, AlertSent.key_hash == h,
                    AlertSent.sent_at.is_(None), AlertSent.first_seen_at == claimed_at,
                ).values(first_seen_at=now))
                if taken.rowcount == 1:
                    claimed.append(event)
            continue
        try:
            with session.begin_nested():
                session.add(AlertSent(project_id=project_id, key_hash=h, kind=event.kind,
                                      title=event.title[:2000], first_seen_at=now))
        except IntegrityError:
            continue
        claimed.append(event)
    return claimed


def alert_message(project: str, events: list[Event], base_url: str) -> Message:
    urls = Urls(base_url)
    kinds = {"flaky": "new flaky test", "suspect": "new interference suspect", "budget": "suite over budget"}
    lines = [f"**suitehealth: {len(events)} new problem{'s' if len(events) != 1 else ''} in {project}**", ""]
    for e in events:
        lines.append(f"- {kinds[e.kind]}: {e.title} — {urls.path(e.path)}")
    markdown = "\n".join(lines) + "\n"
    html_items = "".join(f"<li>{_html(kinds[e.kind])}: {_html(e.title)} — "
                         f"<a href=\"{_html(urls.path(e.path))}\">evidence</a></li>" for e in events)
    return Message(
        subject=f"suitehealth: {len(events)} new problem{'s' if len(events) != 1 else ''} in {project}",
        markdown=markdown, html=f"<!doctype html><html><body><ul>{html_items}</ul></body></html>",
        data={"project": project, "events": [
            {"kind": e.kind, "title": e.title, "url": urls.path(e.path)} for e in events]},
        url=urls.project(project), event="alert")


def _html(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def alert_destinations(settings: Mapping) -> Destinations:
    notify = settings.get("notify")
    mode = notify.get("alerts", "webhooks") if isinstance(notify, Mapping) else "webhooks"
    if mode not in ALERT_MODES:
        raise ConfigError(f"notify.alerts must be one of {', '.join(ALERT_MODES)}, not {mode!r}")
    dest = destinations(settings)
    if mode == "off":
        return Destinations()
    return dest if mode == "all" else Destinations(dest.webhooks)


def send_alerts(engine: Engine, project_id: int, *, settings: Settings, base_url: str | None = None,
                now: datetime | None = None) -> list[Delivery]:
    """Announce what is new in ``project_id`` (one message); return the deliveries made (may be none).

    Reads the stored analyses, claims the new events in a short write transaction (BEGIN IMMEDIATE
    on SQLite, the unique constraint on PostgreSQL), sends after the commit, then marks them sent.
    """
    dest = alert_destinations(settings.table)
    if not dest:
        return []
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        project = session.get(Project, project_id).name
        events = current_events(session, project_id, project, settings=settings)
    with write_transaction(engine) as session:
        fresh = claim_new(session, project_id, events, now)
    if not fresh:
        return []
    base = settings.report_urls().base if base_url is None else base_url
    outcomes = deliver(dest, alert_message(project, fresh, base))
    if any(o.ok for o in outcomes):
        mark_sent(engine, project_id, fresh, now)
    return outcomes


def mark_sent(engine: Engine, project_id: int, events: list[Event], now: datetime) -> None:
    """Record that claimed ``events`` reached a destination (so they are not retried)."""
    with write_transaction(engine) as session:
        session.execute(update(AlertSent).where(
            AlertSent.project_id == project_id, AlertSent.key_hash.in_([e.key_hash for e in events]),
        ).values(sent_at=now))


def announce(engine: Engine, project_id: int, settings: Settings | None = None) -> list[Delivery]:
    """The worker's hook after it analysed new runs: send this project's alerts, never raise.

    ``settings`` (default: from the environment): the config file holds the destinations, the base
    URL makes the links absolute, the app's budget is the default budget.
    """
    try:
        settings = settings or Settings.from_environment()
        outcomes = send_alerts(engine, project_id, settings=settings)
    except Exception:  # alerts must never stop the analyses
        log.exception("project %s: sending alerts failed", project_id)
        return []
    for outcome in outcomes:
        (log.info if outcome.ok else log.warning)("project %s: alert %s: %s (%s)", project_id,
                                                  "sent" if outcome.ok else "FAILED",
                                                  outcome.destination, outcome.detail)
    return outcomes
