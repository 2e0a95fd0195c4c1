"""Charts: data in, plotly figure out. The theme lives here; one module per page topic beside it.

Figures reach templates as JSON (``figure_json``) and are drawn by the locally served plotly.js.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

OUTCOME_COLORS = {
    "passed": "#2e9e5b", "failed": "#d64545", "error": "#b8336a", "skipped": "#a0a7b4",
    "xfailed": "#7f8c9d", "xpassed": "#e0a030", "missing": "#eceff3",
}
LEVEL_COLORS = {"unit": "#3b7dd8", "integration": "#e09c2b", "e2e": "#8e5cc2", "unknown": "#a0a7b4"}
BUDGET_COLOR = "#d64545"
SERIES_COLOR = "#3b7dd8"
TREND_COLOR = "#e09c2b"

_LAYOUT = dict(
    template="plotly_white",
    margin=dict(l=50, r=20, t=40, b=40),
    font=dict(family="system-ui, -apple-system, Segoe UI, sans-serif", size=12),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    hovermode="closest",
)


def themed(fig: go.Figure, *, title: str | None = None, height: int = 320) -> go.Figure:
    """Apply the house style to ``fig``."""
    fig.update_layout(**_LAYOUT, height=height, title=dict(text=title or "", x=0, font=dict(size=14)))
    return fig


def figure_json(fig: go.Figure) -> str:
    """Serialise a figure for ``Plotly.newPlot`` in the template."""
    return pio.to_json(fig, validate=False)
