#!/usr/bin/env python3
"""Reproduce the real-suite interference corpus under tests/data/realsuites/.

Six steps, each a sub-command, so that every number in a project's README can be re-made:

  setup   download one sdist (pip download --no-binary :all: --no-deps) and make a venv for it
  runs    run its test suite N times in random order (pytest-randomly, one seed per run) and keep
          one small gzipped JUnit file per run
  victims list the tests that failed in some runs and passed in others, with their counts
  truth   establish truth for every victim and write truth.json: run it alone, then candidates
          followed by it in that fixed order (-p no:randomly); bisect runs no candidate explains
  recount after more runs: recount truth.json over every run, check it still explains each one
  pair    the same check by hand: one victim, the candidates you name (--first T: T→candidate→victim)

Example:
  python tools/realsuites/make_corpus.py setup knack==0.14.0 --work /tmp/rs
  python tools/realsuites/make_corpus.py runs /tmp/rs/knack-0.14.0 \
      --python /tmp/rs/venv-knack-0.14.0/bin/python --out tests/data/realsuites/knack --seeds 1-30 -- tests
  python tools/realsuites/make_corpus.py victims tests/data/realsuites/knack
  python tools/realsuites/make_corpus.py truth /tmp/rs/knack-0.14.0 \
      --python /tmp/rs/venv-knack-0.14.0/bin/python tests/data/realsuites/knack
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
PAIR_TIMEOUT_S = 300
# A true polluter can precede its victim in a passing run only when a cleaner ran in between; such
# runs are rare, so candidates with more than this many contrary runs are not worth a pair run.
MAX_CONTRARY_RUNS = 3


def setup(spec: str, work: Path) -> None:
    """Download SPEC's sdist into WORK, unpack it and make WORK/venv-<name>-<version> with pytest-randomly."""
    work.mkdir(parents=True, exist_ok=True)
    sdist = work / "sdist"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "download", "-q", "--no-binary", ":all:", "--no-deps", spec, "-d", sdist], check=True
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


def ordered_outcomes(path: Path) -> list[tuple[str, str]]:
    """Return (node id, outcome) of one run in the order the tests ran (JUnit keeps that order)."""
    root = ET.fromstring(gzip.decompress(path.read_bytes()))
    result = []
    for case in root.iter("testcase"):
        tags = {c.tag for c in case}
        outcome = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
        result.append((nodeid_of(case), outcome))
    return result


def nodeid_of(case: ET.Element) -> str:
    """pytest's node id from a JUnit testcase: the rule suitehealth's own JUnit parser applies.

    pytest writes classname 'tests.test_x.TestY' and name 'test_z[p]'; trailing segments that start
    with an uppercase letter are classes, the rest is the module path.
    """
    parts = case.get("classname", "").split(".")
    split = len(parts)
    while split > 1 and parts[split - 1][:1].isupper():
        split -= 1
    return "::".join(["/".join(parts[:split]) + ".py", *parts[split:], case.get("name", "")])


def load_runs(out: Path) -> list[list[tuple[str, str]]]:
    return [ordered_outcomes(path) for path in sorted(out.glob("run-*.xml.gz"))]


def flipping_tests(all_runs: list[list[tuple[str, str]]]) -> dict[str, tuple[int, int]]:
    """Tests that failed in some runs and passed in others: node id -> (fails, passes)."""
    fails: Counter[str] = Counter()
    passes: Counter[str] = Counter()
    for run in all_runs:
        for nodeid, outcome in run:
            if outcome == "failed":
                fails[nodeid] += 1
            elif outcome == "passed":
                passes[nodeid] += 1
    return {n: (fails[n], passes[n]) for n in sorted(fails) if passes[n]}


def victims(out: Path) -> None:
    """Print tests that both failed and passed across the runs in OUT, with fail/pass counts."""
    all_runs = load_runs(out)
    print(f"{len(all_runs)} runs, {len(all_runs[0])} tests in the first")
    for nodeid, (fails, passes) in flipping_tests(all_runs).items():
        print(f"{fails:3d} failed {passes:3d} passed  {nodeid}")


def _passes(src: Path, python: str, nodeids: list[str], victim: str) -> bool:
    """Run NODEIDS in this fixed order in a fresh interpreter; did VICTIM pass?"""
    cmd = [python, "-m", "pytest", "-q", "-rfE", "-p", "no:randomly", "-p", "no:cacheprovider", *nodeids]
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=PAIR_TIMEOUT_S)
    if done.returncode not in (0, 1):  # 4/5: a node id did not resolve; never read that as "passed"
        raise RuntimeError(f"pytest exit {done.returncode} for {nodeids}:\n{done.stdout[-2000:]}")
    return f"FAILED {victim}" not in done.stdout and f"ERROR {victim}" not in done.stdout


