"""Small real pytest projects for the confirm and seed tests: write one, run it shuffled, ingest it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.updates import refresh_project
from ingest.models import Project
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources

# Plugins of this virtualenv that the planted projects do not need (they only slow pytest down).
UNNEEDED = ("schemathesis", "hypothesispytest", "anyio", "xdist", "rerunfailures", "metadata",
            "pytest_jsonreport", "pytest_reportlog", "subtests")


def plugins_off(*names: str) -> list[str]:
    """The ``-p no:NAME`` arguments that switch off ``names``."""
    return [arg for name in names for arg in ("-p", f"no:{name}")]


QUIET = plugins_off(*UNNEEDED)


def write_checkout(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> text) under ``root``; return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def shuffled_reports(root: Path, reports: Path, seeds, extra_args=QUIET) -> list[Path]:
    """Run the project's tests once per pytest-randomly seed; return the JUnit file of each run."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    paths = []
    for seed in seeds:
        report = reports / f"run-{seed:02d}.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "randomly", "-p", "no:cacheprovider", *extra_args,
             f"--randomly-seed={seed}", f"--junitxml={report}", "-q", "tests"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=300)
        paths.append(report)
    return paths


def ingest_history(engine, reports: list[Path], project: str) -> int:
    """Store the reports as hourly runs of one commit, let the refresh analyse them; return the project id."""
    for i, path in enumerate(reports):
        meta = RunMeta(project=project, suite="tests", branch="main", commit="c0",
                       started_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i))
        ingest_sources(engine, [ReportSource.from_path(path)], meta)
    with Session(engine) as s:
        project_id = s.scalar(select(Project.id).where(Project.name == project))
    refresh_project(engine, project_id)
    return project_id
