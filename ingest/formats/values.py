"""Lenient readers for the numbers and timestamps real reports contain."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Test durations above this many seconds are nanoseconds in disguise (container-structure-test).
_NANOSECONDS_ABOVE = 1e7
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
    return seconds


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
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return None if parsed < _PLACEHOLDER_BEFORE else parsed


def _iso(text: str) -> datetime | None:
    text = re.sub(r"\s*(UTC|GMT)$", "Z", text)
    text = re.sub(r"^(\d{4}-\d{2}-\d{2})[T ]\s*", r"\1T", text)
    # Python reads 1-6 fractional digits only; pad or cut to 6 (nanoseconds from Go/.NET).
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def epoch(value: datetime | None) -> float | None:
    """Return the Unix time of ``value`` (None stays None)."""
    return value.timestamp() if value is not None else None
