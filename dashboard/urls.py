"""Every dashboard link, built in one place: pages, templates, the weekly review and the upload answer.

``Urls(base)`` builds paths (``base=""``: relative, as pages use them) or absolute URLs (the weekly
review's Markdown/HTML/JSON, alerts, the upload answer). Templates get a relative one as the Jinja
global ``urls``; the weekly report's Flask-free environment gets one with its base URL.

Quoting: a project name is one path segment per "/" (CI names projects "owner/repo" and the routes
match them as paths), except when a segment is empty, "." or "..": a browser would merge or resolve
those, so the whole name is then quoted with its slashes as %2F. Query values are quoted completely.

The public address is never taken from a raw ``Host`` header: anyone can send one, and a review or an
answer carrying an attacker's host would send readers there. It comes from SUITEHEALTH_BASE_URL, or
from the request only when SUITEHEALTH_TRUSTED_HOSTS is set (Flask then refuses any other Host with a
400). Without either, links stay relative. Flask is imported only by the functions that need a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from flask import Flask

# Links of reports made outside a server (CLI, worker) need an absolute base: `suitehealth serve`'s.
DEFAULT_REPORT_BASE_URL = "http://localhost:8000"


def project_segment(project: str) -> str:
    """Quote a project name for the path: its slashes kept unless a segment would be resolved away."""
    parts = project.split("/")
    if any(p in ("", ".", "..") for p in parts):
        # As one segment, "../x" is "..%2Fx"; a bare "." or ".." has no spelling a browser keeps
        # (it resolves "%2E%2E" too), but servers and HTTP libraries leave "%2E%2E" alone.
        whole = quote(project, safe="")
        return whole.replace(".", "%2E") if project in (".", "..") else whole
    return "/".join(quote(p, safe="") for p in parts)


class Urls:
    """Dashboard paths under ``base`` ("" for relative links)."""

    def __init__(self, base: str | None = "") -> None:
        self.base = (base or "").rstrip("/")

    def __repr__(self) -> str:
        return f"Urls({self.base!r})"

    def path(self, path: str) -> str:
        """``path`` (a dashboard path starting with /) under the base."""
        return self.base + path

    def home(self) -> str:
        return self.path("/")

    def project(self, project: str, page: str = "", **query) -> str:
        """A project page (``page`` like "runs" or "runs/7"); None or "" query values are left out."""
        path = "/projects/" + project_segment(project) + (f"/{page}" if page else "")
        pairs = {k: v for k, v in query.items() if v not in (None, "")}
        return self.path(path + ("?" + urlencode(pairs, quote_via=quote, safe="") if pairs else ""))

    def runs(self, project: str, **query) -> str:
        return self.project(project, "runs", **query)

    def run(self, project: str, run_id: int) -> str:
        return self.project(project, f"runs/{int(run_id)}")

    def test(self, project: str, nodeid: str | None = None, **query) -> str:
        return self.project(project, "tests", nodeid=nodeid, **query)

    def weekly(self, project: str, week=None) -> str:
        """The weekly review of ``week`` (a Week or its label; None: the last complete week)."""
        return self.project(project, "weekly", week=None if week is None else str(week))

    def budget(self, project: str, suite: str | None = None) -> str:
        return self.project(project, "budget", suite=suite)

    def api(self, path: str) -> str:
        """The JSON twin of a dashboard path."""
        return self.path("/api/v1" + path)


# ---- inside a request --------------------------------------------------------------------------

def public_base_url() -> str:
    """Return the configured base URL, the checked request's, or "" (relative links)."""
    from flask import current_app, request

    from dashboard.settings import current_settings

    configured = current_settings().base_url
    if configured:
        return configured.rstrip("/")
    if current_app.config.get("TRUSTED_HOSTS"):
        return request.host_url.rstrip("/")
    return ""


def public_urls() -> Urls:
    """Absolute links where the public address is known (the upload answer, the weekly twin)."""
    return Urls(public_base_url())


def caller_urls() -> Urls:
    """Absolute links for the token-authenticated caller of a POST endpoint (CI, the pytest plugin).

    The answer goes back only to the caller that sent the Host header, so it may name the address the
    caller used when no base URL is configured; pages and reports never do (``public_urls``).
    """
    from flask import request

    from dashboard.settings import current_settings

    return Urls(current_settings().base_url or request.host_url)


def report_urls(base_url: str | None = None, configured: str | None = None) -> Urls:
    """Absolute links for a report made outside a request: ``base_url``, the configured one, or serve's."""
    return Urls(base_url or configured or DEFAULT_REPORT_BASE_URL)


def init_app(app: Flask) -> None:
    # SUITEHEALTH_TRUSTED_HOSTS arrives as "a.example,b.example"; Flask wants a list.
    hosts = app.config.get("TRUSTED_HOSTS")
    if isinstance(hosts, str):
        app.config["TRUSTED_HOSTS"] = [h.strip() for h in hosts.split(",") if h.strip()] or None
    # Templates link with {{ urls.run(project, id) }}, never with a hand-written "/projects/...".
    app.jinja_env.globals["urls"] = Urls()
