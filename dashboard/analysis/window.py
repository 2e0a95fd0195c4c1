"""The one time window every question is asked over: half-open ``[since, until)`` in UTC.

``since`` is the first moment included and ``until`` the first moment excluded; None leaves that side
open. Half-open windows tile: ISO week W is ``[Monday 00:00, next Monday 00:00)`` and the week after
starts where it ends, so no run is counted twice or lost between them, and "until" means one thing.

The pages' ``?since=YYYY-MM-DD&until=YYYY-MM-DD`` are a documented contract: both days are included
(``until`` names the last day shown). ``Window.from_dates`` converts them at the boundary, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dashboard.analysis.weeks import Week, week_of

_TICK = timedelta(microseconds=1)  # the finest step both databases store


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """``[since, until)``: aware UTC datetimes (naive ones are taken as UTC); None is unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", _utc(self.since))
        object.__setattr__(self, "until", _utc(self.until))

    @classmethod
    def from_dates(cls, since: date | None = None, until: date | None = None) -> Window:
        """The pages' ``?since=`` and ``?until=`` days, both included: ``[since 00:00, until+1 00:00)``."""
        return cls(None if since is None else _midnight(since),
                   None if until is None else _midnight(until + timedelta(days=1)))

    @classmethod
    def of_week(cls, week: Week) -> Window:
        """One ISO week: ``[Monday 00:00, next Monday 00:00)``."""
        return cls(week.start, week.end)

    @classmethod
    def weeks(cls, first: Week, last: Week) -> Window:
        """From the start of ``first`` to the end of ``last``."""
        return cls(first.start, last.end)

    @classmethod
    def before(cls, until: datetime | None) -> Window:
        """Everything before ``until`` (the whole history when None)."""
        return cls(None, until)

    def page_params(self) -> dict[str, str]:
        """The pages' ``since``/``until`` query values for this window (inverse of ``from_dates``).

        Only for windows made of whole UTC days; ``until`` names the last day included.
        """
        params = {}
        if self.since is not None:
            params["since"] = self.since.date().isoformat()
        if self.until is not None:
            params["until"] = (self.until - _TICK).date().isoformat()
        return params

    @property
    def last_moment(self) -> datetime | None:
        """The last moment inside the window, for queries that compare with ``<=``."""
        return None if self.until is None else self.until - _TICK

    @property
    def key(self) -> tuple:
        """A cache-key part (ISO strings: the same window, the same key)."""
        return (None if self.since is None else self.since.isoformat(),
                None if self.until is None else self.until.isoformat())

    def contains(self, moment: datetime | None) -> bool:
        """Whether ``moment`` falls in the window (None never does)."""
        if moment is None:
            return False
        moment = _utc(moment)
        return (self.since is None or moment >= self.since) and (self.until is None or moment < self.until)

    def week(self) -> Week:
        """The ISO week this window is exactly; ValueError for any other window."""
        if self.since is None:
            raise ValueError("an open window is not a week")
        week = week_of(self.since)
        if (self.since, self.until) != (week.start, week.end):
            raise ValueError(f"[{self.since}, {self.until}) is not one ISO week")
        return week


# The default of every question: the whole history (each question then picks its own recent span).
ALL_TIME = Window()
