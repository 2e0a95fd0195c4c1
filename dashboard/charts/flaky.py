"""Flakiness charts: the most flaky tests with their credible intervals."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.charts import OUTCOME_COLORS, themed

TOP = 20


def flaky_scores_figure(tests: Sequence) -> go.Figure:
    """Bar per flaky test (most flaky on top): posterior flake rate with its credible interval."""
    top = list(tests)[:TOP][::-1]
    labels = [_short(t.nodeid) for t in top]
    fig = go.Figure(
        go.Bar(
            x=[t.score for t in top],
            y=labels,
            orientation="h",
            marker_color=OUTCOME_COLORS["xpassed"],
            error_x=dict(
                type="data",
                symmetric=False,
                array=[t.ci_high - t.score for t in top],
                arrayminus=[t.score - t.ci_low for t in top],
            ),
            customdata=[[t.nodeid, t.runs, t.flakes, t.status] for t in top],
            hovertemplate="%{customdata[0]}<br>flake rate %{x:.0%} · %{customdata[2]} flakes in "
            "%{customdata[1]} runs · %{customdata[3]}<extra></extra>",
        )
    )
    fig.update_xaxes(
        title="estimated flake rate (90% credible interval)", tickformat=".0%", rangemode="tozero"
    )
    return themed(fig, title="Most flaky tests", height=max(240, 28 * len(top) + 100))


def _short(nodeid: str, limit: int = 60) -> str:
    return nodeid if len(nodeid) <= limit else "…" + nodeid[-(limit - 1) :]
