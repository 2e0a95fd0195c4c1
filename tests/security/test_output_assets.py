"""Static assets: gzip on request, an ETag that answers 304, a year of cache only for the versioned URL,
the plotly.js partial bundle matching the plotly package, a favicon, and nothing else from the disk.
"""

from __future__ import annotations

import gzip
import re

import plotly
import pytest
from plotly.offline import get_plotlyjs_version

from dashboard import create_app
from dashboard.views.assets import PLOTLY_JS, SERVED, asset_url, load


@pytest.fixture
def client(sqlite_url):
    return create_app({"DATABASE_URL": sqlite_url, "TESTING": True}).test_client()


def test_the_bundle_is_the_plotly_js_the_installed_plotly_writes_figures_for():
    version = get_plotlyjs_version()
    assert PLOTLY_JS == f"plotly-basic-{version}.min.js", (plotly.__version__, version)
    head = load(PLOTLY_JS).body[:200].decode()
    assert f"plotly.js (basic - minified) v{version}" in head
    # The partial bundle is a quarter of the full one.
    assert len(load(PLOTLY_JS).body) < 1_300_000 and len(load(PLOTLY_JS).gzipped) < 450_000


@pytest.mark.parametrize("name", SERVED)
def test_assets_are_gzipped_cached_and_revalidated(client, name):
    url = asset_url(name)
    plain = client.get(url)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert plain.headers["Vary"] == "Accept-Encoding"
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # An old or made-up version is served, but must be revalidated.
    stale = client.get(f"/assets/{name}?v=0000")
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "public, no-cache"


def test_pages_link_versioned_assets_and_a_favicon(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<link rel="icon" href="/assets/favicon\.svg\?v=\w+" type="image/svg\+xml">', html)
    assert client.get("/favicon.ico").headers["Content-Type"].startswith("image/svg+xml")


@pytest.mark.parametrize("path", ["/assets/../config.py", "/assets/%2e%2e%2fconfig.py",
                                  "/assets/style.css.bak", "/assets/plotly-2.0.0.min.js", "/assets/.",
                                  "/assets/__init__.py"])
def test_nothing_else_is_served_from_disk(client, path):
    assert client.get(path).status_code == 404
