"""Dashboard settings: defaults, then SUITEHEALTH_* environment variables, then the factory's dict."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from ingest.errors import SettingError

DEFAULTS: dict = {
    # None means ingest.db's default resolution ($SUITEHEALTH_DATABASE_URL, then sqlite:///suitehealth.db).
    "DATABASE_URL": None,
    # Wall-time budget for a suite without its own, in seconds (the 5-minute rule).
    "BUDGET_S": 300.0,
    # Results an as-of page (?until= a day the analysis worker has not stored) may replay per request;
    # beyond it, the page shows the nearest stored point before that day and says so.
    "REPLAY_LIMIT": 100_000,
    # Rows per page by default, and the most a client may ask for with ?limit=.
    "PAGE_SIZE": 50,
    "MAX_LIMIT": 1000,
    # Where the level rules ([tool.suitehealth] in pyproject.toml or suitehealth.toml) are read from.
    "CONFIG_FILE": None,
    # Uncompressed size limit of one uploaded report, in bytes.
    "MAX_REPORT_BYTES": 200 * 1024 * 1024,
    # Uncompressed bytes all reports of one upload may expand to together (0: MAX_REPORT_BYTES).
    "MAX_UPLOAD_EXPANDED_BYTES": 0,
    # Public base URL used in links of the weekly report and upload answers (None: relative links;
    # never the request's Host header, which anyone can set).
    "BASE_URL": None,
    # Host names this server answers to (comma-separated in SUITEHEALTH_TRUSTED_HOSTS); any other Host
    # header gets a 400, and absolute links may then use the request's host when BASE_URL is unset.
    "TRUSTED_HOSTS": None,
    # Who may read (dashboard/auth.py): "none" (meant for localhost) or "proxy" (an authenticating reverse
    # proxy passes the user in AUTH_USER_HEADER; believed only from TRUSTED_PROXIES, comma-separated).
    # "token": people sign in at /signin with a read or upload token (ingest/tokens.py, dashboard/signin.py).
    "AUTH": "none",
    "AUTH_USER_HEADER": "X-Forwarded-User",
    "TRUSTED_PROXIES": "127.0.0.1,::1",
    # AUTH=token: the key that signs session cookies (SUITEHEALTH_SECRET_KEY, at least 32 characters).
    # None: one is generated once and kept in the database, so every worker and server shares it.
    "SECRET_KEY": None,
    # AUTH=token: hours a sign-in lasts (counted from the sign-in, not refreshed by use).
    "SESSION_HOURS": 12.0,
    # AUTH=token: mark the session cookie Secure: "auto" (when BASE_URL is https://), "true" or "false".
    "COOKIE_SECURE": "auto",
}

_ENV_PREFIX = "SUITEHEALTH_"
# Environment names that differ from the config key.
_ENV_ALIASES = {"DATABASE_URL": "SUITEHEALTH_DATABASE_URL"}


def _coerce(name: str, default, raw: str):
    """Return ``raw`` as the type of ``default``; numbers must be finite and not negative (every
    numeric setting is a size, a limit or a duration). Raise SettingError naming ``name``."""
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int | float):
        kind = "a whole number" if isinstance(default, int) else "a number"
        try:
            value = int(raw) if isinstance(default, int) else float(raw)
        except ValueError:
            raise SettingError(f"{name} must be {kind}, not {raw[:80]!r}") from None
        if not math.isfinite(value) or value < 0:
            raise SettingError(f"{name} must be {kind} of at least 0, not {raw[:80]!r}")
        return value
    return raw


def load_config(overrides: Mapping | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Return the effective settings: defaults < environment < ``overrides``."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        name = _ENV_ALIASES.get(key, _ENV_PREFIX + key)
        raw = environ.get(name)
        if raw not in (None, ""):
            config[key] = _coerce(name, default, raw)
    config.update(overrides or {})
    return config
