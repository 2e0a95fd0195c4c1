"""Every chart is drawn on the one house theme of dashboard.charts.theme."""

from __future__ import annotations

import ast
import json
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

from dashboard.charts import budget, flaky, pyramid, runs, tests, weekly
from dashboard.charts.theme import FONT, LEGEND, MARGIN, figure_json, house_layout

CHARTS = Path(budget.__file__).parent
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _every_figure() -> dict[str, dict]:
    run = {"id": 1, "started_at": T0, "duration_s": 12.0, "tests": 3, "skipped": 0, "excluded": None,
           "rolling_median_s": 12.0, "setup_s": 1.0, "call_s": 10.0, "teardown_s": 1.0}
    level = {"tests": 2, "time_s": 1.5}
    row = SimpleNamespace(id=1, status="passed", started_at=T0, duration_s=3.0, suite="unit", tests=2,
                          failed=0, errors=0)
    history = SimpleNamespace(run_id=1, suite="unit", started_at=T0, outcome="failed", setup_s=0.1,
                              call_s=0.2, teardown_s=0.1, duration_s=0.4)
    flaky_test = SimpleNamespace(nodeid="t.py::test_a", score=0.2, ci_low=0.1, ci_high=0.4, runs=10, flakes=2,
                                 status="flaky")
    return {
        "wall": budget.wall_time_figure([run], 300.0, date(2026, 4, 1)),
        "phases": budget.phases_figure([run]),
        "whatif": budget.whatif_figure([{"workers": 1, "wall_s": 12.0, "meets_budget": True}], 300.0),
        "flaky": flaky.flaky_scores_figure([flaky_test]),
        "levels": pyramid.levels_figure({"unit": level, "integration": level, "e2e": level}),
        "shares": pyramid.shares_figure([{"week": "2026-W10", "share_unit": 0.5, "share_integration": 0.3,
                                          "share_e2e": 0.2, "unit": 5, "integration": 3, "e2e": 2,
                                          "shape": "pyramid"}]),
        "suites": runs.suite_trend_figure([{**run, "suite": "unit", "failed": 0}], {"unit": 10.0}),
        "runs": runs.runs_figure([row]),
        "timeline": runs.worker_timeline_figure([{"worker": "gw0", "start": 0.0, "stop": 1.0,
                                                  "outcome": "passed", "nodeid": "t.py::test_a"}]),
        "test": tests.duration_figure([history]),
        "week": weekly.week_days_figure([{"day": "2026-03-02", "runs": 2, "red_runs": 1, "pass_rate": 0.5}]),
    }


def test_every_chart_uses_the_house_theme():
    theme = house_layout()
    figures = _every_figure()
    for name, fig in figures.items():
        layout = json.loads(figure_json(fig))["layout"]
        assert layout["template"] == json.loads(json.dumps(theme["template"])), name
        assert layout["font"] == FONT and layout["legend"] == LEGEND, name
        assert layout["margin"] == MARGIN, name
        assert layout["title"]["font"] == {"size": 14} and layout["title"]["x"] == 0, name
        assert layout["title"]["text"], name
        assert fig["data"], name


def test_no_chart_module_styles_figures_itself():
    """Only theme.py may name a plotly template, a font or margins: the others call house_figure."""
    for path in CHARTS.glob("*.py"):
        if path.name == "theme.py":
            continue
        tree = ast.parse(path.read_text())
        keys = {k.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
                for k in node.keys if isinstance(k, ast.Constant)}
        keywords = {kw.arg for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords}
        assert not ({"template", "font", "margin"} & (keys | keywords)), path.name
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "go" not in names, f"{path.name} builds validated graph_objects figures"
    modules = [p for p in CHARTS.glob("*.py") if p.name not in ("__init__.py", "theme.py")]
    assert all("house_figure" in p.read_text() for p in modules)
