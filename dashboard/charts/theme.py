"""The one house theme of every chart: colours, fonts, margins, title and legend placement.

Figures are plain plotly figure dicts: constructing validated ``plotly.graph_objects`` figures costs
100+ ms per chart, more than a whole page may take. Every chart module builds its figure with
``house_figure``, so the theme changes here and only here.
"""

from __future__ import annotations

from functools import lru_cache

OUTCOME_COLORS = {
    "passed": "#2e9e5b", "failed": "#d64545", "error": "#b8336a", "skipped": "#a0a7b4",
    "xfailed": "#7f8c9d", "xpassed": "#e0a030", "missing": "#eceff3",
}
LEVEL_COLORS = {"unit": "#3b7dd8", "integration": "#e09c2b", "e2e": "#8e5cc2", "unknown": "#a0a7b4"}
PHASE_COLORS = {"setup": "#8e5cc2", "call": "#3b7dd8", "teardown": "#e09c2b"}
BUDGET_COLOR = "#d64545"
SERIES_COLOR = "#3b7dd8"
TREND_COLOR = "#e09c2b"
MUTED_COLOR = "#a0a7b4"
PALETTE = ("#3b7dd8", "#e09c2b", "#8e5cc2", "#2e9e5b", "#d64545", "#17a2b8", "#6b7385")

TEMPLATE = "plotly_white"
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}
TITLE_FONT = {"size": 14}
# Top margin room for the title at the very top and the horizontal legend between it and the plot.
MARGIN = {"l": 50, "r": 20, "t": 78, "b": 40}
LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}


@lru_cache(maxsize=1)
def _template() -> dict:
    """The plotly template as a plain dict (plotly.js cannot resolve template names itself)."""
    import plotly.io as pio

    return pio.templates[TEMPLATE].to_plotly_json()


def house_layout(*, title: str = "", height: int = 320) -> dict:
    """Return a fresh layout dict in the house style."""
    return {
        "template": _template(), "font": dict(FONT), "margin": dict(MARGIN), "legend": dict(LEGEND),
        "hovermode": "closest", "height": height,
        "title": {"text": title, "x": 0, "xref": "paper", "y": 0.98, "yanchor": "top",
                  "font": dict(TITLE_FONT)},
    }


def house_figure(data: list[dict], title: str = "", height: int = 320, **layout) -> dict:
    """Return a figure dict: ``data`` on the house layout, with ``layout`` merged in (one level deep)."""
    merged = house_layout(title=title, height=height)
    for key, value in layout.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return {"data": data, "layout": merged}


def figure_json(fig) -> str:
    """Serialise a figure (dict) for ``Plotly.newPlot`` in the template."""
    import plotly.io as pio

    return pio.to_json(fig, validate=False)
