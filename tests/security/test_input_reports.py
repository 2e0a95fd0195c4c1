"""Hostile reports on both backends: every one is refused with a clear error naming the file, or
stored with sane values; afterwards no page of the project answers 5xx."""

from __future__ import annotations

import json

import pytest
from input_helpers import (
    NOW,
    failing_pages,
    json_test,
    junit,
    log_phases,
    pytest_json,
    reportlog,
    stored_values_are_sane,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import create_app
from ingest.errors import IngestError
from ingest.models import Result, Run
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

HUGE_INT = "1" + "0" * 400  # a JSON integer no float can hold

# ---- out-of-range numbers and dates: stored, the absurd value becomes unknown -----------------------
OUT_OF_RANGE = {
    "json-created-1e308": pytest_json(created=1e308),
    "json-created-nan": pytest_json(created=float("nan")),
    "json-created-negative": pytest_json(created=-1e12),
    "json-created-huge-int": pytest_json().replace(b'"created": ', b'"created": ' + HUGE_INT.encode() + b", "
                                                   b'"x": '),
    "json-duration-inf": pytest_json(duration=float("inf")),
    "json-phase-nan": pytest_json([json_test("t.py::test_nan", call={"duration": float("nan"),
                                                                    "outcome": "passed"})]),
    "json-phase-1e308": pytest_json([json_test("t.py::test_big", call={"duration": 1e308,
                                                                      "outcome": "passed"})]),
    "json-phase-negative": pytest_json([json_test("t.py::test_neg", call={"duration": -3.0,
                                                                         "outcome": "passed"})]),
    "reportlog-start-1e308": reportlog(*log_phases(start=1e308, stop=1e308)),
    "reportlog-start-negative": reportlog(*log_phases(start=-1e12, stop=-1e12)),
    "reportlog-duration-nan": reportlog(*log_phases(duration=float("nan"))),
    "reportlog-duration-inf": reportlog(*log_phases(duration=float("inf"))),
    "reportlog-started-year-0": reportlog(*log_phases(), session={"suitehealth": {
        "started_at": "0001-01-01T00:00:00+14:00", "random_seed": 1}}),
    "junit-timestamp-year-0": junit('classname="t" name="a" time="1" timestamp="0001-01-01T00:00:00+14:00"',
                                    'timestamp="0001-01-01T00:00:00+14:00"'),
    "junit-timestamp-year-10000": junit('classname="t" name="a" timestamp="9999-12-31T23:59:59-05:00"',
                                        'timestamp="9999-12-31T23:59:59-05:00"'),
    "junit-time-1e308": junit('classname="t" name="a" time="1e308"', 'time="1e308"'),
    "junit-time-nan": junit('classname="t" name="a" time="NaN"', 'time="nan"'),
    "junit-time-inf": junit('classname="t" name="a" time="inf"', 'time="-inf"'),
    "junit-time-eight-days": junit('classname="t" name="a" time="700000"'),
    "durations-999": b"===== slowest durations =====\n" + b"9" * 30 + b".00s call     t.py::test_slow\n"
                     b"0.50s call     t.py::test_ok\n===== 2 passed in " + b"9" * 25 + b"s =====\n",
    "durations-400-digits": b"===== slowest durations =====\n" + b"9" * 400 + b"s call     t.py::test_x\n",
}

# ---- JSON of the wrong shape: refused; the message names the file and the value's path -------------
WRONG_SHAPE = {
    "json-summary-list": (pytest_json(summary=[1]), "summary must be an object"),
    "json-keywords-number": (pytest_json([json_test("t.py::a", keywords=5)]), "tests[0].keywords"),
    "json-crash-message-object": (
        pytest_json([json_test("t.py::a", "failed", call={"outcome": "failed", "duration": 1, "longrepr": "x",
                                                          "crash": {"message": {"a": 1}}})]),
        "tests[0].call.crash.message"),
    "json-phase-string": (pytest_json([json_test("t.py::a", call="passed")]), "tests[0].call must be"),
    "json-longrepr-list": (pytest_json([json_test("t.py::a", "failed", call={"outcome": "failed",
                                                                             "longrepr": [1]})]),
                           "tests[0].call.longrepr"),
    "json-duration-string": (pytest_json([json_test("t.py::a", setup={"duration": "1.0"})]),
                             "tests[0].setup.duration"),
    "json-root-number": (pytest_json(root=5), "root must be"),
    "json-created-string": (pytest_json(created="yesterday"), "created must be"),
    "json-outcome-list": (pytest_json([json_test("t.py::a", outcome=["passed"])]), "outcome must be a"),
    "reportlog-worker-list": (reportlog(*log_phases(worker_id=[1, 2])), "worker_id must be"),
    "reportlog-reprtraceback-string": (
        reportlog(*log_phases(outcome="failed", longrepr={"reprtraceback": "oops"})),
        "reprtraceback must be"),
    "reportlog-reprcrash-message-number": (
        reportlog(*log_phases(outcome="failed", longrepr={"reprcrash": {"message": 5}})),
        "reprcrash.message"),
    "reportlog-entry-lines-number": (
        reportlog(*log_phases(outcome="failed", longrepr={"reprtraceback": {"reprentries": [
            {"type": "ReprEntry", "data": {"lines": 5}}]}})), "lines must be"),
    "reportlog-location-number": (reportlog(*log_phases(location=[5, 1, "x"])), "location[0]"),
    "reportlog-markers-string": (reportlog(*log_phases(suitehealth={"markers": "slow"})), "markers must be"),
    "reportlog-start-string": (reportlog(*log_phases(start="now")), "start must be"),
    "reportlog-keywords-number": (reportlog(*log_phases(keywords=3)), "keywords must be"),
    "reportlog-session-extra-list": (reportlog(*log_phases(), session={"suitehealth": [1]}),
                                     "suitehealth must be"),
    "reportlog-collect-nodeid-number": (
        reportlog({"$report_type": "CollectReport", "nodeid": 7, "outcome": "failed", "longrepr": "x"}),
        "nodeid must be"),
}


def _store(engine, name: str, data: bytes, **meta):
    return ingest_sources(engine, [ReportSource.from_bytes(name, data)],
                          RunMeta(project=meta.pop("project", "hostile"), **meta))


def _app(engine):
    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                       "REFRESH_AFTER_UPLOAD": False})


