"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from flask import Flask, request


def duration(seconds: float | None) -> str:
    """Human duration: 850 ms, 12.3 s, 4 m 05 s, 1 h 02 m."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} m {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} m"


def when(value: datetime | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def url_with(**changes) -> str:
    """The current URL with some query parameters changed (None removes one)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return request.path + ("?" + urlencode(args) if args else "")


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(duration=duration, when=when, percent=percent)
    app.jinja_env.globals.update(url_with=url_with)
