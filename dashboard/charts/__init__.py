"""Charts: data in, plotly figure dict out, on the one theme of ``dashboard.charts.theme``.

One module per page topic beside it. Figures reach templates as JSON (``figure_json``) and are drawn
by the locally served plotly.js.
"""

from __future__ import annotations

from dashboard.charts.theme import (
    BUDGET_COLOR,
    LEVEL_COLORS,
    OUTCOME_COLORS,
    SERIES_COLOR,
    TREND_COLOR,
    figure_json,
    house_figure,
)

__all__ = ["BUDGET_COLOR", "LEVEL_COLORS", "OUTCOME_COLORS", "SERIES_COLOR", "TREND_COLOR", "figure_json",
           "house_figure"]
