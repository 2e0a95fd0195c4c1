"""Charts of the budget page: wall time against the budget, phases, and the parallel what-if.

Figures are plain plotly figure dicts on the house theme (``dashboard.charts.theme``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time

from dashboard.charts.theme import BUDGET_COLOR, PHASE_COLORS, SERIES_COLOR, TREND_COLOR, house_figure

_EXCLUDED_COLORS = {"skip-surge": "#a0a7b4", "outlier": "#b8336a", "failure-surge": "#d64545",
                    "no-duration": "#6b7385"}


def wall_time_figure(runs: Sequence[Mapping], budget_s: float, forecast: date | None) -> dict:
    """Wall time per run, the rolling median, the budget line, excluded runs marked, the forecast."""
    kept = [r for r in runs if not r["excluded"]]
    traces = [{
        "type": "scatter", "mode": "markers", "name": "run",
        "x": [r["started_at"] for r in kept], "y": [r["duration_s"] for r in kept],
        "marker": {"color": SERIES_COLOR, "size": 5, "opacity": 0.7},
        "customdata": [[r["id"], r["tests"]] for r in kept],
        "hovertemplate": "run %{customdata[0]} · %{y:.1f} s · %{customdata[1]} tests<extra></extra>",
    }]
    for reason, color in _EXCLUDED_COLORS.items():
        mine = [r for r in runs if r["excluded"] == reason and r["duration_s"] is not None]
        if mine:
            traces.append({
                "type": "scatter", "mode": "markers", "name": f"excluded: {reason}",
                "x": [r["started_at"] for r in mine], "y": [r["duration_s"] for r in mine],
                "marker": {"color": color, "size": 9, "symbol": "x"},
                "customdata": [[r["id"], r["skipped"], r["tests"]] for r in mine],
                "hovertemplate": f"run %{{customdata[0]}} · %{{y:.1f}} s · {reason} "
                                 "(%{customdata[1]}/%{customdata[2]} skipped)<extra></extra>",
            })
    traces.append({
        "type": "scatter", "mode": "lines", "name": "rolling median", "hoverinfo": "skip",
        "x": [r["started_at"] for r in runs], "y": [r["rolling_median_s"] for r in runs],
        "line": {"color": TREND_COLOR, "width": 2},
    })
    if runs:
        end = runs[-1]["started_at"]
        if forecast is not None:
            when = datetime.combine(forecast, time(12), UTC)
            end = max(end, when)
            traces.append({
                "type": "scatter", "mode": "markers+text", "name": "forecast breach", "x": [when],
                "y": [budget_s], "marker": {"color": BUDGET_COLOR, "size": 12, "symbol": "diamond"},
                "text": [f"breach {forecast.isoformat()}"], "textposition": "top left", "hoverinfo": "text",
            })
        traces.append({
            "type": "scatter", "mode": "lines", "name": f"budget {budget_s:g} s", "hoverinfo": "skip",
            "x": [runs[0]["started_at"], end], "y": [budget_s, budget_s],
            "line": {"color": BUDGET_COLOR, "dash": "dash", "width": 1.5},
        })
    return house_figure(traces, "Wall time per run against the budget", 380,
                        yaxis={"title": {"text": "wall time (s)"}, "rangemode": "tozero"})


def phases_figure(runs: Sequence[Mapping]) -> dict:
    """Setup, call and teardown seconds per run, stacked."""
    traces = [
        {"type": "bar", "name": name, "x": [r["started_at"] for r in runs], "y": [r[key] or 0 for r in runs],
         "marker": {"color": color}, "hovertemplate": f"{name}: %{{y:.1f}} s<extra></extra>"}
        for key, name, color in (("setup_s", "setup", PHASE_COLORS["setup"]),
                                 ("call_s", "call", PHASE_COLORS["call"]),
                                 ("teardown_s", "teardown", PHASE_COLORS["teardown"]))
    ]
    return house_figure(traces, "Setup vs call vs teardown per run", barmode="stack",
                        yaxis={"title": {"text": "seconds (sum over tests)"}})


def whatif_figure(rows: Sequence[Mapping], budget_s: float) -> dict:
    """Predicted wall time per worker count (LPT), with the budget."""
    workers = [str(r["workers"]) for r in rows]
    traces = [
        {"type": "bar", "name": "predicted wall time", "x": workers, "y": [r["wall_s"] for r in rows],
         "marker": {"color": [SERIES_COLOR if r["meets_budget"] else BUDGET_COLOR for r in rows]},
         "hovertemplate": "%{x} workers: %{y:.1f} s<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": f"budget {budget_s:g} s", "x": [workers[0], workers[-1]],
         "y": [budget_s, budget_s], "line": {"color": BUDGET_COLOR, "dash": "dash"}, "hoverinfo": "skip"},
    ] if rows else []
    return house_figure(traces, "What-if: wall time with N workers", 300,
                        xaxis={"title": {"text": "parallel workers"}, "type": "category"},
                        yaxis={"title": {"text": "predicted wall time (s)"}, "rangemode": "tozero"})
