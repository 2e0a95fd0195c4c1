"""Lenient readers for the numbers and timestamps real reports contain."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

# Test durations above this many seconds are nanoseconds in disguise (container-structure-test).
_NANOSECONDS_ABOVE = 1e7
# The sane range of a stored duration: no test, phase or session of a CI job runs longer than a
# week. Larger values (1e308 s, 999…9 s) are corrupt, and would make every sum and chart absurd.
MAX_DURATION_S = 7 * 24 * 3600.0
# The sane range of a stored moment: the Unix epoch to a day from now (clock skew between CI hosts).
# Outside it, Python's datetime overflows (year 0, year 10000) or the run lands far from its history.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d*)?$")
# Placeholder timestamps some tools write when they know no time (Go's zero time, the epoch).
_PLACEHOLDER_BEFORE = datetime(1971, 1, 1, tzinfo=UTC)


def parse_seconds(value: str | None) -> float | None:
    """Return seconds from ``"1.5"``, ``"0."``, ``"2,503.1"``, ``"4.5e-05"``; None if unusable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        text = value.strip().rstrip("s")
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        elif text.count(",") == 1 and "." not in text:  # decimal comma ("0,5")
            text = text.replace(",", ".")
        try:
            seconds = float(text)
        except ValueError:
            return None
    if seconds < 0 or not math.isfinite(seconds):
        return None
    if seconds > _NANOSECONDS_ABOVE:
        seconds /= 1e9
    return seconds if seconds <= MAX_DURATION_S else None


def parse_timestamp(value: str | None) -> datetime | None:
    """Return an aware UTC datetime from the timestamp forms reports use; None if unusable.

    Accepts ISO 8601 with or without zone (no zone = UTC), a space instead of ``T``, ``T 12:40``,
    a trailing `` UTC``/``Z``, any number of fractional digits, and RFC 1123 (``Sat, 03 Dec 2022 ...``).
    """
    if not value:
        return None
    text = value.strip()
    if not text:
        return None
    parsed = _iso(text)
    if parsed is None:
        # Imported here: email.utils costs ~10 ms CPU of every start-up, and RFC 2822 dates are rare.
        from email.utils import parsedate_to_datetime

        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    parsed = utc_in_range(parsed)
    return None if parsed is None or parsed < _PLACEHOLDER_BEFORE else parsed


def _iso(text: str) -> datetime | None:
    text = re.sub(r"\s*(UTC|GMT)$", "Z", text)
    text = re.sub(r"^(\d{4}-\d{2}-\d{2})[T ]\s*", r"\1T", text)
    # Python reads 1-6 fractional digits only; pad or cut to 6 (nanoseconds from Go/.NET).
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def utc_in_range(value: datetime, now: datetime | None = None) -> datetime | None:
    """Return ``value`` in UTC (naive = UTC) if it lies between 1970 and now + 1 day, else None.

    Converting year-1 or year-9999 moments with an offset overflows (0001-01-01T00:00+14:00 is in
    year 0), so the conversion itself is guarded.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    latest = (now or datetime.now(UTC)) + FUTURE_SLACK
    return value if EARLIEST <= value <= latest else None


def seconds_in_range(value) -> float | None:
    """Return a duration as float if it is a real number of seconds in [0, a week], else None.

    JSON numbers arrive here (json.loads reads NaN and Infinity too); strings and booleans are
    not numbers, and an absurd value is unknown rather than a week of time.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # a 400-digit JSON integer
        return None
    return seconds if 0.0 <= seconds <= MAX_DURATION_S else None  # NaN fails both comparisons


def epoch_in_range(value, now: datetime | None = None) -> float | None:
    """Return Unix time as float if it is a real number between 1970 and now + 1 day, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        moment = float(value)
    except OverflowError:
        return None
    latest = ((now or datetime.now(UTC)) + FUTURE_SLACK).timestamp()
    return moment if 0.0 <= moment <= latest else None


def epoch(value: datetime | None) -> float | None:
    """Return the Unix time of ``value`` (None stays None)."""
    return value.timestamp() if value is not None else None
