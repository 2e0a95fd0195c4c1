"""Start-up cost of the CLI, one process per command, against `python -c "import sqlalchemy, lxml"`.

    .venv/bin/python benchmarks/startup.py            # 7 interleaved runs of each command
    .venv/bin/python benchmarks/startup.py --runs 15

Commands timed (each a fresh process, as a CI step runs them): `suitehealth --version`, `--help`,
`ingest` of a 10-test and of a 200-test JUnit report into a migrated SQLite file (a new report
each time, so every run is really stored), and `upload` of the 10-test report to a local HTTP
receiver that answers like the server. Prints the median wall and CPU (user + system of the child)
time of each and its ratio to the baseline measured in the same process, interleaved so that load
on a shared machine hits all alike, plus whether pandas, scipy, plotly or flask were imported.
Our modules are compiled to bytecode first, as installing the package does; ``--no-compile``
times an editable checkout as is (see _common.compile_bytecode). Never asserts on time.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import compile_bytecode, generate_pytest_junit, median, print_table  # noqa: E402

from ingest.db import ensure_schema, make_engine  # noqa: E402

SMALL_REPORT = Path(__file__).resolve().parents[1] / "tests" / "data" / "upload" / "python-xunit-pytest.xml"
HEAVY = ("pandas", "scipy", "plotly", "flask")
# Runs a command in-process like the console script does, then names the heavy modules it loaded.
PROBE = (
    "import sys\nfrom dashboard.cli import main\n"
    "try:\n    main(sys.argv[1:], prog_name='suitehealth')\nexcept SystemExit:\n    pass\n"
    f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n"
)


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Answers an upload like the server does (201 and the run), after reading the body."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"run_id": 1, "project": "bench", "suite": "unit", "tests": 10, "passed": 8,
                           "failed": 2, "errors": 0, "skipped": 0, "duplicate": False,
                           "url": "http://127.0.0.1/projects/bench/runs/1"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict) -> tuple[float, float]:
    cpu0, wall0 = _child_cpu(), time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - wall0, _child_cpu() - cpu0


def _variant(folder: Path, source: Path, n: int) -> Path:
    path = folder / f"{source.stem}-{n}.xml"
    path.write_bytes(source.read_bytes().rstrip() + f"\n<!-- run {n} -->\n".encode())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (interleaved)")
    parser.add_argument("--no-compile", action="store_true",
                        help="time the checkout as is, without compiling our modules first (see _common.py)")
    args = parser.parse_args()
    bytecode = compile_bytecode(skip=args.no_compile)

    exe = str(Path(sys.executable).parent / "suitehealth")
    tmp = Path(tempfile.mkdtemp(prefix="suitehealth-startup-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(db)
    ensure_schema(engine)  # migrated once: the timed ingests store into an existing database
    engine.dispose()
    big = generate_pytest_junit(tmp / "junit-200.xml", tests=200)
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = f"http://127.0.0.1:{receiver.server_address[1]}"
    env = {**os.environ, "SUITEHEALTH_DATABASE_URL": db}

    def commands(n: int) -> dict[str, list[str]]:
        ingest = [exe, "ingest", "--project", "bench", "--suite", "unit"]
        return {
            "baseline: import sqlalchemy, lxml": [sys.executable, "-c", "import sqlalchemy, lxml"],
            "suitehealth --version": [exe, "--version"],
            "suitehealth --help": [exe, "--help"],
            "ingest (10 tests)": [*ingest, str(_variant(tmp, SMALL_REPORT, n))],
            "ingest (200 tests)": [*ingest, str(_variant(tmp, big, n))],
            "upload (10 tests)": [exe, "upload", "--server", server, "--token", "sh_bench",
                                  "--project", "bench", "--retries", "0", str(SMALL_REPORT)],
        }

    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for n in range(args.runs):
        for name, argv in commands(n).items():
            w, c = _timed(argv, env)
            wall.setdefault(name, []).append(w)
            cpu.setdefault(name, []).append(c)

    heavy = {}
    for name, argv in commands(args.runs).items():
        if argv[0] != exe:
            continue
        probe = subprocess.run([sys.executable, "-c", PROBE, *argv[1:]], env=env, capture_output=True,
                               text=True)
        heavy[name] = next((line[6:] for line in probe.stderr.splitlines() if line.startswith("HEAVY ")), "?")

    base = "baseline: import sqlalchemy, lxml"
    rows = []
    for name in wall:
        w, c = median(wall[name]), median(cpu[name])
        ratio = "" if name == base else (f"  ({w / median(wall[base]):.2f}x wall, "
                                         f"{c / median(cpu[base]):.2f}x CPU of the baseline)")
        loaded = f"  heavy modules: {heavy[name]}" if name in heavy else ""
        rows.append((name, f"wall {w * 1000:6.0f} ms  CPU {c * 1000:6.0f} ms{ratio}{loaded}"))
    print_table(f"CLI start-up, median of {args.runs} interleaved runs (one process each); load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {bytecode}", rows)
    receiver.shutdown()


if __name__ == "__main__":
    main()
