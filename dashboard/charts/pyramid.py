"""Charts of the pyramid page: tests and time per level, and the weekly shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from dashboard.charts import LEVEL_COLORS, themed

_ORDER = ("e2e", "integration", "unit")  # top to bottom, as the pyramid is drawn


def levels_figure(levels: Mapping[str, Mapping]) -> go.Figure:
    """A horizontal bar per level (e2e on top): tests left, test time right, as two panels."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("tests", "test time (s, sum of medians)"))
    names = [lvl for lvl in _ORDER if lvl in levels] + (["unknown"] if levels.get("unknown") else [])
    colors = [LEVEL_COLORS.get(n, "#a0a7b4") for n in names]
    fig.add_trace(go.Bar(y=names, x=[levels[n]["tests"] for n in names], orientation="h",
                         marker_color=colors, name="tests", hovertemplate="%{y}: %{x} tests<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(y=names, x=[levels[n]["time_s"] for n in names], orientation="h",
                         marker_color=colors, name="time", hovertemplate="%{y}: %{x:.1f} s<extra></extra>"),
                  row=1, col=2)
    fig.update_layout(showlegend=False, bargap=0.15)
    return _room_for_legend(themed(fig, title="Tests and test time per level"))


def shares_figure(trend: Sequence[Mapping]) -> go.Figure:
    """Weekly share of tests per level, stacked to 100 %."""
    fig = go.Figure()
    weeks = [row["week"] for row in trend]
    for level in ("unit", "integration", "e2e"):
        fig.add_trace(go.Scatter(
            x=weeks, y=[row[f"share_{level}"] * 100 for row in trend], name=level, mode="lines",
            stackgroup="levels", line=dict(color=LEVEL_COLORS[level], width=1),
            customdata=[[row[level], row["shape"]] for row in trend],
            hovertemplate=f"{level}: %{{y:.1f}}% (%{{customdata[0]}} tests) · shape %{{customdata[1]}}"
                          "<extra></extra>",
        ))
    fig.update_yaxes(title_text="share of tests (%)", range=[0, 100])
    fig.update_xaxes(title_text="ISO week")
    return _room_for_legend(themed(fig, title="Level shares by week"))


def _room_for_legend(fig: go.Figure) -> go.Figure:
    """Move the title above the horizontal legend so that they do not overlap."""
    fig.update_layout(margin=dict(t=78), title=dict(y=0.98, yanchor="top"))
    return fig
