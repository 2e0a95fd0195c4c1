"""`suitehealth confirm --unexplained` on a small real project whose history cannot name its causes.

The project (a temporary checkout) copies python-openflow's brittle test: a victim that needs a shared
class attribute to be 8, two setters that write 8 and six undoers that write 16; the last writer
before the victim decides. Next to it a polluter with two cleaners (last writer wins again), and a
random flake (``random.random()``: seeded per test by pytest-randomly in the history, truly random
in confirm's runs). Its history is 12 real pytest runs shuffled by pytest-randomly, stored from their
JUnit XML: the victims flip, too rarely and too inconsistently for the detector to name a suspect.

confirm must re-run the stored order before each victim, bisect it (ddmin) down to one true setter
and the polluter, record them as proven, show them on the suspects and test pages, say "not
reproduced" for the random flake, and leave the checkout byte for byte as it was.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from planted_project import QUIET, ingest_history, shuffled_reports, write_checkout
from sqlalchemy.orm import Session
from test_confirm import _snapshot

from dashboard.analysis.confirmations import latest_verdicts
from dashboard.analysis.flaky import flaky_tests
from dashboard.analysis.interference import suspects_and_notes
from dashboard.analysis.updates import refresh_project
from dashboard.analysis.window import Window
from dashboard.cli import main
from dashboard.confirm import Runner
from dashboard.confirm_unexplained import Victim, confirm_unexplained, ddmin, victims_from_db
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

BRITTLE = "tests/test_brittle.py::test_width_is_8"
SETTERS = {"tests/test_hello.py::test_hello_width", "tests/test_echo.py::test_echo_width"}
UNDOERS = {f"tests/test_big{i}.py::test_big_width" for i in range(6)}
POLLUTER = "tests/test_debug.py::test_turns_debug_on"
CLEANERS = {f"tests/test_clean{i}.py::test_resets_debug" for i in range(2)}
VICTIM = "tests/test_render.py::test_render_without_debug"
COIN = "tests/test_coin.py::test_coin"
SEEDS = range(1, 13)

SHARED = "from app.state import Shared\n\n\n"
FILES = {
    "conftest.py": "",
    "app/__init__.py": "",
    "app/state.py": (
        "class Shared:\n"
        "    width = None  # the brittle test needs 8: setters write 8, undoers 16, the last one wins\n"
        "    debug = False  # the polluter writes True, cleaners False\n"),
    "tests/__init__.py": "",
    "tests/test_hello.py": (SHARED + "def test_hello_width():\n    Shared.width = 8\n\n\n"
                            "def test_hello_text():\n    assert 'hello'.upper() == 'HELLO'\n"),
    "tests/test_echo.py": SHARED + "def test_echo_width():\n    Shared.width = 8\n",
    **{f"tests/test_big{i}.py": SHARED + "def test_big_width():\n    Shared.width = 16\n"
       for i in range(6)},
    "tests/test_brittle.py": (
        "from app.state import Shared\n\n\ndef test_width_is_8():\n    assert Shared.width == 8\n"),
    "tests/test_debug.py": SHARED + "def test_turns_debug_on():\n    Shared.debug = True\n",
    **{f"tests/test_clean{i}.py": (
        "from app.state import Shared\n\n\ndef test_resets_debug():\n    Shared.debug = False\n")
       for i in range(2)},
    "tests/test_render.py": (
        "from app.state import Shared\n\n\ndef test_render_without_debug():\n    assert not Shared.debug\n"),
    # Random in the shuffled history (pytest-randomly seeds it per test). Under confirm (see _coin_turns)
    # it passes and fails in turn, so the test never depends on luck: no order can explain it.
    "tests/test_coin.py": (
        "import os\nimport random\nfrom pathlib import Path\n\n\ndef test_coin():\n"
        "    turns = os.environ.get('COIN_TURNS')\n"
        "    if turns:\n"
        "        path = Path(turns)\n"
        "        n = int(path.read_text()) if path.exists() else 0\n"
        "        path.write_text(str(n + 1))\n"
        "        assert n % 2 == 0\n"
        "    else:\n"
        "        assert random.random() < 0.7\n"),
    **{f"tests/test_filler{m}.py": "".join(f"def test_{j}():\n    pass\n\n\n" for j in range(3))
       for m in range(4)},
}


@pytest.fixture(autouse=True)
def _coin_turns(tmp_path, monkeypatch):
    """Make the coin alternate in confirm's pytest runs (its counter lives outside the checkout)."""
    monkeypatch.setenv("COIN_TURNS", str(tmp_path / "coin-turns"))


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The checkout and 12 JUnit reports of it, each run shuffled by pytest-randomly."""
    root = write_checkout(tmp_path_factory.mktemp("checkout"), FILES)
    return root, shuffled_reports(root, tmp_path_factory.mktemp("reports"), SEEDS)


def _ingest(engine, reports: list[Path]) -> int:
    return ingest_history(engine, reports, "lastwriter")


def test_the_history_names_no_suspect_for_the_three_flaky_tests(history, sqlite_engine):
    _, reports = history
    project_id = _ingest(sqlite_engine, reports)
    with Session(sqlite_engine) as s:
        flaky = {f.nodeid for f in flaky_tests(s, project_id)}
        suspects, _ = suspects_and_notes(s, project_id)
    assert {BRITTLE, VICTIM, COIN} <= flaky
    assert not {x.victim for x in suspects} & {BRITTLE, VICTIM, COIN}


def test_pytest_runs_the_given_node_ids_in_the_given_order(history):
    root, _ = history
    run = Runner(root, timeout=120, extra_args=QUIET)
    setter, undoer = sorted(SETTERS)[0], sorted(UNDOERS)[0]
    # Setter last: the brittle test passes; undoer last: it fails. Node ids of other modules in between.
    assert run([undoer, "tests/test_filler0.py::test_1", setter, BRITTLE])[BRITTLE] == "passed"
    assert run([setter, "tests/test_filler0.py::test_1", undoer, BRITTLE])[BRITTLE] == "failed"


def test_unexplained_proves_a_setter_and_the_polluter_and_not_the_random_flake(history, engine, client):
    root, reports = history
    project_id = _ingest(engine, reports)
    before = _snapshot(root)
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        main, ["--db", url, "confirm", "--project", "lastwriter", "--unexplained", "--checkout", str(root),
               "--timeout", "120", *[f"--pytest-arg={a}" for a in QUIET]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _snapshot(root) == before  # no cache, no bytecode: nothing written in the checkout
    assert "2 proven, 1 not reproduced, 0 skipped." in result.output, result.output
    assert re.search(r"flaky, no suspect: tests/test_coin.py::test_coin … not order-dependent here "
                     r"\(not reproduced\) \(\d+ pytest runs, [\d.]+ s\)", result.output), result.output

    with Session(engine) as s:
        verdicts = {v.victim: v for v in latest_verdicts(s, project_id)}
        suspects, _ = suspects_and_notes(s, project_id)
    brittle, render, coin = verdicts[BRITTLE], verdicts[VICTIM], verdicts[COIN]
    assert brittle.verdict == "proven" and brittle.kind == "state-setter"
    assert len(brittle.culprits) == 1 and brittle.culprits[0] in SETTERS  # a real setter, 1-minimal
    assert render.verdict == "proven" and render.kind == "polluter" and render.culprits == [POLLUTER]
    assert coin.verdict == "not-reproduced" and not coin.culprits
    assert brittle.text.startswith(f"narrowed to {brittle.culprits[0]} (proven on ")
    assert "victim alone fails (4/4)" in brittle.detail and "then victim passes (4/4)" in brittle.detail
    # The proofs show as suspects of their own; the random flake still has none.
    shown = {x.victim: x for x in suspects}
    assert COIN not in shown
    assert shown[BRITTLE].tier == "proven" and shown[BRITTLE].polluters == brittle.culprits
    assert shown[VICTIM].kind == "polluter" and shown[VICTIM].polluters == [POLLUTER]

    api = client.get("/api/v1/projects/lastwriter/suspects").get_json()["suspects"]
    assert {(s["victim"], s["tier"], s["verdict"]["verdict"]) for s in api} == {
        (BRITTLE, "proven", "proven"), (VICTIM, "proven", "proven")}
    page = client.get("/projects/lastwriter/suspects").get_data(as_text=True)
    assert page.count("Proven by <code>suitehealth confirm</code> on ") == 2
    assert f"{POLLUTER} then the victim fails; the victim alone passes." in page
    test_page = client.get("/projects/lastwriter/tests",
                           query_string={"nodeid": BRITTLE}).get_data(as_text=True)
    assert f"{brittle.culprits[0]} then the victim passes; the victim alone fails." in test_page
    setter_page = client.get("/projects/lastwriter/tests",
                             query_string={"nodeid": brittle.culprits[0]}).get_data(as_text=True)
    assert "Tests this one makes fail" in setter_page and BRITTLE in setter_page

    # Every flaky test now has a verdict: nothing is re-run unless asked.
    again = CliRunner().invoke(main, ["--db", url, "confirm", "--project", "lastwriter", "--unexplained",
                                      "--checkout", str(root)])
    assert again.exit_code == 0 and "Nothing to confirm" in again.output


def test_a_victim_alone_that_does_not_flip_is_not_reproduced_and_nothing_is_invented(history, sqlite_engine):
    root, reports = history
    project_id = _ingest(sqlite_engine, reports)
    victims = {v.nodeid: v for v in victims_from_db(sqlite_engine, "lastwriter").victims}
    brittle = victims[BRITTLE]
    assert brittle.passed_run and brittle.failed_run and brittle.passed_run.before
    run = Runner(root, timeout=120, extra_args=QUIET)
    # Only the stored run where it *failed*: a brittle test fails alone, so that run cannot flip it.
    no_pass = confirm_unexplained(Victim(BRITTLE, "tests", None, brittle.failed_run), run)
    assert no_pass.verdict == "not-reproduced" and not no_pass.culprits
    assert "not order-dependent here" in no_pass.detail
    # A prefix that does not reproduce the stored outcome (only undoers before it): not reproduced.
    undone = type(brittle.passed_run)(brittle.passed_run.run_id, "passed", sorted(UNDOERS))
    not_again = confirm_unexplained(Victim(BRITTLE, "tests", undone, None), run)
    assert not_again.verdict == "not-reproduced" and "failed after the 6 tests" in not_again.detail
    assert not_again.runs == 3
    with Session(sqlite_engine) as s:
        assert latest_verdicts(s, project_id) == []  # the library records nothing by itself


def test_dry_run_and_victim_selection(history, sqlite_engine):
    root, reports = history
    _ingest(sqlite_engine, reports)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    before = _snapshot(root)
    dry = CliRunner().invoke(main, ["--db", url, "confirm", "--project", "lastwriter", "--unexplained",
                                    "--victim", BRITTLE, "--checkout", str(root), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"[1/1] flaky, no suspect: {BRITTLE}" in dry.output
    assert "if it fails alone: the " in dry.output and "-p no:randomly" in dry.output
    assert "Dry run: nothing was run or recorded." in dry.output
    assert _snapshot(root) == before
    not_flaky = CliRunner().invoke(main, ["--db", url, "confirm", "--project", "lastwriter", "--unexplained",
                                          "--victim", "tests/test_filler0.py::test_0"])
    assert not_flaky.exit_code == 1 and "is not a flaky test of 'lastwriter'" in not_flaky.output
    assert "Traceback" not in not_flaky.output
    alone = CliRunner().invoke(main, ["--db", url, "confirm", "--project", "lastwriter", "--victim", BRITTLE])
    assert alone.exit_code == 2 and "--victim goes with --unexplained" in alone.output


def test_ddmin_keeps_the_order_and_returns_a_one_minimal_set():
    # Last writer wins, as in the project: the victim passes iff the last writer is a setter.
    writers = {"s1": 8, "s2": 8, "s3": 8, "u1": 16, "u2": 16}

    def passes(tests):
        last = [writers[t] for t in tests if t in writers]
        return bool(last) and last[-1] == 8

    prefix = ["f1", "s1", "u1", "f2", "s2", "f3", "u2", "f4", "s3", "f5"]
    calls = []
    found = ddmin(prefix, lambda t: calls.append(list(t)) or passes(t))
    assert len(found) == 1 and found[0] in ("s1", "s2", "s3")
    assert calls and all(c == [t for t in prefix if t in c] for c in calls)  # every run keeps the order
    # Two tests needed together: both stay, in their order.
    both = ddmin(["a", "x", "b", "y"], lambda t: "a" in t and "b" in t and t.index("a") < t.index("b"))
    assert both == ["a", "b"]


def test_the_api_answers_the_victims_and_orders_the_database_path_reads(history, engine, client):
    from dashboard.analysis.confirmations import record_verdict
    from dashboard.analysis.unexplained import UnexplainedVictims

    _, reports = history
    project_id = _ingest(engine, reports)
    api = "/api/v1/projects/lastwriter/unexplained"
    from_db = victims_from_db(engine, "lastwriter")
    answer = client.get(api).get_json()
    assert UnexplainedVictims.from_json(answer) == from_db
    assert [v.nodeid for v in from_db.victims] == [v["nodeid"] for v in answer["victims"]]
    assert {v.nodeid for v in from_db.victims} == {BRITTLE, VICTIM, COIN}
    assert (answer["total"], answer["limit"], answer["left_off"]) == (3, 10, 0)
    (brittle,) = [v for v in answer["victims"] if v["nodeid"] == BRITTLE]
    assert brittle["passed_run"]["outcome"] == "passed" and brittle["failed_run"]["outcome"] == "failed"
    assert brittle["passed_run"]["before"] and not brittle["has_suspect"]  # whole order, as stored
    # Bounded: the first victims in the same order, and how many were left off.
    one = client.get(api, query_string={"limit": 1}).get_json()
    assert one["victims"] == answer["victims"][:1] and (one["total"], one["left_off"]) == (3, 2)
    named = client.get(api, query_string={"victim": BRITTLE}).get_json()
    assert named["victims"] == [brittle] and named["total"] == 1
    not_flaky = client.get(api, query_string={"victim": "tests/test_filler0.py::test_0"})
    assert not_flaky.status_code == 404
    assert not_flaky.get_json() == {"error": "'tests/test_filler0.py::test_0' is not a flaky test of "
                                             "'lastwriter'", "status": 404}
    missing = client.get("/api/v1/projects/nope/unexplained")
    assert missing.status_code == 404 and missing.get_json()["error"] == "no project named 'nope'"
    for bad in ({"limit": 0}, {"limit": 101}, {"again": 2}, {"limit": "x"}):
        assert client.get(api, query_string=bad).status_code == 400, bad
    # A verdict takes its victim off the list; ?again=1 brings it back.
    with Session(engine) as s, s.begin():
        record_verdict(s, project_id, victim=COIN, kind="unexplained", tested=[], culprits=[],
                       verdict="not-reproduced")
    after = client.get(api).get_json()
    assert COIN not in {v["nodeid"] for v in after["victims"]} and after["total"] == 2
    again = client.get(api, query_string={"again": 1}).get_json()
    assert again["victims"] == answer["victims"]
    assert UnexplainedVictims.from_json(again) == victims_from_db(engine, "lastwriter", again=True)


def test_with_a_server_and_no_database_victims_come_from_the_api_and_proofs_go_back(
        history, sqlite_engine, server_factory, tcp_port):
    """Under sign-in (SUITEHEALTH_AUTH=token) the upload token reads the victims and records the verdicts."""
    import json
    import urllib.error
    import urllib.request

    from ingest.tokens import READ, create_token

    root, reports = history
    project_id = _ingest(sqlite_engine, reports)
    _, secret = create_token(sqlite_engine, "lastwriter", "confirm")
    _, reader = create_token(sqlite_engine, "lastwriter", "reader", access=READ)
    _, foreign = create_token(sqlite_engine, "other", "other")
    url = sqlite_engine.url.render_as_string(hide_password=False)
    server = server_factory(url, workers=1, env={"SUITEHEALTH_AUTH": "token"})
    api = f"{server.url}/api/v1/projects/lastwriter/unexplained"

    def get(address: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(address, headers=headers)) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    # Guarded like every other GET: no or a wrong token 401, another project's token the 404 of a
    # project that does not exist; the project's read token and its upload token read it.
    assert get(api, None)[0] == 401 and get(api, "sh_not-a-real-token")[0] == 401
    assert get(api, foreign) == (404, {"error": "no project named 'lastwriter'", "status": 404})
    status, body = get(api, secret)
    assert status == 200 and get(api, reader) == (200, body)
    assert {v["nodeid"] for v in body["victims"]} == {BRITTLE, VICTIM, COIN}

    # No database: anything that opened one would fail on this URL.
    nowhere = {"SUITEHEALTH_DATABASE_URL": f"sqlite:///{root}/no/such/dir/x.db", "SUITEHEALTH_TOKEN": ""}
    base = ["confirm", "--project", "lastwriter", "--unexplained", "--checkout", str(root),
            *[f"--pytest-arg={a}" for a in QUIET]]
    remote = [*base, "--server", server.url, "--token", secret]
    # The dry runs print every victim and the whole stored order before it: the same from both.
    dry_db = CliRunner().invoke(main, ["--db", url, *base, "--dry-run"])
    dry_api = CliRunner().invoke(main, [*remote, "--dry-run"], env=nowhere)
    assert dry_db.exit_code == 0 and dry_api.exit_code == 0, (dry_db.output, dry_api.output)
    assert dry_api.output == dry_db.output and dry_api.output.count("flaky, no suspect: ") == 3
    two = CliRunner().invoke(main, [*remote, "--dry-run", "--limit", "2"], env=nowhere)
    assert two.exit_code == 0 and two.output.count("flaky, no suspect: ") == 2, two.output
    assert "1 more flaky tests without a suspect were left off (2 at a time)." in two.output

    no_token = CliRunner().invoke(main, [*base, "--server", server.url], env=nowhere)
    assert no_token.exit_code == 2 and "needs --token" in no_token.output
    for args, says in (
            ([*base, "--server", server.url, "--token", "sh_wrong", "--dry-run"], "HTTP 401 sign in"),
            ([*remote, "--victim", "tests/test_filler0.py::test_0"],
             "HTTP 404 'tests/test_filler0.py::test_0' is not a flaky test of 'lastwriter'"),
            ([*base, "--server", f"http://127.0.0.1:{tcp_port}", "--token", secret], "Connection refused")):
        refused = CliRunner().invoke(main, args, env=nowhere)
        assert refused.exit_code == 1 and says in refused.output, refused.output
        assert refused.output.startswith("Error: ") and refused.output.count("\n") == 1, refused.output
        assert "Traceback" not in refused.output

    # The setter proven through the server is the one the database path proves from the same order.
    done = CliRunner().invoke(main, [*remote, "--victim", BRITTLE], env=nowhere, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "state-setter: narrowed to tests/test_" in done.output
    assert "1 proven, 0 not reproduced" in done.output
    with Session(sqlite_engine) as s:
        (by_server,) = latest_verdicts(s, project_id)
    local = CliRunner().invoke(main, ["--db", url, *base, "--victim", BRITTLE, "--again"],
                               catch_exceptions=False)
    assert local.exit_code == 0, local.output
    with Session(sqlite_engine) as s:
        by_db, again = latest_verdicts(s, project_id)
    assert again == by_server and by_db.victim == by_server.victim == BRITTLE
    assert by_server.verdict == by_db.verdict == "proven" and by_server.kind == by_db.kind == "state-setter"
    assert by_server.culprits == by_db.culprits and by_server.culprits[0] in SETTERS
    assert by_server.tested == by_db.tested  # the same stored order was re-run
    # Recorded through the token-guarded API, shown by the server as a proven cause.
    suspects = get(f"{server.url}/api/v1/projects/lastwriter/suspects", reader)[1]["suspects"]
    (shown,) = [x for x in suspects if x["victim"] == BRITTLE]
    assert shown["tier"] == "proven" and shown["polluters"] == by_server.culprits
    assert shown["evidence"]["model"] == "confirm"
    # With a verdict, the victim is off the server's list too.
    assert BRITTLE not in {v["nodeid"] for v in get(api, secret)[1]["victims"]}


def test_a_proof_shows_while_its_victim_is_flaky_and_goes_once_it_runs_clean(
        history, sqlite_engine, tmp_path):
    from dashboard.analysis.confirmations import record_verdict
    from dashboard.analysis.flakestate import FIXED_AFTER

    root, reports = history
    project_id = _ingest(sqlite_engine, reports)
    with Session(sqlite_engine) as s, s.begin():
        record_verdict(s, project_id, victim=VICTIM, kind="polluter", tested=[COIN, POLLUTER],
                       culprits=[POLLUTER], verdict="proven", commit="abc", detail="re-run by hand")
        # A kind no suspect has (hostile or from a newer client) is stored but not shown as a suspect.
        record_verdict(s, project_id, victim=BRITTLE, kind="<b>odd</b>", tested=[POLLUTER],
                       culprits=[POLLUTER], verdict="proven")
    with Session(sqlite_engine) as s:
        assert BRITTLE not in {x.victim for x in suspects_and_notes(s, project_id)[0]}
        (shown,) = [x for x in suspects_and_notes(s, project_id)[0] if x.victim == VICTIM]
        assert shown.suite == "tests" and shown.tier == "proven" and shown.evidence["model"] == "confirm"
        # A view of the past, before the proof was recorded, does not show it.
        past = suspects_and_notes(s, project_id, Window.before(datetime(2026, 11, 2, tzinfo=UTC)))[0]
        assert VICTIM not in {x.victim for x in past}
    # The polluter is fixed: the victim passes in every later run.
    clean = []
    for i in range(FIXED_AFTER):
        report = tmp_path / f"clean-{i:02d}.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *QUIET,
                        f"--junitxml={report}", "-q", VICTIM], cwd=root, stdout=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=True, timeout=300)
        clean.append(report)
    for i, path in enumerate(clean):
        meta = RunMeta(project="lastwriter", suite="tests", branch="main", commit="c1",
                       started_at=datetime(2026, 11, 3, tzinfo=UTC) + timedelta(hours=i))
        ingest_sources(sqlite_engine, [ReportSource.from_path(path)], meta)
    refresh_project(sqlite_engine, project_id)
    with Session(sqlite_engine) as s:
        assert VICTIM not in {x.victim for x in suspects_and_notes(s, project_id)[0]}


def test_the_suspects_page_lists_the_flaky_tests_without_a_suspect_with_their_confirm_command(
        history, engine, client):
    import shlex

    from dashboard.analysis.confirmations import record_verdict
    from ingest.db import write_transaction

    _, reports = history
    project_id = _ingest(engine, reports)
    page = client.get("/api/v1/projects/lastwriter/suspects").get_json()
    listed = {t["nodeid"]: t for t in page["without_suspect"]["tests"]}
    assert set(listed) == {BRITTLE, VICTIM, COIN} and page["without_suspect"]["total"] == 3
    for nodeid, t in listed.items():
        # The command is the one a user types: it parses back to these arguments.
        assert shlex.split(t["confirm"]) == ["suitehealth", "confirm", "--project", "lastwriter",
                                             "--unexplained", "--victim", nodeid]
        assert t["failures"] >= 1 and t["runs"] == len(reports)
    html = client.get("/projects/lastwriter/suspects").get_data(as_text=True)
    assert "Flaky, no suspect" in html and html.count('class="card no-suspect"') == 3
    # A verdict takes a test off the list (it is judged); an as-of page does not list them.
    with write_transaction(engine) as s:
        record_verdict(s, project_id, victim=COIN, kind="polluter", tested=[], culprits=[],
                       verdict="not-reproduced")
    again = client.get("/api/v1/projects/lastwriter/suspects").get_json()["without_suspect"]
    assert {t["nodeid"] for t in again["tests"]} == {BRITTLE, VICTIM}
    as_of = client.get("/api/v1/projects/lastwriter/suspects?until=2999-01-01").get_json()
    assert as_of["without_suspect"]["total"] == 2  # a day still to come is the live question
    past = client.get("/api/v1/projects/lastwriter/suspects?until=2001-01-01").get_json()
    assert past["without_suspect"] == {"total": 0, "tests": []}
