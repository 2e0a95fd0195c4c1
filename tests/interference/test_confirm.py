"""`suitehealth confirm` end to end on a small real project with planted order dependencies.

The project (written to a temporary checkout) has a polluter, a state-setter with its brittle
test, and a module of six tests of which one leaks. Its history is real: 30 pytest runs shuffled by
pytest-randomly, each stored from its JUnit XML. The analysis names the suspects; confirm re-runs
them with pytest and must prove the true ones, bisect the module down to its one culprit, mark a
wrong suspect "not reproduced", and leave the checkout byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from planted_project import QUIET, ingest_history, shuffled_reports, write_checkout
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.interference import suspects_and_notes
from dashboard.cli import main
from dashboard.confirm import Runner, Target, confirm_target
from ingest.models import Project
from ingest.tokens import create_token

POLLUTER = "tests/test_flags.py::test_sets_debug_flag"
VICTIM = "tests/test_render.py::test_render_without_debug"
SETTER = "tests/test_store.py::test_save_settings"
BRITTLE = "tests/test_reload.py::test_reload_settings"
CULPRIT = "tests/test_modes.py::test_mode_3"
MODE_VICTIM = "tests/test_default.py::test_default_mode"
FILLER = "tests/test_filler0.py::test_0"

LEAK = "state.MODE = 'fast'"
FILES = {
    "conftest.py": "",
    "app/__init__.py": "",
    "app/state.py": "DEBUG = False\nSETTINGS = None\nMODE = None\n",
    "tests/__init__.py": "",
    "tests/test_flags.py": "from app import state\n\n\ndef test_sets_debug_flag():\n    state.DEBUG = True\n",
    "tests/test_render.py": (
        "from app import state\n\n\ndef test_render_without_debug():\n    assert not state.DEBUG\n"),
    "tests/test_store.py": (
        "from app import state\n\n\ndef test_save_settings():\n    state.SETTINGS = {'theme': 'dark'}\n"),
    "tests/test_reload.py": (
        "from app import state\n\n\ndef test_reload_settings():\n"
        "    assert state.SETTINGS['theme'] == 'dark'\n"),
    "tests/test_modes.py": "from app import state\n\n\n" + "".join(
        f"def test_mode_{i}():\n    {LEAK if i == 3 else 'assert True'}\n\n\n" for i in range(6)),
    "tests/test_default.py": (
        "from app import state\n\n\ndef test_default_mode():\n    assert state.MODE is None\n"),
    **{f"tests/test_filler{m}.py": "".join(f"def test_{j}():\n    pass\n\n\n" for j in range(4))
       for m in range(6)},
}


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and directory under ``root`` with its content hash and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            out[str(path.relative_to(root))] = (digest, path.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def shuffled_history(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The checkout and 30 JUnit reports of it, each run shuffled by pytest-randomly."""
    root = write_checkout(tmp_path_factory.mktemp("checkout"), FILES)
    return root, shuffled_reports(root, tmp_path_factory.mktemp("reports"), range(1, 31))


def _ingest(engine, reports: list[Path]) -> int:
    return ingest_history(engine, reports, "planted")


def test_confirm_proves_the_planted_causes_bisects_the_module_and_leaves_the_checkout_alone(
        shuffled_history, sqlite_engine):
    root, reports = shuffled_history
    project_id = _ingest(sqlite_engine, reports)
    with Session(sqlite_engine) as s:
        suspects, _ = suspects_and_notes(s, project_id)
    top = {x.victim: x for x in suspects if x.rank == 1}
    assert set(top) == {VICTIM, BRITTLE, MODE_VICTIM}
    assert top[VICTIM].kind == "polluter" and top[VICTIM].polluters == [POLLUTER]
    assert top[BRITTLE].kind == "state-setter" and top[BRITTLE].polluters == [SETTER]
    assert top[MODE_VICTIM].kind == "polluter" and CULPRIT in top[MODE_VICTIM].polluters
    assert len(top[MODE_VICTIM].polluters) == 6  # the module moves as one block: one group

    before = _snapshot(root)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        main,
        ["--db", url, "confirm", "--project", "planted", "--checkout", str(root), "--timeout", "120",
         *[f"--pytest-arg={a}" for a in QUIET]],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _snapshot(root) == before  # no cache, no bytecode, no .hypothesis: nothing written
    assert "3 proven, 0 not reproduced, 0 skipped." in result.output
    assert f"narrowed to {CULPRIT}" in result.output

    with Session(sqlite_engine) as s:
        confirmed = {x.victim: x for x in suspects_and_notes(s, project_id)[0] if x.rank == 1}
    assert {x.tier for x in confirmed.values()} == {"proven"}
    assert confirmed[MODE_VICTIM].verdict["culprits"] == [CULPRIT]
    assert confirmed[VICTIM].verdict["text"].startswith("proven on ")
    # Proven ones are not re-run unless asked.
    again = CliRunner().invoke(main,
                               ["--db", url, "confirm", "--project", "planted", "--checkout", str(root)])
    assert "Nothing to confirm" in again.output


