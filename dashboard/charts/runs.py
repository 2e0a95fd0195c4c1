"""Charts of runs: suite wall time over runs, a page of runs, one run's per-worker timeline.

Figures are plain plotly figure dicts on the house theme (``dashboard.charts.theme``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dashboard.charts.theme import OUTCOME_COLORS, PALETTE, SERIES_COLOR, house_figure


def suite_trend_figure(rows: Sequence[Mapping], budgets: Mapping[str, float | None]) -> dict:
    """Wall time of each suite's recent runs, with each suite's budget as a dashed line."""
    data = []
    suites = list(dict.fromkeys(r["suite"] for r in rows))
    for i, suite in enumerate(suites):
        mine = [r for r in rows if r["suite"] == suite]
        color = PALETTE[i % len(PALETTE)]
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": suite,
            "x": [r["started_at"] for r in mine], "y": [r["duration_s"] for r in mine],
            "line": {"color": color, "width": 1.5}, "marker": {"size": 4},
            "customdata": [[r["id"], r["tests"], r["failed"]] for r in mine],
            "hovertemplate": f"{suite} · run %{{customdata[0]}}<br>%{{y:.1f}} s · %{{customdata[1]}} tests, "
                             "%{customdata[2]} failed<extra></extra>",
        })
        budget = budgets.get(suite)
        slowest = max((r["duration_s"] or 0.0 for r in mine), default=0.0)
        # A budget far above every run would squash the series into a flat line at the bottom.
        if budget and slowest >= budget * 0.25:
            data.append({
                "type": "scatter", "mode": "lines", "name": f"{suite} budget", "showlegend": False,
                "x": [mine[0]["started_at"], mine[-1]["started_at"]], "y": [budget, budget],
                "line": {"color": color, "dash": "dash", "width": 1}, "hoverinfo": "skip",
            })
    return house_figure(data, "Suite wall time per run (dashed: budget, when within reach)",
                        yaxis={"title": {"text": "wall time (s)"}, "rangemode": "tozero"})


def runs_figure(runs: Sequence) -> dict:
    """Wall time of the listed runs, one marker per run coloured by its status."""
    data = []
    for status, color in (("passed", OUTCOME_COLORS["passed"]), ("failed", OUTCOME_COLORS["failed"]),
                          ("empty", OUTCOME_COLORS["skipped"])):
        mine = [r for r in runs if r.status == status]
        if mine:
            data.append({
                "type": "scatter", "mode": "markers", "name": status,
                "x": [r.started_at for r in mine], "y": [r.duration_s for r in mine],
                "marker": {"color": color, "size": 7},
                "customdata": [[r.id, r.suite, r.tests, r.failed + r.errors] for r in mine],
                "hovertemplate": "run %{customdata[0]} (%{customdata[1]})<br>%{y:.1f} s · "
                                 "%{customdata[2]} tests, %{customdata[3]} failed<extra></extra>",
            })
    return house_figure(data, "Wall time of these runs", 260,
                        yaxis={"title": {"text": "wall time (s)"}, "rangemode": "tozero"})


def worker_timeline_figure(bars: Sequence[Mapping]) -> dict:
    """One lane per worker, one bar per test from its start to its stop (seconds since the run began)."""
    origin = min(b["start"] for b in bars)
    workers = sorted({b["worker"] for b in bars})
    data = []
    for outcome in dict.fromkeys(b["outcome"] for b in bars):
        mine = [b for b in bars if b["outcome"] == outcome]
        data.append({
            "type": "bar", "orientation": "h", "name": outcome,
            "y": [b["worker"] for b in mine], "base": [round(b["start"] - origin, 4) for b in mine],
            "x": [round(max(b["stop"] - b["start"], 0.0), 4) for b in mine],
            "marker": {"color": OUTCOME_COLORS.get(outcome, SERIES_COLOR),
                       "line": {"width": 0.5, "color": "#fff"}},
            "customdata": [[b["nodeid"], round(b["stop"] - b["start"], 4)] for b in mine],
            "hovertemplate": "%{customdata[0]}<br>%{customdata[1]:.2f} s at +%{base:.1f} s<extra></extra>",
        })
    layout = {
        "barmode": "overlay", "bargap": 0.25,
        "xaxis": {"title": {"text": "seconds since the run started"}, "rangemode": "tozero"},
        "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": workers[::-1],
                  "title": {"text": "worker"}},
    }
    return house_figure(data, "Per-worker timeline", max(220, 80 + 36 * len(workers)), **layout)
