"""Reproduce commands are inert: every command suitehealth shows parses (`bash -n`) and, run with
`pytest` replaced by a recorder, passes each node id as one argument and executes no payload.

Checked twice: on the command builder directly, with a table of payloads and every kind of suspect;
and end to end, on the commands the suspects page, the test page, the weekly review (page, JSON,
Markdown) and the weekly page's report command actually show, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from output_helpers import WEEK, build_hostile_history, shell_payload_ids
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import create_app, shell
from dashboard.analysis.interference import reproduce_command
from dashboard.analysis.updates import refresh_project
from dashboard.analysis.weekly import weekly_review
from dashboard.analysis.weeks import parse_week
from dashboard.analysis.window import Window
from dashboard.weekly_render import render_markdown
from ingest.models import Project

BASH = shutil.which("bash") or "/bin/bash"
DASH = shutil.which("dash")
RECORDER = """#!{python}
import json, os, sys
with open(os.environ["RECORD"], "a", encoding="utf-8") as out:
    out.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""


class Shell:
    """Runs a pasted command with `pytest` and `suitehealth` replaced by a recorder of their argv."""

    def __init__(self, tmp_path: Path):
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.record = tmp_path / "record.jsonl"
        self.mark = tmp_path / "PWNED"
        for name in ("pytest", "suitehealth"):
            exe = self.bin / name
            exe.write_text(RECORDER.format(python=os.path.realpath(sys.executable)))
            exe.chmod(0o755)

    def syntax_ok(self, command: str, sh: str = BASH) -> bool:
        return subprocess.run([sh, "-n", "-c", command], capture_output=True).returncode == 0

    def run(self, command: str, sh: str = BASH) -> list[list[str]]:
        """Run ``command``; return the argv of each recorded invocation."""
        self.record.unlink(missing_ok=True)
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "RECORD": str(self.record), "LC_ALL": "C.UTF-8",
               "HOME": str(self.bin.parent)}
        subprocess.run([sh, "-c", command], env=env, cwd=self.bin.parent, capture_output=True)
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text(encoding="utf-8").splitlines()]

    def pwned(self) -> bool:
        return self.mark.exists()


@pytest.fixture
def sh(tmp_path) -> Shell:
    return Shell(tmp_path)


# ---- the builder, on a table of payloads -----------------------------------------------------

EXTRA = [
    "t.py::test['; touch {mark}; ']", 't.py::test["; touch {mark}; "]', "t.py::test[\\'; touch {mark}]",
    "t.py::test[$HOME ~ * ? [a] {{a,b}} !! !-1]", "t.py::test[>{mark}]", "t.py::test[<{mark}]",
    "t.py::test[a b\tc]", "t.py::test[\r; touch {mark}\r]", "t.py::test[\x1b[31mred]", "-rf.py::x",
    "t.py::test[\u202e; touch {mark} \u2066]", "t.py::test[é😀]", "t.py::test[$((1+1))]",
]


def payloads(mark: Path) -> list[str]:
    return [*shell_payload_ids(str(mark)).values(), *(p.format(mark=mark) for p in EXTRA)]


def test_every_built_command_parses_and_runs_no_payload(sh):
    ids = payloads(sh.mark)
    tried = passed = 0
    for kind in ("polluter", "cascade", "state-setter"):
        for i, victim in enumerate(ids):
            polluters = [ids[(i + 1) % len(ids)], ids[(i + 2) % len(ids)]]
            command = reproduce_command(polluters, victim, kind)
            tried += 1
            assert sh.syntax_ok(command), command
            calls = sh.run(command)
            expected = ([["pytest", "-p", "no:randomly", victim],
                         ["pytest", "-p", "no:randomly", *polluters, victim]] if kind == "state-setter"
                        else [["pytest", "-p", "no:randomly", *polluters, victim]])
            assert calls == expected, command
            assert not sh.pwned(), command
            passed += 1
    print(f"shell quoting (builder): {passed}/{tried} commands inert under bash")
    assert passed == tried == 3 * len(ids)


@pytest.mark.skipif(DASH is None, reason="dash is not installed")
def test_commands_are_inert_under_posix_sh_too(sh):
    """dash has no $'...': names with invisible characters come out wrong there, but never execute."""
    ids = payloads(sh.mark)
    for victim in ids:
        command = reproduce_command([ids[0]], victim, "polluter")
        calls = sh.run(command, sh=DASH)
        assert not sh.pwned(), command
        if not re.search("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]", victim):
            assert calls == [["pytest", "-p", "no:randomly", ids[0], victim]]


def test_one_argument_per_name_and_invisible_characters_are_spelled_out():
    assert shell.command("pytest", ["a b", "$(x)"]) == "pytest 'a b' '$(x)'"
    assert shell.quote("a\nb\u202ec") == "$'a\\nb\\u202ec'"
    assert shell.quote("it's") == "'it'\"'\"'s'"
    assert "\n" not in reproduce_command(["a.py::t[\n]"], "b.py::t", "polluter")


def test_names_that_are_not_pytest_ids_get_words_not_a_command():
    words = reproduce_command(["com.Foo.$(touch x)"], "com.Bar.b", "polluter")
    assert words.startswith("Run ") and "pytest" not in words


# ---- end to end: the commands the pages show -------------------------------------------------

