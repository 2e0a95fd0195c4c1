"""Seed-dependent flakes in a real pytest-randomly history get no suspect; a real polluter still does.

A small project (written to a temporary checkout) with three tests whose outcome depends only on
the random seed: pytest-randomly reseeds ``random`` before every test, so with one seed they always
fail and with another always pass, whatever ran before them. As the seed also sets the order, the
order and the failures are tied through the seed, and a detector that reads order as cause sees
patterns. The suite has modules of inherited and parametrized tests (templates, module blocks), and
one real polluter. 30 runs, one seed each, stored from JUnit XML and analysed by the worker's refresh.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from planted_project import UNNEEDED, ingest_history, plugins_off, shuffled_reports, write_checkout
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.analysis.interference import suspects_and_notes
from ingest.models import Result, Test

SEEDED = {  # node id -> the share of seeds it fails with
    "tests/test_shuffle.py::test_shuffled_deck_starts_with_a_low_card": 0.3,
    "tests/test_sample.py::TestSample::test_sample_mean_is_close": 0.2,
    "tests/test_dice.py::test_two_dice_beat_seven": 0.5,
}
POLLUTER = "tests/test_flags.py::test_sets_debug_flag"
VICTIM = "tests/test_render.py::test_render_without_debug"
QUIET = plugins_off(*UNNEEDED, "suitehealth")


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
    root = write_checkout(tmp_path_factory.mktemp("seeded"), FILES)
    return shuffled_reports(root, tmp_path_factory.mktemp("seeded-reports"), range(1, 31), QUIET)


def test_seed_dependent_flakes_get_no_suspect_and_the_real_polluter_is_named(seeded_history, sqlite_engine):
    project_id = ingest_history(sqlite_engine, seeded_history, "seeded")
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
