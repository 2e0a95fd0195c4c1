"""Seed-dependent flakes in a real pytest-randomly history get no suspect; a real polluter still does.

A small project (written to a temporary checkout) with three tests whose outcome depends only on
the random seed: pytest-randomly reseeds ``random`` before every test, so with one seed they always
fail and with another always pass, whatever ran before them. As the seed also sets the order, the
order and the failures are tied through the seed, and a detector that reads order as cause sees
patterns. The suite has modules of inherited and parametrized tests (templates, module blocks), and
one real polluter. 30 runs, one seed each, stored from JUnit XML and analysed by the worker's refresh.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.analysis.interference import suspects_and_notes
from dashboard.analysis.updates import refresh_project
from ingest.models import Project, Result, Test
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

SEEDED = {  # node id -> the share of seeds it fails with
    "tests/test_shuffle.py::test_shuffled_deck_starts_with_a_low_card": 0.3,
    "tests/test_sample.py::TestSample::test_sample_mean_is_close": 0.2,
    "tests/test_dice.py::test_two_dice_beat_seven": 0.5,
}
POLLUTER = "tests/test_flags.py::test_sets_debug_flag"
VICTIM = "tests/test_render.py::test_render_without_debug"
UNNEEDED = ("schemathesis", "hypothesispytest", "anyio", "xdist", "rerunfailures", "metadata",
            "pytest_jsonreport", "pytest_reportlog", "subtests", "suitehealth")
QUIET = [arg for name in UNNEEDED for arg in ("-p", f"no:{name}")]


def _seeded(rate: float, name: str, indent: str = "") -> str:
    return (f"{indent}def {name}({'self' if indent else ''}):\n"
            f"{indent}    assert random.random() >= {rate}\n\n\n")


FILES = {
    "conftest.py": "",
    "app/__init__.py": "",
    "app/state.py": "DEBUG = False\n",
    "tests/__init__.py": "",
    "tests/test_flags.py": "from app import state\n\n\ndef test_sets_debug_flag():\n    state.DEBUG = True\n",
    "tests/test_render.py": (
        "from app import state\n\n\ndef test_render_without_debug():\n    assert not state.DEBUG\n"),
    "tests/test_shuffle.py": "import random\n\n\n" + _seeded(0.3, "test_shuffled_deck_starts_with_a_low_card")
    + "def test_deck_has_52_cards():\n    assert len(range(52)) == 52\n",
    "tests/test_sample.py": "import random\n\n\nclass TestSample:\n"
    + _seeded(0.2, "test_sample_mean_is_close", "    ")
    + "    def test_sample_size(self):\n        assert True\n",
    "tests/test_dice.py": "import random\n\n\n" + _seeded(0.5, "test_two_dice_beat_seven")
    + "def test_die_has_six_faces():\n    assert True\n",
    # Modules of inherited methods and parametrized tests: module blocks and templates everywhere.
    **{f"tests/test_fill{m}.py": (
        "import pytest\n\n\nclass Base:\n    def test_one(self):\n        pass\n\n"
        "    def test_two(self):\n        pass\n\n\n"
        "class TestA(Base):\n    pass\n\n\nclass TestB(Base):\n    pass\n\n\n"
        "@pytest.mark.parametrize('n', range(3))\ndef test_param(n):\n    pass\n")
       for m in range(10)},
}


@pytest.fixture(scope="module")
def seeded_history(tmp_path_factory) -> list[Path]:
    """30 JUnit reports of the project, each run shuffled and reseeded by pytest-randomly."""
    root = tmp_path_factory.mktemp("seeded")
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    reports = tmp_path_factory.mktemp("seeded-reports")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    paths = []
    for seed in range(1, 31):
        report = reports / f"run-{seed:02d}.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "randomly", "-p", "no:cacheprovider", *QUIET,
             f"--randomly-seed={seed}", f"--junitxml={report}", "-q", "tests"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=300)
        paths.append(report)
    return paths


def test_seed_dependent_flakes_get_no_suspect_and_the_real_polluter_is_named(seeded_history, sqlite_engine):
    for i, path in enumerate(seeded_history):
        meta = RunMeta(project="seeded", suite="tests", branch="main", commit="c0",
                       started_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i))
        ingest_sources(sqlite_engine, [ReportSource.from_path(path)], meta)
    with Session(sqlite_engine) as s:
        project_id = s.scalar(select(Project.id).where(Project.name == "seeded"))
    refresh_project(sqlite_engine, project_id)
    with Session(sqlite_engine) as s:
        counts = dict(s.execute(
            select(Test.nodeid, func.count(Result.id)).join(Result, Result.test_id == Test.id)
            .where(Test.project_id == project_id, Result.outcome == "failed").group_by(Test.nodeid)).all())
        suspects, notes = suspects_and_notes(s, project_id)
    # Each seeded test really flaked: it failed with some seeds and passed with the others.
    assert all(3 <= counts.get(n, 0) <= 27 for n in SEEDED), counts
    accused = {x.victim for x in suspects}
    assert accused.isdisjoint(SEEDED), [(x.victim, x.polluters[:3], x.tier) for x in suspects]
    assert {x.victim for x in notes}.isdisjoint(SEEDED)
    (mine,) = [x for x in suspects if x.victim == VICTIM]
    assert mine.kind == "polluter" and POLLUTER in mine.polluters
    assert accused == {VICTIM}
