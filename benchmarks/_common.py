"""Shared helpers for benchmark scripts: generated reports, alternating timings, peak RSS.

Benchmarks print medians and ratios against a baseline measured in the same process; they never
assert on time.
"""

from __future__ import annotations

import compileall
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr


def generate_pytest_junit(path: Path, tests: int = 100_000, seed: int = 1) -> Path:
    """Write a pytest-style JUnit XML file with ``tests`` testcases (~170 bytes each, some failing)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">')
        out.write(
            f'<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="{tests}" time="1234.5" '
            'timestamp="2026-01-05T10:00:00.000000+00:00" hostname="ci-runner">'
        )
        for i in range(tests):
            # ~20 tests per module, a third of them in a class: realistic repetition of classnames.
            module = f"tests.integration.pkg_{(i // 20) % 37}.test_checkout_module_{i // 20}"
            cls = f".TestCheckoutScenario{(i // 5) % 4}" if i % 3 == 0 else ""
            name = f"test_order_is_processed_when_payment_succeeds_{i}[variant-{i % 11}-eur]"
            out.write(f'<testcase classname="{module}{cls}" name="{name}" time="{rng.random():.3f}"')
            roll = rng.random()
            if roll < 0.01:
                body = escape(
                    f"def test():\n>       assert value == {i}\nE       assert 1 == {i}\n\n"
                    f"tests/pkg/test_module.py:{i % 300}: AssertionError"
                )
                out.write(
                    f"><failure message={quoteattr(f'AssertionError: assert 1 == {i}')}>{body}</failure>"
                    "</testcase>"
                )
            elif roll < 0.03:
                out.write(
                    '><skipped type="pytest.skip" message="database not available">'
                    "tests/conftest.py:12: database not available</skipped></testcase>"
                )
            else:
                out.write(" />")
        out.write("</testsuite></testsuites>")
    return path


# A subprocess that ingests report argv[1] into database argv[2], as `suitehealth ingest` stores it
# (``peak_rss_mb(INGEST_CODE, report, url)``); ``ingest_report`` is the same step in this process.
INGEST_CODE = """
from ingest.db import make_engine
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources
engine = make_engine(sys.argv[2])
meta = RunMeta(project="bench", suite="unit")
summary = ingest_sources(engine, [ReportSource.from_path(sys.argv[1])], meta)
print("TESTS", summary.tests)
"""


def ingest_report(engine, report: Path) -> int:
    """Ingest ``report`` as project "bench", suite "unit" into ``engine``; return its test count."""
    from ingest.records import RunMeta
    from ingest.sources import ReportSource
    from ingest.store import ingest_sources

    meta = RunMeta(project="bench", suite="unit")
    return ingest_sources(engine, [ReportSource.from_path(report)], meta).tests


def alternate(
    candidates: dict[str, Callable[[], object]], runs: int = 5, setup: Callable[[], None] | None = None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time each candidate ``runs`` times, interleaving them so drift hits all alike.

    Returns (wall seconds, CPU seconds of this process) per candidate. CPU time is reported too
    because on a shared machine wall time mostly measures the neighbours.
    """
    wall: dict[str, list[float]] = {name: [] for name in candidates}
    cpu: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            if setup is not None:
                setup()
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return wall, cpu


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_rss_mb(code: str, *args: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter and return (its peak RSS in MB, its stdout)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    wrapper = (
        "import sys\n"
        + code
        + "\nhwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))"
        + "\nprint('PEAK_RSS_KB', hwm)\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True)
    peak = next(line for line in proc.stdout.splitlines() if line.startswith("PEAK_RSS_KB"))
    return int(peak.split()[1]) / 1024, proc.stdout


def compile_bytecode(skip: bool = False) -> str:
    """Compile ingest/ and dashboard/ to bytecode, as installing the package does; say what was timed.

    ``pip install`` (the Dockerfile, a CI job) compiles every module when it installs. A checkout
    installed in editable mode has no bytecode, and with PYTHONDONTWRITEBYTECODE set (this machine,
    the Dockerfile) none is ever written: each process would compile our modules from source again,
    ~25-30 ms CPU of every command that no installed copy pays. ``skip`` times the checkout as is.
    """
    if skip:
        cached = "as is (PYTHONDONTWRITEBYTECODE=" + os.environ.get("PYTHONDONTWRITEBYTECODE", "") + ")"
        return f"our modules' bytecode: {cached}"
    root = Path(__file__).resolve().parents[1]
    for package in ("ingest", "dashboard"):
        compileall.compile_dir(root / package, quiet=1)
    return "our modules' bytecode: compiled beforehand, as pip install does"


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))
