"""Read and write the stored analysis tables (ingest.analysis_models)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from dashboard.analysis import flakestate
from dashboard.analysis.history import Analyzer, Signature, sequence_json
from ingest.analysis_models import AnalysedRun, FailureSignature, FlakeStats, InterferenceSuspect
from ingest.models import Test


def load_states(session: Session, project_id: int) -> dict[tuple[int, int], FlakeStats]:
    """Return the project's stored per-test state rows keyed by (suite_id, test_id)."""
    rows = session.scalars(select(FlakeStats).where(FlakeStats.project_id == project_id)).all()
    return {(r.suite_id, r.test_id): r for r in rows}


def save_states(session: Session, analyzer: Analyzer, existing: Collection[tuple[int, int]]) -> None:
    """Write the analyzer's touched states back: insert new keys, update those in ``existing``.

    Bulk statements by primary key, not ORM objects loaded here: the write transaction stays
    short because it never reads the rows it replaces (the read phase did).
    """
    new, changed = [], []
    for key in analyzer.touched:
        state = analyzer.states[key]
        view = flakestate.effective(state)
        score = flakestate.posterior(view)[0] if view["flakes"] else 0.0
        values = dict(
            suite_id=key[0],
            test_id=key[1],
            runs=state["runs"],
            failures=state["fails"],
            flakes=view["flakes"],
            broken=view["broken_now"],
            score=score,
            last_flake_at=flakestate.parse_ts(view["last_flake"]),
            state=_copy(state),
        )
        if key in existing:
            changed.append(values)
        else:
            new.append(values | {"project_id": analyzer.project_id})
    if new:
        session.execute(insert(FlakeStats), new)
    if changed:
        session.execute(update(FlakeStats), changed)


def _copy(state: dict) -> dict:
    # A fresh object so the ORM sees the JSON value change.
    return {k: ([list(e) for e in v] if k == "episodes" else v) for k, v in state.items()}


def load_signatures(session: Session, project_id: int) -> dict[tuple[int, int, str], FailureSignature]:
    rows = session.scalars(
        select(FailureSignature)
        .join(Test, Test.id == FailureSignature.test_id)
        .where(Test.project_id == project_id)
    ).all()
    return {(r.suite_id, r.test_id, r.signature_hash): r for r in rows}


def save_signatures(
    session: Session,
    analyzer: Analyzer,
    existing: Collection[tuple[int, int, str]],
    run_ids: Collection[int] | None = None,
) -> None:
    """Write the signatures seen in ``run_ids`` (all when None): insert new keys, update the rest."""
    new, changed = [], []
    for key, sig in analyzer.signatures.items():
        if run_ids is not None and sig.last_run_id not in run_ids:
            continue  # untouched by this refresh: the stored row already says the same
        row = dict(suite_id=key[0], test_id=key[1], signature_hash=key[2], count=sig.count,
                   last_run_id=sig.last_run_id, last_seen_at=sig.last_seen_at)
        if key not in existing:
            new.append({**row, "signature": sig.signature, "example": sig.example})
        elif sig.count:
            changed.append(row)
    if new:
        session.execute(insert(FailureSignature), new)
    if changed:
        session.execute(update(FailureSignature), changed)


def seed_signatures(analyzer: Analyzer, rows: dict[tuple[int, int, str], FailureSignature]) -> None:
    for key, row in rows.items():
        analyzer.signatures[key] = Signature(
            row.signature, row.example, row.count, row.last_run_id, row.last_seen_at
        )


def save_runs(session: Session, analyzer: Analyzer) -> None:
    """Store the compact execution order of every run the analyzer processed."""
    # A batch of runs at a time: the stored (JSON) form of a sequence is several times the size
    # of the analyzer's, and a first analysis of a long history holds every run.
    for start in range(0, len(analyzer.processed), SAVE_RUNS_BATCH):
        session.execute(
            insert(AnalysedRun),
            [
                dict(
                    run_id=run.id,
                    project_id=analyzer.project_id,
                    suite_id=run.suite_id,
                    started_at=run.started_at,
                    outage=outage,
                    sequence=sequence_json(seq),
                )
                for run, outage, seq in analyzer.processed[start : start + SAVE_RUNS_BATCH]
            ],
        )


SAVE_RUNS_BATCH = 50


# Parsed run sequences never change once written: keep them per process, so an incremental
# refresh in a long-lived server parses only the new runs' JSON. Keyed by database URL and run id.
_SEQUENCES: dict[tuple[str, int], dict] = {}
MAX_CACHED_SEQUENCES = 20_000


