"""`suitehealth serve` compiles every template in gunicorn's master, so no worker's first page pays for it."""

from __future__ import annotations

from pathlib import Path

import dashboard
from dashboard import compile_templates


def test_every_template_file_is_compiled_and_cached_before_the_first_request(app):
    folder = Path(dashboard.__file__).parent / "templates"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert compile_templates(app) == len(files) > 10
    cached = {key[1] for key in app.jinja_env.cache.keys()}
    assert cached == set(files)
    # Rendering takes the compiled template from the cache: the same object, not a new compile.
    before = app.jinja_env.get_template("base.html")
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert app.jinja_env.get_template("base.html") is before
