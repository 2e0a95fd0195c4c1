"""`suitehealth export` / `import`: a project's history as JSON Lines, moved between SQLite and
PostgreSQL, idempotent on re-import, and merging two CI databases."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from history_helpers import case, store_run
from quarantine_helpers import quarantine

from dashboard.cli import main
from ingest.records import RunMeta
from ingest.store import store_cases


def _run(url: str, *args):
    return CliRunner().invoke(main, ["--db", url, *map(str, args)], catch_exceptions=False)


def _history(url: str, project: str = "shop", first: int = 0) -> None:
    from ingest.db import make_engine

    engine = make_engine(url)
    for i in range(first, first + 4):
        store_run(engine, project, "unit", {"t.py::test_a": "passed", "t.py::test_b[<x>]": "failed" if i == 2
                                            else "passed"}, i)
    # A rerun: two attempts of one test, the first not final.
    meta = RunMeta(project=project, suite="e2e", branch="main", commit="c9", started_at=None)
    store_cases(engine, meta, [case("e.py::test_flow", "failed")._replace(attempt=1, final=False),
                               case("e.py::test_flow", "passed")._replace(attempt=2, order_index=1)],
                content_hash=f"rerun-{first}")
    quarantine(engine, project, {"t.py::test_b": "flaky <b>"})
    engine.dispose()


@pytest.mark.postgres
def test_history_moves_from_sqlite_to_postgresql_and_back_unchanged(sqlite_url, pg_url, tmp_path):
    _history(sqlite_url)
    first = tmp_path / "a.jsonl"
    assert _run(sqlite_url, "export", "--project", "shop", "-o", first).exit_code == 0
    lines = [json.loads(line) for line in first.read_text().splitlines()]
    assert lines[0] == {"type": "header", "format": "suitehealth-history", "version": 1, "project": "shop"}
    assert [line["type"] for line in lines].count("run") == 5
    moved = _run(pg_url, "import", first)
    assert moved.output == "Imported 5 runs (0 already stored), 1 quarantine entries.\n"
    again = _run(pg_url, "import", first)
    assert again.output == "Imported 0 runs (5 already stored), 0 quarantine entries.\n"
    back = tmp_path / "b.jsonl"
    _run(pg_url, "export", "--project", "shop", "-o", back)
    assert back.read_text() == first.read_text()
    rerun = next(line for line in lines if line["type"] == "run" and line["suite"] == "e2e")
    assert [(c["attempt"], c["final"], c["outcome"]) for c in rerun["cases"]] == [(1, False, "failed"),
                                                                                  (2, True, "passed")]


def test_two_ci_databases_merge_into_one(db_url, tmp_path):
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    _history(one, first=0)
    _history(two, first=2)  # runs 2 and 3 are the same runs in both databases
    for url, name in ((one, "one.jsonl"), (two, "two.jsonl")):
        _run(url, "export", "--project", "shop", "-o", tmp_path / name)
    assert _run(db_url, "import", tmp_path / "one.jsonl").output.startswith("Imported 5 runs (0 already")
    assert _run(db_url, "import", tmp_path / "two.jsonl").output.startswith("Imported 3 runs (2 already")
    runs = json.loads(_run(db_url, "runs", "--project", "shop", "--json", "--limit", "100").output)["runs"]
    assert len(runs) == 8


def test_import_under_another_name_and_refusals(db_url, tmp_path, sqlite_url):
    _history(sqlite_url)
    path = tmp_path / "h.jsonl"
    _run(sqlite_url, "export", "--project", "shop", "-o", path)
    assert _run(db_url, "import", path, "--project", "shop-copy").exit_code == 0
    assert len(json.loads(_run(db_url, "runs", "--project", "shop-copy", "--json").output)["runs"]) == 5
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "run"}\n')
    refused = _run(db_url, "import", bad)
    assert refused.exit_code == 1 and "line 1: not a suitehealth-history file" in refused.output
    assert _run(db_url, "export", "--project", "nope").exit_code == 1
