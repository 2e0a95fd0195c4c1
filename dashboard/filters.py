"""Jinja filters and globals shared by every template."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from flask import Flask, request
from jinja2 import Environment
from markupsafe import Markup

from dashboard import shell

# Unicode bidi embeddings, overrides and isolates: in a test name they make text display in another
# order than it reads ("Trojan source"), so pages show them as visible escapes instead.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_NO_LINK = re.compile(r"[\x00-\x20\x7f-\x9f\s\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


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


def http_url(value: str | None) -> str | None:
    """Return ``value`` if it may become a link (an absolute http(s) URL), else None.

    Strict on purpose: browsers drop tabs and newlines inside a scheme (``java\tscript:``), so any
    whitespace or control character disqualifies the URL instead of being cleaned up.
    """
    if not value or not isinstance(value, str) or _NO_LINK.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def visible(value):
    """Show bidi control characters as ``<U+202E>`` so a name reads the way it is stored."""
    if isinstance(value, str) and not isinstance(value, Markup) and BIDI_CONTROLS.search(value):
        return BIDI_CONTROLS.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)
    return value


def register(env: Environment) -> None:
    """Add the request-free filters to a Jinja environment (the app's, or the weekly report's)."""
    # finalize runs on every {{ expression }} before autoescaping: untrusted names and messages are
    # printed in many templates, and none of them should be able to forget the bidi escape.
    env.finalize = visible
    env.filters.update(duration=duration, when=when, percent=percent, http_url=http_url,
                       visible=visible, shell_command=shell.command)


def init_app(app: Flask) -> None:
    register(app.jinja_env)
    app.jinja_env.globals.update(url_with=url_with)