def test_out_of_range_numbers_and_dates_are_stored_as_sane_values(engine):
    stored = []
    for name, data in OUT_OF_RANGE.items():
        summary = _store(engine, f"{name}.report", data, suite=name)
        stored.append(summary.run_id)
    assert len(set(stored)) == len(OUT_OF_RANGE)
    assert stored_values_are_sane(engine) == []
    with Session(engine) as session:
        # The absurd times became unknown rather than a week or 1e299 s.
        durations = session.scalars(select(Result.duration_s)).all()
        assert max(d for d in durations if d is not None) <= 1.0
        assert all(r.duration_s is None or r.duration_s < 3600 for r in session.scalars(select(Run)))
    assert failing_pages(_app(engine).test_client(), engine) == []


@pytest.mark.parametrize("name", sorted(WRONG_SHAPE))
def test_json_of_the_wrong_shape_is_refused_naming_file_and_value(engine, name):
    data, words = WRONG_SHAPE[name]
    with pytest.raises(IngestError) as caught:
        _store(engine, f"{name}.json", data)
    message = str(caught.value)
    assert message.startswith(f"{name}.json"), message
    assert words in message, message
    with Session(engine) as session:
        assert session.scalars(select(Run)).first() is None


def test_wrong_shape_on_the_command_line_is_one_line_without_traceback(cli, tmp_path):
    path = tmp_path / "summary.json"
    path.write_bytes(WRONG_SHAPE["json-summary-list"][0])
    result = CliResult(cli("ingest", path, "--project", "p"))
    assert result.code == 1
    assert "Traceback" not in result.output
    assert result.lines == [f"Error: {path}: summary must be an object, not a list"]


class CliResult:
    def __init__(self, result):
        self.code = result.exit_code
        self.output = result.output
        self.lines = [line for line in result.output.splitlines() if line.strip()]


def test_hostile_json_values_found_by_hypothesis_never_escape_as_tracebacks(engine):
    """Replace one value anywhere in real reports by arbitrary JSON: IngestError or a sane run."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )
    bases = [json.loads(pytest_json()), *[json.loads(line) for line in reportlog(*log_phases(
        outcome="failed", longrepr={"reprcrash": {"message": "m"}, "reprtraceback": {"reprentries": [
            {"type": "ReprEntry", "data": {"lines": ["x"], "reprfileloc": {"path": "t.py", "lineno": 1,
                                                                           "message": "E"}}}]}},
        worker_id="gw0", suitehealth={"markers": ["slow"], "fixtures": ["tmp_path"]}),
        session={"suitehealth": {"random_seed": 3, "started_at": NOW.isoformat()}}).splitlines()]]
    counter = iter(range(10**6))

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.data())
    def check(data):
        which = data.draw(st.sampled_from(["json", "reportlog"]))
        if which == "json":
            doc = json.loads(json.dumps(bases[0]))
            _replace_somewhere(doc, data, json_values)
            payload = json.dumps(doc).encode()
        else:
            lines = [json.loads(json.dumps(b)) for b in bases[1:]]
            index = data.draw(st.integers(1, len(lines) - 2))
            _replace_somewhere(lines[index], data, json_values)
            payload = "\n".join(json.dumps(line) for line in lines).encode()
        n = next(counter)
        try:
            _store(engine, f"fuzz{n}.json", payload, suite=f"s{n}")
        except IngestError as exc:
            assert str(exc).startswith(f"fuzz{n}.json")

    check()
    assert stored_values_are_sane(engine) == []


def _replace_somewhere(doc, data, values) -> None:
    """Replace one value, at any depth, of ``doc`` by a drawn JSON value."""
    from hypothesis import strategies as st

    node = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        node[key] = data.draw(values)
        return
