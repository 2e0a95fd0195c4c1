"""Static assets (css, small js, the vendored plotly.js bundle, the favicon): gzip, ETag, long cache.

Pages link ``asset_url(name)``, which carries a digest of the file (``?v=``): a browser may keep that
URL for a year, and a new release changes the URL. The bundle is plotly.js's "basic" partial build
(scatter, bar, pie: all our charts use), 1.2 MB instead of 4.8 MB, ~390 KB gzipped; its version must
be the one the installed plotly package writes figures for (a test checks).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from importlib import resources

from flask import Blueprint, Response, abort, request

bp = Blueprint("assets", __name__)

PLOTLY_JS = "plotly-basic-4.1.1.min.js"
YEAR = 31536000
# Only these files are served: a fixed list, so no path from a URL ever reaches the file system.
SERVED = ("style.css", "charts.js", "favicon.svg", PLOTLY_JS)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    digest: str
    mimetype: str


@cache
def load(name: str) -> Asset:
    """Read, hash and gzip one served file once per process."""
    body = resources.files("dashboard").joinpath("static", name).read_bytes()
    mimetype = {".js": "text/javascript", ".svg": "image/svg+xml"}.get(
        name[name.rfind("."):], mimetypes.guess_type(name)[0] or "application/octet-stream")
    return Asset(body, gzip.compress(body, compresslevel=9, mtime=0),
                 hashlib.sha256(body).hexdigest()[:16], mimetype)


def asset_url(name: str) -> str:
    """The versioned URL of a served file: ``/assets/<name>?v=<digest>``."""
    return f"/assets/{name}?v={load(name).digest}"


def send(name: str) -> Response:
    """Answer with the file, gzipped when the client accepts it, honouring If-None-Match."""
    asset = load(name)
    gz = "gzip" in request.headers.get("Accept-Encoding", "").lower()
    etag = asset.digest + ("-gz" if gz else "")
    current = request.args.get("v") == asset.digest
    headers = {
        # A URL with the current digest never changes; any other URL must be revalidated.
        "Cache-Control": f"public, max-age={YEAR}, immutable" if current else "public, no-cache",
        "Vary": "Accept-Encoding",
    }
    if etag in request.if_none_match:
        resp = Response(status=304, headers=headers)
    else:
        resp = Response(asset.gzipped if gz else asset.body, mimetype=asset.mimetype, headers=headers)
        if gz:
            resp.headers["Content-Encoding"] = "gzip"
    resp.set_etag(etag)
    return resp


@bp.get("/assets/<name>")
def asset(name: str):
    if name not in SERVED:
        abort(404)
    return send(name)


@bp.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico even when the page names an SVG icon; answer instead of a 404.
    return send("favicon.svg")


@bp.app_context_processor
def _asset_urls():
    return {"asset_url": asset_url, "plotly_js": asset_url(PLOTLY_JS)}