def test_a_wrong_suspect_is_not_reproduced_and_what_cannot_be_rerun_is_skipped(shuffled_history):
    root, _ = shuffled_history
    before = _snapshot(root)
    run = Runner(root, timeout=120, extra_args=QUIET)
    wrong = confirm_target(Target(VICTIM, "polluter", [FILLER]), run)
    assert wrong.verdict == "not-reproduced" and "passed after" in wrong.detail
    wrong_setter = confirm_target(Target(BRITTLE, "state-setter", [FILLER]), run)
    assert wrong_setter.verdict == "not-reproduced"
    # A victim that fails on its own is not order-dependent as suspected.
    not_a_polluter_victim = confirm_target(Target(BRITTLE, "polluter", [POLLUTER]), run)
    assert not_a_polluter_victim.verdict == "not-reproduced" and "on its own" in not_a_polluter_victim.detail
    gone = confirm_target(Target("tests/test_gone.py::test_x", "polluter", [POLLUTER]), run)
    assert gone.verdict == "skipped"
    # A concurrent suspect needs two xdist workers; this run switches xdist off, and says so.
    clash = confirm_target(Target(VICTIM, "concurrent", [POLLUTER]), run)
    assert clash.verdict == "skipped" and "unrecognized arguments: -n" in clash.detail
    assert _snapshot(root) == before


def test_dry_run_prints_quoted_commands_and_records_nothing(shuffled_history, sqlite_engine):
    root, reports = shuffled_history
    _ingest(sqlite_engine, reports)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    before = _snapshot(root)
    result = CliRunner().invoke(
        main,
        ["--db", url, "confirm", "--project", "planted", "--checkout", str(root), "--dry-run",
         "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was run or recorded." in result.output
    assert "-p no:randomly -p no:cacheprovider" in result.output and "[1/1]" in result.output
    assert _snapshot(root) == before
    with Session(sqlite_engine) as s:
        project_id = s.scalar(select(Project.id).where(Project.name == "planted"))
        assert all(x.verdict is None for x in suspects_and_notes(s, project_id)[0])


def test_verdicts_api_needs_the_projects_token_and_pages_show_the_verdict(shuffled_history, engine, client):
    _, reports = shuffled_history
    _ingest(engine, reports)
    _, secret = create_token(engine, "planted", "confirm")
    _, other = create_token(engine, "elsewhere", "x")
    body = {"victim": VICTIM, "kind": "polluter", "tested": [POLLUTER], "culprits": [POLLUTER],
            "verdict": "proven", "commit": "0123456789abcdef", "detail": "fails after it; passed alone"}
    url = "/api/v1/projects/planted/verdicts"
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers={"Authorization": f"Bearer {other}"}).status_code == 403
    bad = client.post(url, json={**body, "verdict": "maybe"}, headers={"Authorization": f"Bearer {secret}"})
    assert bad.status_code == 400
    ok = client.post(url, json=body, headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 201
    assert ok.get_json()["text"].startswith("proven on ") and "at 0123456789ab" in ok.get_json()["text"]
    suspects = client.get("/api/v1/projects/planted/suspects").get_json()["suspects"]
    (victim,) = [s for s in suspects if s["victim"] == VICTIM]
    assert victim["tier"] == "proven" and victim["verdict"]["commit"] == "0123456789abcdef"
    assert "proven on" in client.get("/projects/planted/suspects").get_data(as_text=True)
    page = client.get("/projects/planted/tests", query_string={"nodeid": VICTIM}).get_data(as_text=True)
    # The verdict comes before the failure messages, which are collapsed into one card.
    assert page.index("proven on") < page.index("Failures and reruns")
    assert page.count("where True = state.DEBUG") == 1
    assert "×</strong>, latest" in page