def pair(src: Path, python: str, victim: str, candidates: list[str], first: list[str] = ()) -> dict:
    """Run VICTIM alone, then CANDIDATE→VICTIM for each candidate; classify every candidate.

    With FIRST (tests run before everything else), the baseline is FIRST→VICTIM and each run is
    FIRST→CANDIDATE→VICTIM: after a state-setter, a candidate that makes the victim fail again
    undoes the setter's state (``kind: undoer``); after a polluter, one that makes it pass is a cleaner.
    """
    first = list(first)
    alone = _passes(src, python, [*first, victim], victim)
    found = {"victim": victim, "first": first, "alone": "passed" if alone else "failed", "candidates": {}}
    for cand in candidates:
        after = _passes(src, python, [*first, cand, victim], victim)
        if first:
            kind = "undoer" if alone and not after else "cleaner" if not alone and after else "none"
        else:
            kind = "polluter" if alone and not after else "state-setter" if not alone and after else "none"
        found["candidates"][cand] = kind
        print(f"{kind:13s} {cand}", flush=True)
    return found


def _candidates(all_runs, victim: str, victim_failed_alone: bool) -> list[str]:
    """Tests worth a pair run for VICTIM: they ran before it in runs of the telling outcome, rarely otherwise.

    For a polluter the telling runs are the victim's failures; for a state-setter (the victim fails
    alone) they are its passes.
    """
    telling = "passed" if victim_failed_alone else "failed"
    before_telling: Counter[str] = Counter()
    before_contrary: Counter[str] = Counter()
    for run in all_runs:
        order = [n for n, _ in run]
        if victim not in order:
            continue
        outcome = dict(run)[victim]
        if outcome == "skipped":
            continue
        earlier = order[: order.index(victim)]
        (before_telling if outcome == telling else before_contrary).update(earlier)
    picked = [n for n in before_telling if before_contrary[n] <= MAX_CONTRARY_RUNS and n != victim]
    return sorted(picked, key=lambda n: (before_contrary[n], -before_telling[n], n))


def _unexplained_runs(all_runs, victim: str, causes: list[str], telling: str) -> list[int]:
    """Indexes of runs with the telling outcome in which no cause ran before the victim."""
    missing = []
    for i, run in enumerate(all_runs):
        order = [n for n, _ in run]
        if victim in order and dict(run)[victim] == telling:
            if not set(order[: order.index(victim)]) & set(causes):
                missing.append(i)
    return missing


def _bisect(src: Path, python: str, prefix: list[str], victim: str, failed_alone: bool) -> str | None:
    """Narrow the tests that ran before VICTIM in one telling run to one that alone makes the difference.

    Halves keep their order. Returns None when the prefix does not reproduce or only a combination does.
    """

    def telling(seq: list[str]) -> bool:
        return _passes(src, python, [*seq, victim], victim) == failed_alone

    if not prefix or not telling(prefix):
        return None
    while len(prefix) > 1:
        half = len(prefix) // 2
        if telling(prefix[half:]):
            prefix = prefix[half:]
        elif telling(prefix[:half]):
            prefix = prefix[:half]
        else:
            return None
    return prefix[0]


def _module(nodeid: str) -> str:
    return nodeid.split("::")[0]


