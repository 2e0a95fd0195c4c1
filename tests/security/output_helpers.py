"""A history whose every field is an attack, for the output-side security tests (pages, commands, Markdown).

Node ids, messages, branches, build URLs and names all come from CI, so from anyone who can open a pull
request. ``build_hostile_history`` plants two interferences (a polluter and a state-setter) between tests
whose ids carry shell payloads, so the suspects page, the test page and the weekly review all show
reproduce commands built from them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

# Monday of ISO week 2026-W23: every run of the history falls in this week.
WEEK = "2026-W23"
START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
RUNS = 40

# Strings that would open a dialog if any page let them become markup or a live link.
XSS = "<img src=x onerror=alert('{0}')><script>alert('{0}')</script>\"'><svg onload=alert('{0}')>"
BIDI = "\u202e\u2066\u2069\u202a\u202b\u202c\u202d\u2067\u2068"
# build_url values: only the last one may become a link.
BUILD_URLS = [
    "javascript:alert('url1')",
    "JaVaScRiPt:alert('url2')",
    "java\tscript:alert('url3')",
    " javascript:alert('url4')",
    "data:text/html,<script>alert('url5')</script>",
    "vbscript:msgbox('url6')",
    "https://ci.example/build/7?q=\"><script>alert('url7')</script>",
]


def shell_payload_ids(mark: str) -> dict[str, str]:
    """Node ids that run ``touch mark`` if a reproduce command ever lets the shell interpret them."""
    return {
        "victim": f"tests/test_a.py::test_p[$(touch {mark})]",
        "polluter": f"tests/test_a.py::test_q[`touch {mark}`;touch {mark}; echo \"'x]",
        "setter": f"tests/test_b.py::test_s[''; touch {mark} #]",
        "brittle": f"tests/test_b.py::test_b[``<img src=x onerror=alert('md')>``{BIDI}]",
        "dollar": f"tests/test_c.py::test_d[${{IFS}}x|touch {mark}&&touch {mark}]",
        "newline": f"tests/test_c.py::test_n[a\ntouch {mark}\n]",
        "xss": "tests/test_c.py::test_x[" + XSS.format("nodeid") + "]",
        "plain": "tests/test_c.py::test_plain",
    }


@dataclass
class Hostile:
    project: str
    suite: str
    nodeids: dict[str, str]
    run_ids: list[int] = field(default_factory=list)
    build_urls: dict[int, str] = field(default_factory=dict)  # run id -> its build_url


def build_hostile_history(engine, mark: str, *, project: str | None = None, seed: int = 3) -> Hostile:
    """Store RUNS shuffled runs whose every text field is hostile; plant a polluter and a state-setter."""
    rng = random.Random(seed)
    ids = shell_payload_ids(mark)
    # At most 200 characters (the project name limit): the payload touches PWNED in the shell's cwd.
    h = Hostile(project=project or f"evil$(touch PWNED)`touch PWNED`<img src=x onerror=alert('p')>{BIDI}",
                suite="unit" + XSS.format("suite"), nodeids=ids)
    names = list(ids.values())
    for index in range(RUNS):
        order = rng.sample(names, len(names))
        pos = {t: i for i, t in enumerate(order)}
        outcome = {t: "passed" for t in order}
        if pos[ids["polluter"]] < pos[ids["victim"]]:
            outcome[ids["victim"]] = "failed"
        if pos[ids["setter"]] > pos[ids["brittle"]]:
            outcome[ids["brittle"]] = "failed"
        if index % 5 == 0:
            outcome[ids["xss"]] = "skipped"
        cases = []
        for i, t in enumerate(order):
            message = None
            if outcome[t] == "failed":
                message = "AssertionError: " + XSS.format("message") + BIDI + f" run {index}"
            elif outcome[t] == "skipped":
                message = "skip " + XSS.format("skip")
            file, _, name = t.partition("::")
            cases.append(CaseRecord(nodeid=t, outcome=outcome[t], name=name, file=file,
                                    classname=file[:-3].replace("/", "."), duration_s=0.1 + 0.01 * i,
                                    order_index=i, message=message,
                                    details=("Traceback\n" + XSS.format("details")) if message else None))
        build_url = BUILD_URLS[index % len(BUILD_URLS)]
        meta = RunMeta(project=h.project, suite=h.suite, branch="feat/" + XSS.format("branch")[:60],
                       commit="c" + XSS.format("c")[:50], build_id="b" + XSS.format("bid")[:50],
                       build_url=build_url, started_at=START + timedelta(hours=index * 3.5))
        run_id = store_cases(engine, meta, cases, content_hash=f"hostile-{seed}-{index}").run_id
        h.run_ids.append(run_id)
        h.build_urls[run_id] = build_url
    return h
