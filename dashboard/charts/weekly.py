"""The weekly review's chart: runs per day (green, red) with the day's pass rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dashboard.charts.theme import OUTCOME_COLORS, SERIES_COLOR, house_figure


def week_days_figure(days: Sequence[Mapping]) -> dict:
    """Stacked bars of green and red runs per day, and the pass rate on a second axis."""
    x = [d["day"] for d in days]
    data = [
        {"type": "bar", "name": "green runs", "x": x, "y": [d["runs"] - d["red_runs"] for d in days],
         "marker": {"color": OUTCOME_COLORS["passed"]}},
        {"type": "bar", "name": "red runs", "x": x, "y": [d["red_runs"] for d in days],
         "marker": {"color": OUTCOME_COLORS["failed"]}},
        {"type": "scatter", "mode": "lines+markers", "name": "pass rate", "x": x, "yaxis": "y2",
         "y": [None if d["pass_rate"] is None else round(d["pass_rate"] * 100, 2) for d in days],
         "line": {"color": SERIES_COLOR}, "connectgaps": False},
    ]
    layout = {
        "barmode": "stack",
        "xaxis": {"type": "date", "tickformat": "%a %d %b", "dtick": 86400000},
        "yaxis": {"title": {"text": "runs"}, "rangemode": "tozero"},
        "yaxis2": {"title": {"text": "pass rate %"}, "overlaying": "y", "side": "right", "range": [0, 100.5],
                   "showgrid": False},
    }
    return house_figure(data, "Runs per day", 280, **layout)
