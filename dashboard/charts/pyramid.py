"""Charts of the pyramid page: tests and time per level, and the weekly shares (plain figure dicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dashboard.charts.theme import LEVEL_COLORS, MUTED_COLOR, house_figure

_ORDER = ("e2e", "integration", "unit")  # top to bottom, as the pyramid is drawn


def levels_figure(levels: Mapping[str, Mapping]) -> dict:
    """A horizontal bar per level (e2e on top): tests on the left, test time on the right."""
    names = [lvl for lvl in _ORDER if lvl in levels] + (["unknown"] if levels.get("unknown") else [])
    colors = [LEVEL_COLORS.get(n, MUTED_COLOR) for n in names]
    traces = [
        {"type": "bar", "orientation": "h", "y": names, "x": [levels[n]["tests"] for n in names],
         "marker": {"color": colors}, "name": "tests", "xaxis": "x", "yaxis": "y",
         "hovertemplate": "%{y}: %{x} tests<extra></extra>"},
        {"type": "bar", "orientation": "h", "y": names, "x": [levels[n]["time_s"] for n in names],
         "marker": {"color": colors}, "name": "time", "xaxis": "x2", "yaxis": "y",
         "hovertemplate": "%{y}: %{x:.1f} s<extra></extra>"},
    ]
    titles = [
        {"text": "tests", "x": 0.24, "y": 1.0, "xref": "paper", "yref": "paper", "yanchor": "bottom",
         "showarrow": False},
        {"text": "test time (s, sum of typical durations)", "x": 0.76, "y": 1.0, "xref": "paper",
         "yref": "paper", "yanchor": "bottom", "showarrow": False},
    ]
    return house_figure(traces, "Tests and test time per level", showlegend=False, bargap=0.15,
                        xaxis={"domain": [0, 0.48]}, xaxis2={"domain": [0.52, 1], "anchor": "y"},
                        annotations=titles)


def shares_figure(trend: Sequence[Mapping]) -> dict:
    """Weekly share of tests per level, stacked to 100 %."""
    weeks = [row["week"] for row in trend]
    traces = [
        {"type": "scatter", "mode": "lines", "name": level, "stackgroup": "levels", "x": weeks,
         "y": [row[f"share_{level}"] * 100 for row in trend],
         "line": {"color": LEVEL_COLORS[level], "width": 1},
         "customdata": [[row[level], row["shape"]] for row in trend],
         "hovertemplate": f"{level}: %{{y:.1f}}% (%{{customdata[0]}} tests) · shape %{{customdata[1]}}"
                          "<extra></extra>"}
        for level in ("unit", "integration", "e2e")
    ]
    return house_figure(traces, "Level shares by week", yaxis={"title": {"text": "share of tests (%)"},
                                                               "range": [0, 100]},
                        xaxis={"title": {"text": "ISO week"}})
