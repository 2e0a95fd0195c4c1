"""The plotly.js bundle, served from the installed plotly package: no CDN, works offline."""

from __future__ import annotations

from functools import lru_cache

import plotly
from flask import Blueprint, Response, abort

bp = Blueprint("assets", __name__)
PLOTLY_JS = f"plotly-{plotly.__version__}.min.js"


@lru_cache(maxsize=1)
def _plotly_bundle() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


@bp.get("/assets/<name>")
def asset(name: str):
    if name != PLOTLY_JS:
        abort(404)
    # The file name carries the version, so browsers may keep it for a year.
    return Response(_plotly_bundle(), mimetype="application/javascript",
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


@bp.app_context_processor
def _plotly_url():
    return {"plotly_js": "/assets/" + PLOTLY_JS}
