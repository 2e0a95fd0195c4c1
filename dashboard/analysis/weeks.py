"""ISO weeks in UTC: the unit of the weekly review ("2026-W47" = Monday 00:00 to the next Monday)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_WEEK_RE = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Week:
    """One ISO week; ``start`` is inclusive and ``end`` exclusive (both UTC midnights)."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    def shifted(self, weeks: int) -> Week:
        """Return the week ``weeks`` later (negative: earlier)."""
        return week_of(self.start + timedelta(weeks=weeks))

    @property
    def previous(self) -> Week:
        return self.shifted(-1)

    @property
    def next(self) -> Week:
        return self.shifted(1)

    def __str__(self) -> str:
        return self.label


def parse_week(text: str) -> Week:
    """Parse "2026-W07" (or "2026W7"); raise ValueError naming the expected form."""
    match = _WEEK_RE.match(text.strip())
    if not match:
        raise ValueError(f"week must look like 2026-W07, not {text!r}")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1970 <= year <= 2999:  # the weeks around year 1 and 9999 overflow Python's date
        raise ValueError(f"the year must be between 1970 and 2999, not {year}")
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no ISO week {number}") from None
    return Week(year, number)


def week_of(moment: datetime | date) -> Week:
    """Return the ISO week containing ``moment`` (datetimes are taken in UTC)."""
    if isinstance(moment, datetime):
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()
    year, number, _ = moment.isocalendar()
    return Week(year, number)


def last_complete_week(now: datetime | None = None) -> Week:
    """Return the most recent ISO week that has ended by ``now`` (default: the current time)."""
    return week_of(now or datetime.now(UTC)).previous
