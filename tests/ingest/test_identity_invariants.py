"""Property: for generated reports in several JUnit dialects — with reruns, Playwright project
variants, repeated names, xfail, skips and not-run statuses — every place that shows a run's
numbers shows the same numbers, and they are the numbers the report's model says:

    the model = parsed records = the stored run (SQLite and PostgreSQL)
              = the run page's JSON twin = the CLI ingest summary line.

The model is computed from what the generator wrote, not from the parser: one test per testcase,
except pytest's repeated node ids (pytest-rerunfailures) and the earlier attempts inside a
testcase (Surefire/Playwright flakyFailure/rerunFailure), which are reruns of one test.
xpassed cannot be written in JUnit XML (pytest writes an xpass as a plain pass), so it stays 0.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import final_outcomes, parse_file
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import records as R
from ingest.models import Run

# A small alphabet of names so that the same name turns up in several files, suites and projects.
NAMES = st.sampled_from(["adds", "removes", "adds item", "empty cart", "pays", "a › b", "ünïcode", "x#2"])
FINAL = st.sampled_from([R.PASSED, R.FAILED, R.ERROR, R.SKIPPED])
PROJECTS = ("chromium", "firefox", "webkit")


@dataclass
class Expected:
    """What a report holds, counted from what the generator wrote."""

    outcomes: Counter = field(default_factory=Counter)
    reruns: int = 0
    rerun_passed: int = 0

    def add(self, final: str, earlier: int = 0) -> None:
        self.outcomes[final] += 1
        self.reruns += earlier
        self.rerun_passed += bool(earlier) and final == R.PASSED

    def __iadd__(self, other: Expected) -> Expected:
        self.outcomes += other.outcomes
        self.reruns += other.reruns
        self.rerun_passed += other.rerun_passed
        return self

    def totals(self) -> dict:
        o = self.outcomes
        return {
            "tests": sum(o.values()),
            "passed": o[R.PASSED],
            "failed": o[R.FAILED],
            "errors": o[R.ERROR],
            "skipped": o[R.SKIPPED],
            "xfailed": o[R.XFAILED],
            "xpassed": o[R.XPASSED],
            "reruns": self.reruns,
        }


def result_element(outcome: str) -> str:
    return {
        R.PASSED: "",
        R.FAILED: '<failure message="assert 1 == 2">trace</failure>',
        R.ERROR: '<error message="boom">trace</error>',
        R.SKIPPED: '<skipped message="not today"/>',
        R.XFAILED: '<skipped type="pytest.xfail" message="known bug"/>',
    }[outcome]


def retry_elements(final: str, earlier: list[str]) -> str:
    """Surefire's (and Playwright's includeRetries) earlier attempts inside the final testcase."""
    prefix = "flaky" if final == R.PASSED else "rerun"
    return "".join(
        f'<{prefix}{"Error" if e == R.ERROR else "Failure"} message="try"><stackTrace>t</stackTrace>'
        f"</{prefix}{'Error' if e == R.ERROR else 'Failure'}>"
        for e in earlier
    )


# ---- dialects: each strategy returns (file name, XML text, Expected) ----------------------------


@st.composite
def pytest_report(draw):
    """pytest junitxml: unique node ids; pytest-rerunfailures writes each failed attempt before the last."""
    tests = draw(
        st.dictionaries(
            st.tuples(st.integers(0, 2), st.sampled_from(["test_a", "test_b[1-2]", "test_c"])),
            st.tuples(
                st.sampled_from([R.PASSED, R.FAILED, R.ERROR, R.SKIPPED, R.XFAILED]), st.integers(0, 2)
            ),
            max_size=8,
        )
    )
    expected, body = Expected(), []
    for (module, name), (final, reruns) in tests.items():
        if final in (R.SKIPPED, R.XFAILED):
            reruns = 0  # rerunfailures never reruns a skip or an xfail
        attrs = f'classname="tests.test_m{module}" name={quoteattr(name)} time="0.01"'
        body += [f"<testcase {attrs}>{result_element(R.FAILED)}</testcase>"] * reruns
        body.append(f"<testcase {attrs}>{result_element(final)}</testcase>")
        expected.add(final, reruns)
    xml = f'<testsuites name="pytest tests"><testsuite name="pytest">{"".join(body)}</testsuite></testsuites>'
    return "pytest.xml", xml, expected


@st.composite
def surefire_report(draw):
    """Surefire: a suite per class; flakyFailure/rerunFailure are reruns; a repeated name is another test."""
    classes = draw(
        st.lists(
            st.lists(
                st.tuples(NAMES, FINAL, st.lists(st.sampled_from([R.FAILED, R.ERROR]), max_size=2)),
                max_size=5,
            ),
            min_size=1,
            max_size=3,
        )
    )
    expected, suites = Expected(), []
    for index, cases in enumerate(classes):
        body = []
        for name, final, earlier in cases:
            earlier = [] if final == R.SKIPPED else earlier
            body.append(
                f'<testcase classname="com.shop.C{index}" name={quoteattr(name)} time="0.1">'
                f"{result_element(final)}{retry_elements(final, earlier)}</testcase>"
            )
            expected.add(final, len(earlier))
        suites.append(
            f'<testsuite name="com.shop.C{index}" hostname="ci-{index}">{"".join(body)}</testsuite>'
        )
    return "TEST-surefire.xml", f"<testsuites>{''.join(suites)}</testsuites>", expected


@st.composite
def playwright_report(draw):
    """Playwright: one <testsuite> per file and project (hostname=project); retries inside the testcase."""
    projects = draw(st.lists(st.sampled_from(PROJECTS), min_size=1, max_size=3, unique=True))
    files = draw(
        st.dictionaries(
            st.sampled_from(["tests/todo.spec.ts", "tests/cart.spec.ts"]),
            st.lists(NAMES, min_size=1, max_size=4, unique=True),  # Playwright refuses duplicate titles
            min_size=1,
            max_size=2,
        )
    )
    expected, suites = Expected(), []
    for project in projects:
        for file, titles in files.items():
            body = []
            for title in titles:
                final = draw(FINAL)
                earlier = [] if final == R.SKIPPED else draw(st.lists(st.just(R.FAILED), max_size=2))
                body.append(
                    f'<testcase name={quoteattr(title)} classname={quoteattr(file)} time="0.5">'
                    f"{result_element(final)}{retry_elements(final, earlier)}</testcase>"
                )
                expected.add(final, len(earlier))
            suites.append(
                f'<testsuite name={quoteattr(file)} timestamp="2024-08-27T05:12:38.392Z" '
                f'hostname="{project}" tests="{len(titles)}" failures="0" skipped="0" time="1" '
                f'errors="0">{"".join(body)}</testsuite>'
            )
    root = '<testsuites id="" name="" tests="0" failures="0" skipped="0" errors="0" time="2.5">'
    return "playwright.xml", root + "".join(suites) + "</testsuites>", expected


@st.composite
def jest_report(draw):
    """jest-junit: the same titles in several files (or describe blocks), and repeated within one.

    Suites are named after files or after describe blocks; classnames are empty or a describe title.
    """
    classname = draw(st.sampled_from(["", "cart", "cart › empty"]))
    files = draw(
        st.dictionaries(
            st.sampled_from(["src/a.test.js", "src/b.test.js", "lib/c.test.ts", "Cart", "Checkout"]),
            st.lists(st.tuples(NAMES, FINAL), max_size=5),
            min_size=1,
            max_size=3,
        )
    )
    expected, suites = Expected(), []
    for file, cases in files.items():
        body = "".join(
            f'<testcase classname={quoteattr(classname)} name={quoteattr(name)} time="0.002">'
            f"{result_element(final)}</testcase>"
            for name, final in cases
        )
        for _name, final in cases:
            expected.add(final)
        suites.append(f'<testsuite name={quoteattr(file)} tests="{len(cases)}">{body}</testsuite>')
    return "jest.xml", f'<testsuites name="jest tests">{"".join(suites)}</testsuites>', expected


@st.composite
def googletest_report(draw):
    """googletest: skipped and disabled tests carry a status/result attribute and no <skipped/>."""
    shapes = {
        R.PASSED: ('status="run" result="completed"', ""),
        R.FAILED: ('status="run" result="completed"', result_element(R.FAILED)),
        "gtest_skip": ('status="run" result="skipped"', ""),
        "disabled": ('status="notrun" result="suppressed"', ""),
    }
    cases = draw(st.lists(st.tuples(NAMES, st.sampled_from(sorted(shapes))), max_size=6))
    expected, body = Expected(), []
    for name, kind in cases:
        attrs, child = shapes[kind]
        body.append(
            f'<testcase name={quoteattr(name)} {attrs} time="0" classname="CartTest">{child}</testcase>'
        )
        expected.add(R.SKIPPED if kind in ("gtest_skip", "disabled") else kind)
    return (
        "gtest.xml",
        f'<testsuites name="AllTests"><testsuite name="CartTest">{"".join(body)}</testsuite></testsuites>',
        expected,
    )


DIALECTS = {
    "pytest": pytest_report(),
    "surefire": surefire_report(),
    "playwright": playwright_report(),
    "jest": jest_report(),
    "googletest": googletest_report(),
}
REPORTS = st.lists(st.sampled_from(sorted(DIALECTS)), min_size=1, max_size=3, unique=True).flatmap(
    lambda names: st.tuples(*(DIALECTS[n] for n in names))
)

SUMMARY = re.compile(r"^Stored run (\d+) \(([^)]*)\): (\d+) tests?: (.*?)(?: \(\+(\d+) reruns?\))?$")


def summary_totals(line: str) -> tuple[int, dict]:
    """Return (run id, totals) read back from the CLI's one-line summary."""
    match = SUMMARY.match(line.strip())
    assert match, line
    parts = {name: int(n) for n, name in re.findall(r"(\d+) (\w+)", match.group(4))}
    totals = {"tests": int(match.group(3)), "reruns": int(match.group(5) or 0)}
    totals.update(
        {k: parts.get(k, 0) for k in ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")}
    )
    assert "other" not in parts, f"the summary names what it leaves out: {line}"
    return int(match.group(1)), totals


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(reports=REPORTS)
def test_every_place_shows_the_numbers_the_report_holds(reports, cli, client, engine, tmp_path):
    # One project per example: the database (and the fixtures) are shared by all examples.
    project = "p" + uuid.uuid4().hex[:12]
    folder = tmp_path / project
    folder.mkdir()
    expected, paths, records = Expected(), [], []
    for name, xml, part in reports:
        path = folder / name
        path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + xml, encoding="utf-8")
        paths.append(path)
        expected += part
        records += parse_file(path)[0]
    want = expected.totals()

    # Parsed: one final record per test, the rest are earlier attempts.
    parsed = Counter(final_outcomes(records).values())
    assert {k: parsed[k] for k in R.OUTCOMES if parsed[k]} == +expected.outcomes
    assert len(records) - sum(parsed.values()) == expected.reruns

    # The CLI summary line, which must add up to its total.
    result = cli("ingest", *paths, "--project", project, "--suite", "gen")
    assert result.exit_code == 0, result.output
    run_id, said = summary_totals(result.stdout.strip().splitlines()[-1])
    assert said == want
    assert said["tests"] == sum(
        said[k] for k in ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")
    )

    # Stored.
    with Session(engine) as session:
        run = session.scalars(select(Run).where(Run.id == run_id)).one()
        stored = {k: getattr(run, k) for k in want}
        rerun_passed = run.rerun_passed
        warnings = run.warnings or []
    assert stored == want
    assert rerun_passed == expected.rerun_passed

    # The run page's JSON twin, and the page itself.
    data = client.get(f"/api/v1/projects/{project}/runs/{run_id}").get_json()
    assert {k: data["run"][k] for k in want} == want
    assert sum(data["outcomes"].values()) == want["tests"] + want["reruns"]  # attempts, reruns included
    assert data["run"]["warnings"] == warnings
    page = client.get(f"/projects/{project}/runs/{run_id}")
    assert page.status_code == 200
    assert f'<div class="stat">{want["tests"]}</div>' in page.get_data(as_text=True)


