"""The weekly review, delivered on schedule by the worker (no cron job needed).

``[tool.suitehealth.notify]`` sets when: ``weekly_at = "Mon 08:00"`` (the default once any destination
is configured; ``"off"`` turns it off) in ``timezone = "Europe/Berlin"`` (default UTC), the team's
local time. From that moment on, the worker sends each active project's review of the last complete
ISO week once: the week is claimed in ``alerts_sent`` (key "weekly" + week) like an alert, so several
workers never send it twice and a failed delivery is retried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.alerts import Event, claim_new, mark_sent
from dashboard.analysis.levels import ConfigError
from dashboard.analysis.weeks import Week, last_complete_week
from dashboard.analysis.window import Window
from dashboard.notify import Delivery, Message, deliver, destinations
from dashboard.settings import Settings
from ingest.analysis_models import AlertSent
from ingest.db import write_transaction
from ingest.models import Project, Run

log = logging.getLogger("suitehealth.weekly")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_AT = "Mon 08:00"


def weekly_message(review, base_url: str) -> Message:
    """The review as one Message: Markdown for chat and mail text, HTML for mail, JSON for hooks."""
    from dashboard.urls import Urls
    from dashboard.weekly_render import render_html, render_markdown, review_json

    url = Urls(base_url).weekly(review.project, review.week)
    return Message(subject=f"Suite health {review.week}: {review.project}",
                   markdown=render_markdown(review, base_url), html=render_html(review, base_url),
                   data={"review": review_json(review, base_url)}, url=url)


def schedule(settings: Mapping) -> tuple[int, int, int, ZoneInfo] | None:
    """Return (weekday 0=Monday, hour, minute, zone), or None when scheduled delivery is off."""
    notify = settings.get("notify") or {}
    if not isinstance(notify, Mapping) or not destinations(settings):
        return None
    at = str(notify.get("weekly_at", DEFAULT_AT)).strip().lower()
    if at == "off":
        return None
    match = re.fullmatch(r"(mon|tue|wed|thu|fri|sat|sun)\w*\s+(\d{1,2}):(\d{2})", at)
    if not match or int(match.group(2)) > 23 or int(match.group(3)) > 59:
        raise ConfigError(f'notify.weekly_at must look like "Mon 08:00" or be "off", not {at!r}')
    try:
        zone = ZoneInfo(str(notify.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"notify.timezone: unknown time zone {notify.get('timezone')!r}") from None
    return DAYS.index(match.group(1)), int(match.group(2)), int(match.group(3)), zone


def due_week(now: datetime, weekday: int, hour: int, minute: int, zone: ZoneInfo) -> Week:
    """The latest week whose review is due at ``now``.

    Week W (Monday–Sunday UTC) is due from ``weekday`` ``hour:minute`` local time in the week after it;
    before that moment, the week before it is still the latest due one.
    """
    week = last_complete_week(now)
    day = week.first_day + timedelta(days=7 + weekday)
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return week if now >= moment else week.previous


def send_due_reviews(engine: Engine, settings: Settings,
                     now: datetime | None = None) -> list[tuple[str, Delivery]]:
    """Send every active project's review that is due and not sent yet; return (project, delivery)."""
    from dashboard.analysis.weekly import cached_weekly_review

    now = now or datetime.now(UTC)
    when = schedule(settings.table)
    if when is None:
        return []
    week = due_week(now, *when)
    dest = destinations(settings.table)
    base_url = settings.report_urls().base
    # Projects with runs in the week or the one before.
    since, until = week.previous.start, week.end
    sent: list[tuple[str, Delivery]] = []
    with Session(engine) as session:
        # Projects with runs in the week or the one before: a review of a dead project says nothing.
        active = session.execute(
            select(Project.id, Project.name).join(Run, Run.project_id == Project.id)
            .where(Run.started_at >= since, Run.started_at < until)
            .group_by(Project.id, Project.name).order_by(Project.name)
            .having(func.count(Run.id) > 0)).all()
        # Read first: on every pass but the first after the moment, everything is claimed already,
        # and this check must not take SQLite's write lock every few seconds.
        event = Event("weekly", f"weekly\0{week.label}", f"weekly review {week.label}", "")
        claimed = set(session.scalars(select(AlertSent.project_id).where(
            AlertSent.kind == "weekly", AlertSent.key_hash == event.key_hash,
            AlertSent.sent_at.is_not(None))))
    for project_id, name in active:
        if project_id in claimed:
            continue
        with write_transaction(engine) as session:
            if not claim_new(session, project_id, [event], now, kinds=("weekly",), forget=False):
                continue
        with Session(engine) as session:
            review = cached_weekly_review(session, project_id, Window.of_week(week), settings)
        outcomes = deliver(dest, weekly_message(review, base_url))
        if any(o.ok for o in outcomes):
            mark_sent(engine, project_id, [event], now)
        sent.extend((name, o) for o in outcomes)
    return sent


def send_due_reviews_safely(engine: Engine, settings: Settings | None = None) -> None:
    """The worker's hook, called on every pass: cheap when nothing is due; never raises."""
    try:
        settings = settings or Settings.from_environment()
        for project, outcome in send_due_reviews(engine, settings):
            (log.info if outcome.ok else log.warning)("%s: weekly review %s: %s (%s)", project,
                                                      "sent" if outcome.ok else "FAILED",
                                                      outcome.destination, outcome.detail)
    except Exception:
        log.exception("sending the weekly reviews failed")

