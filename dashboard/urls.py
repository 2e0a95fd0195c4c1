"""The dashboard's public address, for the absolute links of the weekly review and the upload answer.

Never taken from a raw ``Host`` header: anyone can send one, and a review or an answer carrying an
attacker's host would send readers there. The address comes from SUITEHEALTH_BASE_URL, or from the
request only when SUITEHEALTH_TRUSTED_HOSTS is set (Flask then refuses any other Host with a 400).
Without either, links stay relative.
"""

from __future__ import annotations

from flask import Flask, current_app, request


def public_base_url() -> str:
    """Return the configured base URL, the checked request's, or "" (relative links)."""
    configured = current_app.config.get("BASE_URL")
    if configured:
        return configured.rstrip("/")
    if current_app.config.get("TRUSTED_HOSTS"):
        return request.host_url.rstrip("/")
    return ""


def absolute_url(path: str) -> str:
    """``path`` (starting with /) under the public base URL; relative when there is none."""
    return public_base_url() + path


def init_app(app: Flask) -> None:
    # SUITEHEALTH_TRUSTED_HOSTS arrives as "a.example,b.example"; Flask wants a list.
    hosts = app.config.get("TRUSTED_HOSTS")
    if isinstance(hosts, str):
        app.config["TRUSTED_HOSTS"] = [h.strip() for h in hosts.split(",") if h.strip()] or None