def load_sequences(
    session: Session,
    suite_id: int,
    limit: int,
    pending: Iterable[tuple[int, datetime, dict]] = (),
) -> list[tuple[int, datetime, dict]]:
    """Return the suite's latest ``limit`` non-outage run sequences, oldest first.

    ``pending`` are (run_id, started_at, sequence) of runs analysed but not stored yet (a refresh
    computes before it writes); they count as if they were stored.
    """
    pending = list(pending)
    heads = session.execute(
        select(AnalysedRun.run_id, AnalysedRun.started_at)
        .where(AnalysedRun.suite_id == suite_id, AnalysedRun.outage.is_(False))
        .order_by(AnalysedRun.started_at.desc(), AnalysedRun.run_id.desc())
        .limit(limit)
    ).all()
    url = str(session.get_bind().engine.url)
    missing = [run_id for run_id, _ in heads if (url, run_id) not in _SEQUENCES]
    if len(_SEQUENCES) + len(missing) > MAX_CACHED_SEQUENCES:
        _SEQUENCES.clear()
        missing = [run_id for run_id, _ in heads]
    for i in range(0, len(missing), 500):
        chunk = missing[i : i + 500]
        for run_id, sequence in session.execute(
            select(AnalysedRun.run_id, AnalysedRun.sequence).where(AnalysedRun.run_id.in_(chunk))
        ):
            _SEQUENCES[(url, run_id)] = sequence
    stored = [(run_id, started_at, _SEQUENCES[(url, run_id)]) for run_id, started_at in heads]
    if not pending:
        return stored[::-1]
    latest = sorted(stored + pending, key=lambda s: (s[1], s[0]), reverse=True)[:limit]
    return latest[::-1]


def replace_suspects(
    session: Session, project_id: int, suite_id: int, results: dict[int, tuple[list[dict], str | None]]
) -> None:
    """Store the suite's suspects (and undecidable notes) in place of the previous ones."""
    previous = {
        (r.victim_id, r.kind, tuple(r.evidence.get("member_ids", []))): r.first_seen_at
        for r in session.scalars(select(InterferenceSuspect).where(InterferenceSuspect.suite_id == suite_id))
    }
    session.execute(delete(InterferenceSuspect).where(InterferenceSuspect.suite_id == suite_id))
    rows = []
    for victim, (found, note) in results.items():
        for rank, f in enumerate(found, 1):
            first = previous.get((victim, f["kind"], tuple(f["members"])))
            if first is None or (f["first_seen_at"] is not None and f["first_seen_at"] < first):
                first = f["first_seen_at"]
            rows.append(
                InterferenceSuspect(
                    project_id=project_id,
                    suite_id=suite_id,
                    victim_id=victim,
                    rank=rank,
                    kind=f["kind"],
                    confidence=f["confidence"],
                    polluters=[],
                    first_seen_at=first,
                    last_seen_at=f["last_seen_at"],
                    evidence={k: v for k, v in f.items() if k not in ("first_seen_at", "last_seen_at")}
                    | {"member_ids": f["members"]},
                )
            )
        if note:
            rows.append(
                InterferenceSuspect(
                    project_id=project_id,
                    suite_id=suite_id,
                    victim_id=victim,
                    rank=0,
                    kind="undecidable",
                    confidence=0.0,
                    polluters=[],
                    evidence={"note": note},
                )
            )
    session.add_all(rows)


def stored_results(
    session: Session, project_id: int
) -> tuple[dict[tuple[int, int], tuple[list[dict], str | None]], dict[tuple[int, int], dict]]:
    """Return the stored suspects as the analysis produced them, and the undecidable victims' counts.

    The first dict maps (suite_id, victim id) to (findings, note), like ``replace_suspects`` was
    given; the second maps undecidable victims to {"fails", "runs"} for their notes.
    """
    rows = session.scalars(
        select(InterferenceSuspect)
        .where(InterferenceSuspect.project_id == project_id)
        .order_by(InterferenceSuspect.suite_id, InterferenceSuspect.victim_id, InterferenceSuspect.rank)
    ).all()
    results: dict[tuple[int, int], tuple[list[dict], str | None]] = {}
    undecided: list[tuple[int, int]] = []
    for r in rows:
        found, note = results.get((r.suite_id, r.victim_id), ([], None))
        if r.kind == "undecidable":
            undecided.append((r.suite_id, r.victim_id))
            note = r.evidence.get("note") or "undecidable"
        else:
            finding = dict(r.evidence)
            finding["members"] = finding.pop("member_ids")
            finding["first_seen_at"], finding["last_seen_at"] = r.first_seen_at, r.last_seen_at
            found.append(finding)
        results[(r.suite_id, r.victim_id)] = (found, note)
    counts: dict[tuple[int, int], dict] = {}
    if undecided:
        for s in session.scalars(
            select(FlakeStats).where(FlakeStats.test_id.in_(sorted({victim for _, victim in undecided})))
        ):
            counts[(s.suite_id, s.test_id)] = {"fails": s.failures, "runs": s.runs}
    return results, counts