def truth(src: Path, python: str, out: Path) -> dict:
    """Pair-run every flipping test of the runs in OUT and write OUT/truth.json."""
    all_runs = load_runs(out)
    flipping = flipping_tests(all_runs)
    result = {"runs": len(all_runs), "tests": len(all_runs[0]), "victims": []}
    for victim, (fails, passes) in flipping.items():
        # Twice alone: a test that does not agree with itself alone is a random flake, not a victim.
        alone = [_passes(src, python, [victim], victim) for _ in range(2)]
        entry = {"victim": victim, "failed_runs": fails, "passed_runs": passes}
        if alone[0] != alone[1]:
            entry.update(kind="none", causes=[], note="flips when run alone: no order signal")
            result["victims"].append(entry)
            print(f"none          {victim} (flips alone)", flush=True)
            continue
        failed_alone = not alone[0]
        kind = "state-setter" if failed_alone else "polluter"
        causes = []
        tried = _candidates(all_runs, victim, failed_alone)
        for cand in tried:
            if _passes(src, python, [cand, victim], victim) == failed_alone:
                causes.append(cand)
        telling = "passed" if failed_alone else "failed"
        unexplained = _unexplained_runs(all_runs, victim, causes, telling)
        # Cleaners hide polluters from the candidate filter (they ran before the victim in passing runs
        # too). Bisect an unexplained run's prefix down to one cause, then pair-run its module mates.
        bisected = []
        while unexplained and len(bisected) < 5:
            order = [n for n, _ in all_runs[unexplained[0]]]
            culprit = _bisect(src, python, order[: order.index(victim)], victim, failed_alone)
            bisected.append(unexplained[0])
            if culprit is None or culprit in causes:
                break
            causes.append(culprit)
            mates = {n for run in all_runs for n, _ in run if _module(n) == _module(culprit)}
            for cand in sorted(mates - set(causes) - set(tried) - {victim}):
                if _passes(src, python, [cand, victim], victim) == failed_alone:
                    causes.append(cand)
            tried = sorted(set(tried) | mates)
            unexplained = _unexplained_runs(all_runs, victim, causes, telling)
        if bisected:
            entry["bisected_runs"] = [f"run-{i + 1:03d}" for i in bisected]
        entry.update(kind=kind if causes else "none", causes=causes, pairs_tried=len(tried))
        entry["alone"] = "failed" if failed_alone else "passed"
        if unexplained:
            entry["unexplained_runs"] = [f"run-{i + 1:03d}" for i in unexplained]
        if not causes:
            entry["note"] = (
                f"{'fails' if failed_alone else 'passes'} alone; no single test before it changes that"
            )
        print(
            f"{entry['kind']:13s} {victim}: {len(causes)} causes of {len(tried)} tried, "
            f"{len(unexplained)} {telling} runs unexplained",
            flush=True,
        )
        result["victims"].append(entry)
    (out / "truth.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def last_writer_fields(all_runs, entry: dict) -> dict:
    """Check "the last setter or undoer before it decides" on every run; return the fields it gives.

    ``causes_in_runs``: the setters (a class's tests together: it writes in ``setUpClass``) that
    were that last writer before at least one pass, the only causes a history can show.
    """
    victim, setters, undoers = entry["victim"], set(entry["causes"]), set(entry["undoers"])
    decided: set[str] = set()
    agree = 0
    for i, run in enumerate(all_runs):
        order = [n for n, _ in run]
        before = order[: order.index(victim)]
        last = next((n for n in reversed(before) if n in setters or n in undoers), None)
        passed = dict(run)[victim] == "passed"
        if passed != (last in setters):
            raise SystemExit(f"run-{i + 1:03d}: {victim} {'passed' if passed else 'failed'} after {last}")
        agree += 1
        if passed:
            decided |= {n for n in setters if n.rsplit("::", 1)[0] == last.rsplit("::", 1)[0]}
    return {"model_agrees_runs": agree, "causes_in_runs": sorted(decided)}


def recount(out: Path) -> dict:
    """After more runs were added to OUT: recount truth.json's runs without new pair runs.

    Refuses (exit 1) when a test flips that the truth does not know, or when a run is not explained
    by the causes the pair runs found: then the truth itself must be made again (``truth``).
    """
    all_runs = load_runs(out)
    path = out / "truth.json"
    result = json.loads(path.read_text())
    flipping = flipping_tests(all_runs)
    unknown = sorted(set(flipping) - {v["victim"] for v in result["victims"]})
    if unknown:
        raise SystemExit(f"not in truth.json, run `truth`: {unknown}")
    for entry in result["victims"]:
        entry["failed_runs"], entry["passed_runs"] = flipping.get(entry["victim"], (0, 0))
        if entry.get("model") == "last-writer":
            entry.update(last_writer_fields(all_runs, entry))
        elif entry["causes"]:
            telling = "passed" if entry["alone"] == "failed" else "failed"
            missing = _unexplained_runs(all_runs, entry["victim"], entry["causes"], telling)
            if missing:
                raise SystemExit(f"{entry['victim']}: {telling} runs no cause explains: {missing}")
        print(f"{entry['failed_runs']:4d} failed {entry['passed_runs']:4d} passed  {entry['victim']}")
    result["runs"] = len(all_runs)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    p = sub.add_parser("truth")
    p.add_argument("src", type=Path)
    p.add_argument("--python", required=True)
    p.add_argument("out", type=Path)
    p = sub.add_parser("recount")
    p.add_argument("out", type=Path)
    p = sub.add_parser("pair")
    p.add_argument("src", type=Path)
    p.add_argument("--python", required=True)
    p.add_argument("--json", action="store_true", help="print the verdicts as one JSON object")
    p.add_argument(
        "--first",
        action="append",
        default=[],
        metavar="TEST",
        help="run TEST before every candidate (repeatable): finds undoers of a setter, cleaners",
    )
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
    elif args.cmd == "truth":
        truth(args.src, args.python, args.out)
    elif args.cmd == "recount":
        recount(args.out)
    else:
        found = pair(args.src, args.python, args.victim, args.candidates, args.first)
        if args.json:
            print(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
