"""Charts of one test's history: time per run split into setup, call and teardown (plain dicts)."""

from __future__ import annotations

from collections.abc import Sequence

from dashboard.charts.theme import OUTCOME_COLORS, PHASE_COLORS, SERIES_COLOR, house_figure


def duration_figure(runs: Sequence) -> dict:
    """Stacked setup/call/teardown bars per run (plain duration when phases are unknown), failures marked."""
    x = [f"#{r.run_id}" for r in runs]
    hover = [f"run {r.run_id} · {r.suite} · {r.started_at:%Y-%m-%d %H:%M} · {r.outcome}" for r in runs]
    data = []
    if any(r.call_s is not None for r in runs):
        for phase in ("setup", "call", "teardown"):
            data.append({
                "type": "bar", "name": phase, "x": x, "y": [getattr(r, f"{phase}_s") or 0.0 for r in runs],
                "marker": {"color": PHASE_COLORS[phase]}, "hovertext": hover,
                "hovertemplate": "%{hovertext}<br>" + phase + " %{y:.3f} s<extra></extra>",
            })
    else:
        data.append({
            "type": "bar", "name": "duration", "x": x, "y": [r.duration_s or 0.0 for r in runs],
            "marker": {"color": SERIES_COLOR}, "hovertext": hover,
            "hovertemplate": "%{hovertext}<br>%{y:.3f} s<extra></extra>",
        })
    bad = [r for r in runs if r.outcome in ("failed", "error")]
    if bad:
        data.append({
            "type": "scatter", "mode": "markers", "name": "failed", "hoverinfo": "skip",
            "x": [f"#{r.run_id}" for r in bad], "y": [r.duration_s or 0.0 for r in bad],
            "marker": {"color": OUTCOME_COLORS["failed"], "symbol": "x", "size": 9},
        })
    layout = {
        "barmode": "stack",
        "xaxis": {"type": "category", "title": {"text": "run"}, "showticklabels": len(runs) <= 40},
        "yaxis": {"title": {"text": "seconds"}, "rangemode": "tozero"},
    }
    return house_figure(data, "Time per run (setup / call / teardown)", 300, **layout)