def test_a_playwright_report_of_three_browsers_is_three_variants_none_flaky(cli, client, engine):
    from ingest_helpers import CORPUS

    result = cli("ingest", CORPUS / "playwright/report.xml", "--project", "pw", "--json")
    summary = __import__("json").loads(result.stdout)
    assert (summary["tests"], summary["reruns"]) == (93, 0)
    with Session(engine) as session:
        run = session.get(Run, summary["run_id"])
        assert run.environment["hostnames"] == list(PROJECTS)
        assert run.rerun_passed == 0 and not run.warnings
    listing = client.get("/api/v1/projects/pw/tests?q=should allow me to add todo items").get_json()
    nodeids = sorted(t["nodeid"] for t in listing["tests"])
    assert nodeids == [
        f"tests/demo-todo-app.spec.ts::New Todo › should allow me to add todo items[{p}]" for p in PROJECTS
    ]


@pytest.mark.parametrize("name", ["ginkgo/junit-sonobouy.xml", "mocha-junit-reporter/02-example.xml"])
def test_true_repeats_are_kept_with_a_suffix_and_a_warning_on_the_run_page(name, cli, client):
    from ingest_helpers import CORPUS

    result = cli("ingest", CORPUS / name, "--project", "rep", "--json")
    run_id = __import__("json").loads(result.stdout)["run_id"]
    data = client.get(f"/api/v1/projects/rep/runs/{run_id}").get_json()
    (warning,) = data["run"]["warnings"]
    assert warning.startswith(str(CORPUS / name)) and "#2" in warning
    page = client.get(f"/projects/rep/runs/{run_id}").get_data(as_text=True)
    assert 'class="warning"' in page and "repeat the full name" in page
