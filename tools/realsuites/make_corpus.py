#!/usr/bin/env python3
"""Reproduce the real-suite interference corpus under tests/data/realsuites/.

Four steps, each a sub-command, so that every number in a project's README can be re-made:

  setup   download one sdist (pip download --no-binary :all: --no-deps) and make a venv for it
  runs    run its test suite N times in random order (pytest-randomly, one seed per run) and keep
          one small gzipped JUnit file per run
  victims list the tests that failed in some runs and passed in others, with their counts
  pair    establish truth: run a victim alone, then each candidate followed by the victim, in that
          fixed order (-p no:randomly), and say what each candidate is (polluter / state-setter / none)

Example:
  python tools/realsuites/make_corpus.py setup knack==0.14.0 --work /tmp/rs
  python tools/realsuites/make_corpus.py runs /tmp/rs/knack-0.14.0 --python /tmp/rs/venv-knack-0.14.0/bin/python \
      --out tests/data/realsuites/knack --seeds 1-30 -- tests
  python tools/realsuites/make_corpus.py victims tests/data/realsuites/knack
  python tools/realsuites/make_corpus.py pair /tmp/rs/knack-0.14.0 --python ... VICTIM CANDIDATE...
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

# A failure's text is kept long enough to tell two failure signatures apart, not whole tracebacks:
# the corpus must stay small enough to live in the repository.
MAX_FAILURE_TEXT = 1500
RUN_TIMEOUT_S = 900


def setup(spec: str, work: Path) -> None:
    """Download SPEC's sdist into WORK, unpack it and make WORK/venv-<name>-<version> with pytest-randomly."""
    work.mkdir(parents=True, exist_ok=True)
    sdist = work / "sdist"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", spec, "-d", sdist],
        check=True,
    )
    name, version = spec.split("==")
    (archive,) = [p for p in sdist.iterdir() if p.name.lower().startswith(f"{name.lower()}-{version}")]
    subprocess.run(["tar", "xzf", archive, "-C", work], check=True)
    src = work / archive.name.removesuffix(".tar.gz")
    venv = work / f"venv-{src.name}"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([venv / "bin/pip", "install", "-q", "pytest", "pytest-randomly"], check=True)
    subprocess.run([venv / "bin/pip", "install", "-q", "-e", src], check=True)
    print(f"source {src}\npython {venv / 'bin/python'}")


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def trim_junit(raw: bytes) -> bytes:
    """Drop captured output and cut failure texts: the order and outcomes are what the corpus is for."""
    root = ET.fromstring(raw)
    for parent in root.iter():
        for child in list(parent):
            if child.tag in ("system-out", "system-err"):
                parent.remove(child)
            elif child.tag in ("failure", "error") and child.text and len(child.text) > MAX_FAILURE_TEXT:
                child.text = child.text[:MAX_FAILURE_TEXT] + "\n[... trimmed]"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def runs(src: Path, python: str, out: Path, seeds: list[int], pytest_args: list[str]) -> None:
    """Run the suite once per seed in random order; write OUT/run-<seed>.xml.gz."""
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / "junit.xml"
            cmd = [
                python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "randomly",
                f"--randomly-seed={seed}", f"--junitxml={xml}", "-o", "junit_family=xunit2",
                *pytest_args,
            ]  # fmt: skip
            done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
            print(f"seed {seed}: {summary}", flush=True)
            (out / f"run-{seed:03d}.xml.gz").write_bytes(gzip.compress(trim_junit(xml.read_bytes()), mtime=0))


def _outcomes(path: Path) -> dict[str, str]:
    root = ET.fromstring(gzip.decompress(path.read_bytes()))
    result = {}
    for case in root.iter("testcase"):
        nodeid = nodeid_of(case)
        tags = {c.tag for c in case}
        result[nodeid] = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
    return result


def nodeid_of(case: ET.Element) -> str:
    """pytest's node id from a JUnit testcase (classname 'tests.test_x.TestY', name 'test_z[p]')."""
    parts = case.get("classname", "").split(".")
    file = case.get("file")
    if file:
        module_parts = file.removesuffix(".py").split("/")
        rest = parts[len(module_parts) :]
        return "::".join([file, *rest, case.get("name", "")])
    # Without a file attribute: the longest prefix that is a module path is the file.
    return "/".join(parts[:-1]) + ".py::" + parts[-1] + "::" + case.get("name", "")


def victims(out: Path) -> None:
    """Print tests that both failed and passed across the runs in OUT, with fail/pass counts."""
    fails: Counter[str] = Counter()
    passes: Counter[str] = Counter()
    files = sorted(out.glob("run-*.xml.gz"))
    for path in files:
        for nodeid, outcome in _outcomes(path).items():
            (fails if outcome == "failed" else passes)[nodeid] += outcome != "skipped"
    print(f"{len(files)} runs")
    for nodeid in sorted(fails):
        print(f"{fails[nodeid]:3d} failed {passes[nodeid]:3d} passed  {nodeid}")


def _passes(src: Path, python: str, nodeids: list[str], victim: str) -> bool:
    cmd = [python, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *nodeids]
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return f"FAILED {victim}" not in done.stdout and f"ERROR {victim}" not in done.stdout


def pair(src: Path, python: str, victim: str, candidates: list[str]) -> dict:
    """Run VICTIM alone, then CANDIDATE→VICTIM for each candidate; classify every candidate."""
    alone = _passes(src, python, [victim], victim)
    found = {"victim": victim, "alone": "passed" if alone else "failed", "candidates": {}}
    for cand in candidates:
        after = _passes(src, python, [cand, victim], victim)
        kind = "polluter" if alone and not after else "state-setter" if not alone and after else "none"
        found["candidates"][cand] = kind
        print(f"{kind:13s} {cand}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("setup")
    p.add_argument("spec")
    p.add_argument("--work", type=Path, default=Path("/tmp/rs"))
    p = sub.add_parser("runs")
    p.add_argument("src", type=Path)
    p.add_argument("--python", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", default="1-30")
    p = sub.add_parser("victims")
    p.add_argument("out", type=Path)
    p = sub.add_parser("pair")
    p.add_argument("src", type=Path)
    p.add_argument("--python", required=True)
    p.add_argument("--json", action="store_true", help="print the verdicts as one JSON object")
    p.add_argument("victim")
    p.add_argument("candidates", nargs="+")
    # Everything after "--" goes to pytest untouched (argparse would try to read "-p ..." itself).
    argv = sys.argv[1:]
    pytest_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.cmd == "setup":
        setup(args.spec, args.work)
    elif args.cmd == "runs":
        runs(args.src, args.python, args.out.resolve(), _seeds(args.seeds), pytest_args)
    elif args.cmd == "victims":
        victims(args.out)
    else:
        found = pair(args.src, args.python, args.victim, args.candidates)
        if args.json:
            print(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
