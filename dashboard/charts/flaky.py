"""Flakiness charts: the most flaky tests with their credible intervals (plain figure dicts)."""

from __future__ import annotations

from collections.abc import Sequence

from dashboard.charts.theme import OUTCOME_COLORS, house_figure

TOP = 20


def flaky_scores_figure(tests: Sequence) -> dict:
    """Bar per flaky test (most flaky on top): posterior flake rate with its credible interval."""
    top = list(tests)[:TOP][::-1]
    data = [{
        "type": "bar", "orientation": "h",
        "x": [t.score for t in top], "y": [_short(t.nodeid) for t in top],
        "marker": {"color": OUTCOME_COLORS["xpassed"]},
        "error_x": {"type": "data", "symmetric": False, "array": [t.ci_high - t.score for t in top],
                    "arrayminus": [t.score - t.ci_low for t in top]},
        "customdata": [[t.nodeid, t.runs, t.flakes, t.status] for t in top],
        "hovertemplate": "%{customdata[0]}<br>flake rate %{x:.0%} · %{customdata[2]} flakes in "
                         "%{customdata[1]} runs · %{customdata[3]}<extra></extra>",
    }]
    return house_figure(data, "Most flaky tests", max(240, 28 * len(top) + 100),
                        xaxis={"title": {"text": "estimated flake rate (90% credible interval)"},
                               "tickformat": ".0%", "rangemode": "tozero"})


def _short(nodeid: str, limit: int = 60) -> str:
    return nodeid if len(nodeid) <= limit else "…" + nodeid[-(limit - 1) :]
