"""A real brittle test whose truth is "the last writer wins" is checked against every stored run.

python-openflow's `test_vendor_header` passes only when the last test before it that writes a shared
class attribute set it to an 8-byte struct (tests/data/realsuites/python-openflow/README.md). Its
truth lists the setters and the undoers that pair runs (setter → test → victim) found; here the
stored runs, read through suitehealth's own report parser, must agree with that model in every run,
and ``causes_in_runs`` must be exactly the setters that decided a pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.formats import parse
from ingest.sources import ReportSource

DATA = Path(__file__).resolve().parents[1] / "data" / "realsuites"
LAST_WRITER = [
    pytest.param(project.name, v, id=f"{project.name}:{v['victim']}")
    for project in sorted(DATA.iterdir())
    if (project / "truth.json").exists()
    for v in json.loads((project / "truth.json").read_text())["victims"]
    if v.get("model") == "last-writer"
]


def stored_runs(project: str) -> list[list[tuple[str, str]]]:
    """Each stored run as (node id, outcome) in the order the tests ran."""
    out = []
    for path in sorted((DATA / project).glob("run-*.xml.gz")):
        source = ReportSource.from_path(path)
        with source.open() as fh:
            out.append([(c.nodeid, c.outcome) for c in parse(source.name, fh).cases if c.final])
    return out


def test_the_corpus_has_a_last_writer_victim():
    assert [p.values[0] for p in LAST_WRITER] == ["python-openflow"]


@pytest.mark.parametrize(("project", "truth"), LAST_WRITER)
def test_the_last_setter_or_undoer_before_the_victim_decides_every_stored_run(project, truth):
    victim, setters, undoers = truth["victim"], set(truth["causes"]), set(truth["undoers"])
    assert setters and undoers and not setters & undoers
    decided_a_pass: set[str] = set()
    outcomes = []
    for run in stored_runs(project):
        order = [n for n, _ in run]
        before = order[: order.index(victim)]
        outcome = dict(run)[victim]
        outcomes.append(outcome)
        # No writer before it (it ran early): the class attribute keeps its default, and it fails.
        last = next((n for n in reversed(before) if n in setters or n in undoers), None)
        assert (outcome == "passed") == (last in setters), (outcome, last)
        # A setter writes in its class's setUpClass: every test of that class ran before the victim.
        if outcome == "passed":
            decided_a_pass |= {n for n in setters if n.rsplit("::", 1)[0] == last.rsplit("::", 1)[0]}
    assert outcomes.count("failed") == truth["failed_runs"]
    assert outcomes.count("passed") == truth["passed_runs"]
    assert len(outcomes) == truth["model_agrees_runs"]
    assert decided_a_pass == set(truth["causes_in_runs"])
