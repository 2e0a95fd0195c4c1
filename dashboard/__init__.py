"""suitehealth's dashboard: a Flask app over the ingest library's database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dashboard import config as config_module

if TYPE_CHECKING:  # Flask is imported when an app is built, not by the CLI's light commands
    from flask import Flask


def create_app(config: Mapping | None = None) -> Flask:
    """Build the app: defaults, then SUITEHEALTH_* environment, then ``config``."""
    from flask import Flask

    app = Flask(__name__)
    app.config.update(config_module.load_config(config))
    app.json.sort_keys = False

    from dashboard import auth, db, errors, filters, security_headers, urls

    db.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    security_headers.init_app(app)
    urls.init_app(app)
    auth.init_app(app)

    from dashboard.views import (
        assets,
        budget,
        confirm,
        flaky,
        health,
        home,
        pyramid,
        runs,
        tests,
        upload,
        weekly,
    )

    for module in (health, assets, home, runs, tests, pyramid, budget, flaky, upload, weekly, confirm):
        app.register_blueprint(module.bp)
    from dashboard.views import ci as ci_views
    from dashboard.views import quarantine as quarantine_views

    app.register_blueprint(quarantine_views.bp)
    app.register_blueprint(ci_views.bp)
    return app


def compile_templates(app: Flask) -> int:
    """Compile every template once, in gunicorn's master before it forks; return how many.

    Jinja compiles a template on its first render, which costs a page's first request 100-200 ms;
    compiled in the master, every worker starts with them (the environment's cache is inherited).
    """
    names = app.jinja_env.list_templates()
    for name in names:
        app.jinja_env.get_template(name)
    return len(names)
