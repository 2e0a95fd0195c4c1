"""Charts of the budget page: wall time against the budget, phases, and the parallel what-if."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time

import plotly.graph_objects as go

from dashboard.charts import BUDGET_COLOR, SERIES_COLOR, TREND_COLOR, themed

_EXCLUDED_COLORS = {"skip-surge": "#a0a7b4", "outlier": "#b8336a", "failure-surge": "#d64545",
                    "no-duration": "#6b7385"}


def wall_time_figure(runs: Sequence[Mapping], budget_s: float, forecast: date | None) -> go.Figure:
    """Wall time per run, the rolling median, the budget line, excluded runs marked, the forecast."""
    fig = go.Figure()
    kept = [r for r in runs if not r["excluded"]]
    fig.add_trace(go.Scatter(
        x=[r["started_at"] for r in kept], y=[r["duration_s"] for r in kept], mode="markers", name="run",
        marker=dict(color=SERIES_COLOR, size=5, opacity=0.7),
        customdata=[[r["id"], r["tests"]] for r in kept],
        hovertemplate="run %{customdata[0]} · %{y:.1f} s · %{customdata[1]} tests<extra></extra>",
    ))
    for reason, color in _EXCLUDED_COLORS.items():
        mine = [r for r in runs if r["excluded"] == reason and r["duration_s"] is not None]
        if mine:
            fig.add_trace(go.Scatter(
                x=[r["started_at"] for r in mine], y=[r["duration_s"] for r in mine], mode="markers",
                name=f"excluded: {reason}", marker=dict(color=color, size=9, symbol="x"),
                customdata=[[r["id"], r["skipped"], r["tests"]] for r in mine],
                hovertemplate=f"run %{{customdata[0]}} · %{{y:.1f}} s · {reason} "
                              "(%{customdata[1]}/%{customdata[2]} skipped)<extra></extra>",
            ))
    fig.add_trace(go.Scatter(
        x=[r["started_at"] for r in runs], y=[r["rolling_median_s"] for r in runs], mode="lines",
        name="rolling median", line=dict(color=TREND_COLOR, width=2), hoverinfo="skip",
    ))
    if runs:
        end = runs[-1]["started_at"]
        if forecast is not None:
            end = max(end, datetime.combine(forecast, time(12), UTC))
            fig.add_trace(go.Scatter(
                x=[datetime.combine(forecast, time(12), UTC)], y=[budget_s], mode="markers+text",
                name="forecast breach", marker=dict(color=BUDGET_COLOR, size=12, symbol="diamond"),
                text=[f"breach {forecast.isoformat()}"], textposition="top left", hoverinfo="text",
            ))
        fig.add_trace(go.Scatter(
            x=[runs[0]["started_at"], end], y=[budget_s, budget_s], mode="lines",
            name=f"budget {budget_s:g} s",
            line=dict(color=BUDGET_COLOR, dash="dash", width=1.5), hoverinfo="skip",
        ))
    fig.update_yaxes(title_text="wall time (s)", rangemode="tozero")
    return _room_for_legend(themed(fig, title="Wall time per run against the budget", height=380))


def phases_figure(runs: Sequence[Mapping]) -> go.Figure:
    """Setup, call and teardown seconds per run, stacked."""
    fig = go.Figure()
    for key, name, color in (("setup_s", "setup", "#8e5cc2"), ("call_s", "call", SERIES_COLOR),
                             ("teardown_s", "teardown", "#e09c2b")):
        fig.add_trace(go.Bar(x=[r["started_at"] for r in runs], y=[r[key] or 0 for r in runs], name=name,
                             marker_color=color, hovertemplate=f"{name}: %{{y:.1f}} s<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="seconds (sum over tests)")
    return _room_for_legend(themed(fig, title="Setup vs call vs teardown per run"))


def whatif_figure(rows: Sequence[Mapping], budget_s: float) -> go.Figure:
    """Predicted wall time per worker count (LPT), with the budget."""
    fig = go.Figure(go.Bar(
        x=[str(r["workers"]) for r in rows], y=[r["wall_s"] for r in rows],
        marker_color=[SERIES_COLOR if r["meets_budget"] else BUDGET_COLOR for r in rows],
        hovertemplate="%{x} workers: %{y:.1f} s<extra></extra>", name="predicted wall time",
    ))
    fig.add_hline(y=budget_s, line=dict(color=BUDGET_COLOR, dash="dash"),
                  annotation_text=f"budget {budget_s:g} s")
    fig.update_xaxes(title_text="parallel workers", type="category")
    fig.update_yaxes(title_text="predicted wall time (s)", rangemode="tozero")
    return _room_for_legend(themed(fig, title="What-if: wall time with N workers", height=300))


def _room_for_legend(fig: go.Figure) -> go.Figure:
    """Move the title above the horizontal legend so that they do not overlap."""
    fig.update_layout(margin=dict(t=78), title=dict(y=0.98, yanchor="top"))
    return fig