def _commands_on_pages(client, project: str, victim: str) -> dict[str, list[str]]:
    p = quote(project, safe="")
    found: dict[str, list[str]] = {}
    reproduce = r'<pre class="reproduce">(.*?)</pre>'
    weekly = f"/projects/{p}/weekly?week={WEEK}"
    pages = {
        "suspects page": (f"/projects/{p}/suspects", reproduce),
        "test page": (f"/projects/{p}/tests?nodeid={quote(victim, safe='')}", reproduce),
        "weekly page": (weekly, r'<tr class="reproduce"><td colspan="5"><code>(.*?)</code>'),
        "weekly report command": (weekly, r'<p class="muted weekly-json">.*?<code>(.*?)</code>'),
    }
    for name, (url, pattern) in pages.items():
        resp = client.get(url)
        assert resp.status_code == 200, (name, resp.status_code)
        found[name] = [html.unescape(m) for m in re.findall(pattern, resp.get_data(as_text=True), re.S)]
    data = client.get(f"/api/v1/projects/{p}/suspects").get_json()
    found["suspects JSON"] = [s["reproduce"] for s in data["suspects"]]
    review = client.get(f"/api/v1{weekly}").get_json()
    found["weekly JSON"] = [s["reproduce"] for s in review["new_suspects"]]
    return found


def _fenced_blocks(markdown: str) -> list[str]:
    blocks, lines, fence = [], None, None
    for line in markdown.splitlines():
        if fence is None and re.fullmatch("`{3,}", line):
            fence, lines = line, []
        elif fence is not None and line == fence:
            blocks.append("\n".join(lines))
            fence = None
        elif fence is not None:
            lines.append(line)
    return blocks


def test_commands_shown_by_every_page_and_the_markdown_are_inert(engine, sh):
    hostile = build_hostile_history(engine, str(sh.mark))
    with Session(engine) as s:
        project_id = s.scalars(select(Project.id)).one()
    refresh_project(engine, project_id)
    app = create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True})
    client = app.test_client()
    found = _commands_on_pages(client, hostile.project, hostile.nodeids["victim"])
    with Session(engine) as s:
        review = weekly_review(s, project_id, Window.of_week(parse_week(WEEK)))
    found["weekly Markdown"] = _fenced_blocks(render_markdown(review, "https://dash.example"))

    listing = client.get(f"/api/v1/projects/{quote(hostile.project, safe='')}/tests?limit=1000").get_json()
    stored = {t["nodeid"] for t in listing["tests"]}
    assert len(stored) == len(hostile.nodeids)
    tried = passed = 0
    for where, commands in found.items():
        assert commands, f"no command found on the {where}"
        for command in commands:
            tried += 1
            assert sh.syntax_ok(command), (where, command)
            calls = sh.run(command)
            assert calls, (where, command)
            assert not sh.pwned(), (where, command)
            for argv in calls:
                if argv[0] == "pytest":
                    assert argv[1:3] == ["-p", "no:randomly"] and all(a in stored for a in argv[3:]), argv
                else:
                    assert argv == ["suitehealth", "report", "weekly", "--project", hostile.project,
                                    "--week", WEEK], argv
            passed += 1
    print(f"shell quoting (pages): {passed}/{tried} commands inert, from {', '.join(found)}")
    assert passed == tried


def test_confirm_commands_for_flaky_tests_without_a_suspect_are_inert(engine, sh):
    # Flaky tests named by payloads that fail at random, whatever ran before them: the suspects page
    # lists them under "Flaky, no suspect" with a `suitehealth confirm --unexplained` command each.
    import random
    from datetime import UTC, datetime, timedelta

    from ingest.records import CaseRecord, RunMeta
    from ingest.store import store_cases

    project = "evil$(touch PWNED)`touch PWNED`"
    names = payloads(sh.mark)
    rng = random.Random(5)
    for index in range(16):
        order = rng.sample(names, len(names))
        cases = [CaseRecord(nodeid=t, outcome="failed" if rng.random() < 0.3 else "passed",
                            message="AssertionError: no" if i % 2 else None, order_index=i)
                 for i, t in enumerate(order)]
        store_cases(engine, RunMeta(project=project, suite="unit",
                                    started_at=datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=index)),
                    cases, content_hash=f"no-suspect-{index}")
    with Session(engine) as s:
        project_id = s.scalars(select(Project.id)).one()
    refresh_project(engine, project_id)
    client = create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False),
                         "TESTING": True}).test_client()
    p = quote(project, safe="")
    listed = client.get(f"/api/v1/projects/{p}/suspects").get_json()["without_suspect"]
    assert len(listed["tests"]) == 10 and listed["total"] > 10, listed["total"]  # the page shows 10
    print(f"no-suspect confirm commands: {len(listed['tests'])} of {listed['total']} listed")
    page = client.get(f"/projects/{p}/suspects").get_data(as_text=True)
    shown = [html.unescape(m) for m in re.findall(r'<code class="command">(.*?)</code>', page, re.S)]
    assert shown == [t["confirm"] for t in listed["tests"]]
    for t in listed["tests"]:
        assert t["nodeid"] in names
        assert sh.syntax_ok(t["confirm"]), t["confirm"]
        assert sh.run(t["confirm"]) == [["suitehealth", "confirm", "--project", project, "--unexplained",
                                         "--victim", t["nodeid"]]]
        assert not sh.pwned(), t["confirm"]
