"""Recording real JUnit runs, one process per run: `suitehealth ingest` against `flakebox record`.

flakebox (PyPI, a small self-hosted flaky-test tracker; stdlib only: ElementTree + sqlite3) is the
yardstick for what one CI step that stores one report costs. It is never a dependency of ours:
install it into a venv of its own and point ``--flakebox`` at its executable.

    python3 -m venv /tmp/flakebox-venv && /tmp/flakebox-venv/bin/pip install flakebox==0.4.4
    .venv/bin/python benchmarks/bench_vs_flakebox.py [--flakebox PATH] [--repeats 3] [--runs 9]

Two measurements, each tool in a fresh process per report, the two tools interleaved so that load on
a shared machine hits both alike:

1. the 30 real pytest runs of ``tests/data/realsuites/six`` (200 tests each, random order; real
   failures), recorded one after another into one store, ``--repeats`` times, each time into fresh
   stores (suitehealth's migrated beforehand: migrating is a one-off, not part of recording);
2. one generated 200-test pytest report (a new variant each time, so each is really stored) into a
   store that already holds those runs, ``--runs`` times.

Our modules are compiled to bytecode first, as ``pip install`` does (flakebox's were when it was
installed); ``--no-compile`` times an editable checkout as is (see _common.compile_bytecode).
Prints medians of wall time and of CPU time (user + system of the child) and the ratio
suitehealth / flakebox. Never asserts on time.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import compile_bytecode, generate_pytest_junit, median, print_table  # noqa: E402

REAL_RUNS = Path(__file__).resolve().parents[1] / "tests" / "data" / "realsuites" / "six"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict) -> tuple[float, float]:
    """Run ``argv`` to completion; return (wall, CPU) seconds. A failing command stops the benchmark."""
    cpu0, wall0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - wall0, _child_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flakebox", default="/tmp/flakebox-venv/bin/flakebox", help="flakebox executable")
    ap.add_argument("--repeats", type=int, default=3, help="times the 30 runs are recorded (fresh stores)")
    ap.add_argument("--runs", type=int, default=9, help="recordings of the generated 200-test report")
    ap.add_argument("--no-compile", action="store_true",
                    help="time the checkout as is, without compiling our modules first (see _common.py)")
    args = ap.parse_args()
    if not Path(args.flakebox).exists():
        # Not an error for `make bench`: flakebox is a yardstick installed by hand, never a dependency.
        print(f"bench_vs_flakebox: skipped, no flakebox at {args.flakebox} (see this script's docstring)")
        return

    from ingest.db import ensure_schema, make_engine

    bytecode = compile_bytecode(skip=args.no_compile)
    exe = str(Path(sys.executable).parent / "suitehealth")
    version = subprocess.run([args.flakebox, "--version"], capture_output=True, text=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="suitehealth-vs-flakebox-"))
    try:
        # Both tools get the same plain XML files (flakebox does not read gzip).
        reports = []
        for source in sorted(REAL_RUNS.glob("run-*.xml.gz")):
            path = tmp / source.name.removesuffix(".gz")
            path.write_bytes(gzip.decompress(source.read_bytes()))
            reports.append(path)
        if len(reports) != 30:
            raise SystemExit(f"expected 30 real runs in {REAL_RUNS}, found {len(reports)}")

        # No CI variables: neither tool should pick up a job summary or metadata from this shell.
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("SUITEHEALTH_", "GITHUB_", "CI", "GITLAB_", "BUILDKITE"))}

        def ours(db: Path, report: Path, commit: str) -> tuple[list[str], dict]:
            argv = [exe, "ingest", "--project", "six", "--suite", "unit", "--commit", commit, str(report)]
            return argv, {**base_env, "SUITEHEALTH_DATABASE_URL": f"sqlite:///{db}"}

        def theirs(db: Path, report: Path, commit: str) -> tuple[list[str], dict]:
            argv = [args.flakebox, "--db", str(db), "record", "--junit", str(report), "--commit", commit]
            return argv, base_env
        totals: dict[str, list[tuple[float, float]]] = {"suitehealth": [], "flakebox": []}
        calls: dict[str, list[tuple[float, float]]] = {"suitehealth": [], "flakebox": []}
        for rep in range(args.repeats):
            our_db, their_db = tmp / f"ours-{rep}.db", tmp / f"flakebox-{rep}.db"
            engine = make_engine(f"sqlite:///{our_db}")
            ensure_schema(engine)
            engine.dispose()
            sums = {"suitehealth": [0.0, 0.0], "flakebox": [0.0, 0.0]}
            for i, report in enumerate(reports):
                commit = f"{i + 1:040x}"
                # Alternate which tool goes first, so neither always runs on a warmer cache.
                pair = [("suitehealth", ours(our_db, report, commit)),
                        ("flakebox", theirs(their_db, report, commit))]
                for tool, (argv, env) in pair if (i + rep) % 2 == 0 else pair[::-1]:
                    wall, cpu = _timed(argv, env)
                    calls[tool].append((wall, cpu))
                    sums[tool][0] += wall
                    sums[tool][1] += cpu
            for tool, (wall, cpu) in sums.items():
                totals[tool].append((wall, cpu))

        # One generated 200-test report, a new variant each time, into the stores that hold the runs.
        big = generate_pytest_junit(tmp / "junit-200.xml", tests=200)
        single: dict[str, list[tuple[float, float]]] = {"suitehealth": [], "flakebox": []}
        for n in range(args.runs):
            variant = tmp / f"junit-200-{n}.xml"
            variant.write_bytes(big.read_bytes().rstrip() + f"\n<!-- run {n} -->\n".encode())
            commit = f"{1000 + n:040x}"
            pair = [("suitehealth", ours(tmp / "ours-0.db", variant, commit)),
                    ("flakebox", theirs(tmp / "flakebox-0.db", variant, commit))]
            for tool, (argv, env) in pair if n % 2 == 0 else pair[::-1]:
                single[tool].append(_timed(argv, env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def stats(samples: list[tuple[float, float]], total: bool = False) -> str:
        wall, cpu = median([w for w, _ in samples]), median([c for _, c in samples])
        if total:
            return f"wall {wall:7.2f} s   CPU {cpu:7.2f} s"
        return f"wall {wall * 1000:7.0f} ms  CPU {cpu * 1000:7.0f} ms"

    def ratio(data: dict[str, list[tuple[float, float]]]) -> str:
        ours_w, ours_c = (median([s[k] for s in data["suitehealth"]]) for k in (0, 1))
        their_w, their_c = (median([s[k] for s in data["flakebox"]]) for k in (0, 1))
        return f"{ours_w / their_w:.2f}x wall, {ours_c / their_c:.2f}x CPU  (target <= 3, aim 2)"

    print_table(
        f"suitehealth ingest vs {version or 'flakebox'} record, one process per report; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {bytecode}",
        [
            (f"30 real runs (six, 200 tests each), total, median of {args.repeats}", ""),
            ("  suitehealth ingest", stats(totals["suitehealth"], total=True)),
            ("  flakebox record", stats(totals["flakebox"], total=True)),
            ("  ratio", ratio(totals)),
            (f"  per report, median of {len(calls['suitehealth'])}", ""),
            ("    suitehealth ingest", stats(calls["suitehealth"])),
            ("    flakebox record", stats(calls["flakebox"])),
            (f"one generated 200-test report, median of {args.runs}", ""),
            ("  suitehealth ingest", stats(single["suitehealth"])),
            ("  flakebox record", stats(single["flakebox"])),
            ("  ratio", ratio(single)),
        ],
    )


if __name__ == "__main__":
    main()
