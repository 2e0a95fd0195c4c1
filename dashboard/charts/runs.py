"""Charts of runs: suite wall time over runs, a page of runs, one run's per-worker timeline.

Figures are built as plain plotly dicts: constructing ``plotly.graph_objects`` figures validates
every property and costs 100+ ms per chart, more than a whole page may take. The house theme is
applied by ``plain_themed`` from the same settings as ``dashboard.charts.themed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from dashboard.charts import _LAYOUT, OUTCOME_COLORS, SERIES_COLOR

_SUITE_PALETTE = ("#3b7dd8", "#e09c2b", "#8e5cc2", "#2e9e5b", "#d64545", "#17a2b8", "#6b7385")


@lru_cache(maxsize=4)
def _template(name: str) -> dict:
    """The named plotly template as a plain dict (plotly.js cannot resolve template names itself)."""
    import plotly.io as pio

    return pio.templates[name].to_plotly_json()


def plain_themed(data: list[dict], layout: dict | None = None, *, title: str | None = None,
                 height: int = 320) -> dict:
    """Return a plain-dict figure with the house style (same settings as ``dashboard.charts.themed``)."""
    base = {k: v for k, v in _LAYOUT.items() if k != "template"}
    base["template"] = _template(_LAYOUT.get("template", "plotly_white"))
    # Title at the very top, the horizontal legend between it and the plot: they never overlap.
    base.update(height=height, title={"text": title or "", "x": 0, "xref": "paper", "y": 0.98,
                                      "yanchor": "top", "font": {"size": 14}})
    base["margin"] = {**base.get("margin", {}), "t": 72}
    base.update(layout or {})
    return {"data": data, "layout": base}


def suite_trend_figure(rows: Sequence[Mapping], budgets: Mapping[str, float | None]) -> dict:
    """Wall time of each suite's recent runs, with each suite's budget as a dashed line."""
    data = []
    suites = list(dict.fromkeys(r["suite"] for r in rows))
    for i, suite in enumerate(suites):
        mine = [r for r in rows if r["suite"] == suite]
        color = _SUITE_PALETTE[i % len(_SUITE_PALETTE)]
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
    return plain_themed(data, {"yaxis": {"title": {"text": "wall time (s)"}, "rangemode": "tozero"}},
                        title="Suite wall time per run (dashed: budget, when within reach)")


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
    return plain_themed(data, {"yaxis": {"title": {"text": "wall time (s)"}, "rangemode": "tozero"}},
                        title="Wall time of these runs", height=260)


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
    return plain_themed(data, layout, title="Per-worker timeline", height=max(220, 80 + 36 * len(workers)))
