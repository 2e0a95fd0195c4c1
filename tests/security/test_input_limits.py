"""Stored strings on both backends: NUL, huge test names and over-long metadata are refused with a
message or clipped with a visible marker before the database sees them (PostgreSQL refused them)."""

from __future__ import annotations

import pytest
from input_helpers import failing_pages, json_test, log_phases, pytest_json, reportlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import create_app
from ingest.errors import MetadataError
from ingest.limits import NODEID_MAX_BYTES
from ingest.models import Project, Result, Run, Test
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources
from ingest.tokens import create_token

NUL = "\x00"


def _store(engine, data: bytes, name: str = "r.json", **meta):
    meta.setdefault("project", "p")
    return ingest_sources(engine, [ReportSource.from_bytes(name, data)], RunMeta(**meta))


def _app(engine):
    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                       "REFRESH_AFTER_UPLOAD": False})


def test_nul_in_every_text_field_is_stored_visibly_escaped(engine):
    failing = json_test(f"t.py::test_{NUL}nul", "failed", keywords=[f"mark{NUL}x", "t.py"])
    failing["call"].update(longrepr=f"E   assert {NUL}", crash={"message": f"bad {NUL} value"})
    data = pytest_json([failing], root=f"/src{NUL}/app")
    summary = _store(engine, data, f"a{NUL}b.json", suite="unit", branch=f"feat{NUL}x", build_id=f"b{NUL}1",
                     build_url=f"https://ci/{NUL}", environment={"ci": f"gh{NUL}"})
    log = reportlog(*log_phases(f"t.py::test_{NUL}log", worker_id=f"gw{NUL}0",
                                suitehealth={"markers": [f"slow{NUL}"]}),
                    session={"suitehealth": {"random_seed": f"12{NUL}3"}})
    _store(engine, log, "log.jsonl", suite="log")
    with Session(engine) as session:
        run = session.get(Run, summary.run_id)
        assert (run.branch, run.build_id, run.build_url) == ("feat␀x", "b␀1", "https://ci/␀")
        assert run.environment == {"ci": "gh␀"}
        assert run.sources == ["a␀b.json"]
        nodeids = set(session.scalars(select(Test.nodeid)))
        assert nodeids == {"t.py::test_␀nul", "t.py::test_␀log"}
        assert set(session.scalars(select(Result.worker_id))) == {None, "gw␀0"}
        messages = session.scalars(select(Result.message).where(Result.message.is_not(None))).all()
        assert messages == ["bad ␀ value"]
        assert session.scalars(select(Run.random_seed).where(Run.random_seed.is_not(None))).one() == "12␀3"
        dumped = repr([t.markers for t in session.scalars(select(Test))])
        assert NUL not in dumped
    assert failing_pages(_app(engine).test_client(), engine) == []


def test_test_names_over_the_index_limit_keep_their_identity(engine):
    ascii_a = "t.py::test_a[" + "x" * 3000 + "-1]"
    ascii_b = "t.py::test_a[" + "x" * 3000 + "-2]"  # same 3 KB prefix, another test
    cjk = "t.py::test_b[" + "測" * 3000 + "]"  # 9 KB of UTF-8
    tests = [json_test(ascii_a), json_test(ascii_b, "failed"), json_test(cjk)]
    _store(engine, pytest_json(tests), suite="one")
    _store(engine, pytest_json(tests, created=1.7e9), suite="two")
    with Session(engine) as session:
        stored = session.scalars(select(Test.nodeid)).all()
        assert len(stored) == 3  # two runs, three tests: each long name maps to the same row again
        assert all(len(n.encode()) <= NODEID_MAX_BYTES for n in stored)
        assert all("…#" in n for n in stored)
        assert session.scalar(select(Result.id).limit(1)) is not None
        assert len(session.scalars(select(Result.test_id)).all()) == 6
    assert failing_pages(_app(engine).test_client(), engine) == []


def test_descriptive_text_is_clipped_with_a_marker(engine):
    worker = "gw" + "9" * 60
    seed = "7" * 150
    data = reportlog(*log_phases(worker_id=worker, suitehealth={"markers": ["m" * 300]}),
                     session={"suitehealth": {"random_seed": seed}})
    summary = _store(engine, data, "log.jsonl", branch="b" * 400, build_id="i" * 300,
                     build_url="https://ci.example/" + "u" * 3000)
    with Session(engine) as session:
        run = session.get(Run, summary.run_id)
        assert len(run.branch) == 300 and run.branch.endswith("…")
        assert len(run.build_id) == 200 and len(run.build_url) == 2000
        assert len(run.random_seed) == 100 and run.random_seed.endswith("…")
        result = session.scalars(select(Result)).one()
        assert len(result.worker_id) == 50 and result.worker_id.endswith("…")
        test = session.scalars(select(Test)).one()
        assert [len(m) for m in test.markers] == [200]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("project", "p" * 201, "--project is 201 characters long; at most 200"),
    ("suite", "s" * 201, "--suite is 201 characters long; at most 200"),
    ("commit", "c" * 80, "--commit is 80 characters long; at most 64"),
    ("project", f"a{NUL}b", "--project must not contain a NUL"),
])
def test_names_that_do_not_fit_are_refused_and_nothing_is_stored(engine, field, value, words):
    meta = {"project": "p", field: value}
    with pytest.raises(MetadataError, match=words):
        _store(engine, pytest_json(), **meta)
    with Session(engine) as session:
        assert session.scalars(select(Project)).first() is None


def test_command_line_refuses_long_names_in_one_line(cli, tmp_path):
    report = tmp_path / "r.json"
    report.write_bytes(pytest_json())
    cases = [
        (("ingest", report, "--project", "p" * 201), "--project is 201 characters long"),
        (("ingest", report, "--project", "p", "--suite", "s" * 201), "--suite is 201 characters long"),
        (("ingest", report, "--project", "p", "--commit", "c" * 80), "--commit is 80 characters long"),
        (("ingest", report, "--project", "p", "--started-at", "9999-12-31T23:59:59-05:00"),
         "is not between 1970 and tomorrow"),
        (("token", "create", "--project", "t" * 201), "--project is 201 characters long"),
    ]
    for args, words in cases:
        result = cli(*args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0], result.output
    ok = cli("ingest", report, "--project", "p", "--branch", "b" * 400)
    assert ok.exit_code == 0, ok.output


def test_token_for_an_over_long_project_is_refused(engine):
    with pytest.raises(MetadataError):
        create_token(engine, "x" * 201)
