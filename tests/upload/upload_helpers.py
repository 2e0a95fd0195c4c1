"""Shared helpers of the upload tests: real corpus reports, distinct variants, stored-run counts."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ingest.models import Result, Run

DATA = Path(__file__).resolve().parents[1] / "data" / "upload"
GOOD = DATA / "python-xunit-pytest.xml"  # pytest 8 xunit2: 10 tests, 2 failed
RERUNS = DATA / "pytest-xunit2-setup-teardown-errors-reruns.xml"
TRUNCATED = DATA / "truncated-pytest.xml"
XXE = DATA / "xxe-external-entity.xml"


def variant(n: int, source: Path = GOOD) -> bytes:
    """Return a real report made distinct by a trailing comment (a different CI run's content)."""
    return source.read_bytes().rstrip() + f"\n<!-- ci build {n} -->\n".encode()


def gzip_bomb(expanded_bytes: int) -> bytes:
    """Return a small gzip stream that expands to ``expanded_bytes`` behind a valid-looking XML head."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(b'<?xml version="1.0"?><testsuite name="bomb"><system-out>')
        chunk = b"A" * (1 << 20)
        for _ in range(expanded_bytes // len(chunk) + 1):
            gz.write(chunk)
    return buffer.getvalue()


def stored_runs(engine: Engine, project: str | None = None) -> list[tuple[int, str, str]]:
    """Return (run id, suite, content hash) of every stored run."""
    from ingest.models import Project, Suite

    query = select(Run.id, Suite.name, Run.content_hash).join(Suite, Run.suite_id == Suite.id)
    if project is not None:
        query = query.join(Project, Run.project_id == Project.id).where(Project.name == project)
    with Session(engine) as session:
        return [tuple(row) for row in session.execute(query.order_by(Run.id)).all()]


def result_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Result))
