"""``suitehealth backfill``: bulk import of CI history from a JSONL manifest.

One run per line; a bad line is reported with its line number and the others still load. Each
run is its own transaction, so an interrupted backfill can simply be started again: runs already
stored are recognised by their content and skipped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ingest.cli import AppContext, main, parse_started_at, pass_app
from ingest.errors import IngestError, MetadataError
from ingest.records import RunMeta
from ingest.sources import ReportSource

if TYPE_CHECKING:
    from sqlalchemy import Engine

_KEYS = ("project", "suite", "branch", "commit", "build_id", "build_url", "started_at")


@dataclass
class BackfillResult:
    """What a backfill did, line by line."""

    lines: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for line in self.lines if "error" in line)

    def as_dict(self) -> dict:
        stored = [line for line in self.lines if "error" not in line]
        return {
            "lines": len(self.lines),
            "stored": sum(1 for line in stored if not line["duplicate"]),
            "duplicates": sum(1 for line in stored if line["duplicate"]),
            "failed": self.failed,
            "results": sum(line["tests"] for line in stored if not line["duplicate"]),
            "runs": self.lines,
        }


def read_manifest(path: Path) -> Iterator[tuple[int, RunMeta | None, list[ReportSource], str | None]]:
    """Yield (line number, run meta, sources, error) for every non-blank line of a JSONL manifest."""
    base = path.parent
    with open(path, encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("each line must be a JSON object")
                meta, files = _entry(entry, base)
            except (ValueError, MetadataError) as exc:
                yield number, None, [], str(exc)
                continue
            yield number, meta, files, None


def _entry(entry: dict, base: Path) -> tuple[RunMeta, list[ReportSource]]:
    unknown = sorted(set(entry) - set(_KEYS) - {"files", "environment"})
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(unknown)}")
    if not isinstance(entry.get("project"), str) or not entry["project"]:
        raise ValueError('"project" is required')
    files = entry.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ValueError('"files" must be a non-empty list of paths')
    paths = [Path(f) if Path(f).is_absolute() else base / f for f in files]
    for p in paths:
        if not p.is_file():
            raise ValueError(f"{p}: no such file")
    values = {k: (str(entry[k]) if entry.get(k) is not None else None) for k in _KEYS[1:6]}
    meta = RunMeta(
        project=entry["project"],
        suite=values["suite"] or "default",
        branch=values["branch"],
        commit=values["commit"],
        build_id=values["build_id"],
        build_url=values["build_url"],
        started_at=parse_started_at(entry.get("started_at")),
        environment=entry["environment"] if isinstance(entry.get("environment"), dict) else {},
    )
    return meta, [ReportSource.from_path(p) for p in paths]


def backfill(engine: Engine, manifest: Path, progress=None) -> BackfillResult:
    """Ingest every run of ``manifest``; failures are recorded per line, never raised."""
    from ingest.store import ingest_sources  # when backfilling, not at every CLI start-up

    result = BackfillResult()
    for number, meta, sources, error in read_manifest(manifest):
        if error is None:
            try:
                summary = ingest_sources(engine, sources, meta)
            except IngestError as exc:
                error = str(exc)
            else:
                result.lines.append(
                    {
                        "line": number,
                        "run_id": summary.run_id,
                        "project": summary.project,
                        "suite": summary.suite,
                        "tests": summary.tests,
                        "duplicate": summary.duplicate,
                    }
                )
        if error is not None:
            result.lines.append({"line": number, "error": error})
        if progress is not None:
            progress(number, error)
    return result


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


@main.command("backfill")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary with per-line results.")
@pass_app
def backfill_command(app: AppContext, manifest: Path, as_json: bool) -> None:
    """Import CI history: one run per line of a JSONL MANIFEST.

    Each line: {"project", "suite", "branch", "commit", "build_id", "started_at", "files": [...]};
    file paths are relative to the manifest or absolute. A failing line is reported with its line
    number and does not stop the others; the exit status is 1 if any line failed.

    \b
    Example:
      suitehealth backfill history/manifest.jsonl --json
    """
    engine = app.engine
    failures: list[str] = []

    def report_failure(number: int, error: str | None) -> None:
        if error is not None:
            failures.append(f"{manifest}:{number}: {error}")

    if sys.stderr.isatty() and not as_json:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("backfill", total=_count_lines(manifest))

            def tick(number: int, error: str | None) -> None:
                report_failure(number, error)
                if error is not None:
                    bar.console.print(
                        f"{manifest}:{number}: {error}", style="red", markup=False, highlight=False
                    )
                bar.advance(task)

            result = backfill(engine, manifest, tick)
    else:
        result = backfill(engine, manifest, report_failure)
        if not as_json:
            for line in failures:
                click.echo(line, err=True)
    summary = result.as_dict()
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"Backfill: {summary['stored']} runs stored ({summary['results']} results), "
            f"{summary['duplicates']} already stored, {summary['failed']} failed."
        )
    if result.failed:
        raise SystemExit(1)
