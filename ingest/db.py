"""Engines, sessions and schema upgrades for SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # SQLAlchemy (~0.2 s CPU to import) is imported by the functions that make engines, not by URL
    # handling: `suitehealth ingest` into an up-to-date SQLite file never loads it (open_current_sqlite).
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

    from ingest.sqlexec import SqliteExecutor

DEFAULT_URL = "sqlite:///suitehealth.db"
ENV_VAR = "SUITEHEALTH_DATABASE_URL"
# Milliseconds a writer waits for SQLite's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Engines whose database was checked (or migrated) in this process. Per engine, not per URL: an
# SQLite file deleted and recreated under the same URL must be migrated again.
_upgraded: weakref.WeakSet[Engine] = weakref.WeakSet()
_upgrade_lock = threading.Lock()


def database_url(url: str | None = None) -> str:
    """Return the database URL: the argument, else $SUITEHEALTH_DATABASE_URL, else the default."""
    url = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    # Accept the URLs people paste from Heroku/psql; we drive PostgreSQL through psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if "://" not in url:  # a bare path means an SQLite file
        return f"sqlite:///{url}"
    return url


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """Create an engine with the pragmas/settings suitehealth relies on."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # A "file:...?mode=ro&uri=true" URL opens an existing file (read-only pages): nothing to create.
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so a write
        # transaction starts with BEGIN IMMEDIATE and never dies half-way on a lock upgrade.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


# The plain file URLs whose path is the text after the prefix, as SQLAlchemy reads them; anything
# else (a query string, percent-escapes, a driver name, :memory:) goes through SQLAlchemy.
_PLAIN_SQLITE_URL = re.compile(r"sqlite:///([^?%#]+)")


def open_current_sqlite(url: str) -> SqliteExecutor | None:
    """Open an existing SQLite file at the newest schema with stdlib sqlite3, or return None.

    None (the caller then takes the SQLAlchemy path, which migrates or reports the error) when the
    URL is not a plain SQLite file URL, the file does not exist, cannot be read as a database, or
    its alembic_version is not the head revision. The connection has the pragmas of make_engine's.
    """
    from ingest.sqlexec import SqliteExecutor

    match = _PLAIN_SQLITE_URL.fullmatch(database_url(url))
    head = head_revision()
    if match is None or head is None:
        return None
    path = Path(match.group(1))  # as SQLAlchemy opens it: relative to the working folder, no ~ expansion
    if not path.is_file():
        return None
    conn = None
    try:
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        _sqlite_pragmas(conn, None)
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        if conn is not None:
            conn.close()
        return None
    if rows != [(head,)]:
        conn.close()
        return None
    return SqliteExecutor(conn)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Session]:
    """Yield a session inside one transaction that commits on success and rolls back on error.

    On SQLite the transaction starts with BEGIN IMMEDIATE, taking the write lock up front: a
    deferred transaction that reads and then writes can fail with "database is locked" at once,
    without honouring busy_timeout, when another writer committed in between.
    """
    from sqlalchemy.orm import Session

    with engine.connect() as conn:
        conn.info["write"] = True
        try:
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session
        finally:
            conn.info.pop("write", None)


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """Like ``write_transaction``, with a Core connection: for writers that need no ORM (the store)."""
    with engine.connect() as conn:
        conn.info["write"] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("write", None)


def alembic_config(engine: Engine):
    """Return an Alembic Config that migrates ``engine``'s database."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``."""
    from alembic import command

    with _upgrade_lock:
        command.upgrade(alembic_config(engine), revision)
        _upgraded.add(engine)


def ensure_schema(engine: Engine) -> None:
    """Migrate to head once per engine; cheap after the first call.

    Alembic (~10 MB and ~0.1 s to import) is only loaded when the database is behind.
    """
    if engine in _upgraded:
        return
    if current_revision(engine) != head_revision():
        upgrade(engine)
    _upgraded.add(engine)


def current_revision(engine: Engine) -> str | None:
    """Return the revision stamped in the database's alembic_version table (None if absent)."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    # Several rows mean branches; let alembic sort that out.
    return rows[0][0] if len(rows) == 1 else None


_REVISION_LINE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*['"]?([\w.-]+|None)['"]?""", re.M)


@functools.cache
def head_revision() -> str | None:
    """Return the newest migration's revision by reading the version files, without alembic.

    A test checks this equals alembic's own head. More than one head returns None (never equal
    to a stamped revision, so ensure_schema hands over to alembic).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        found = dict((key, value) for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", "None"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def has_schema(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return inspect(engine).has_table("runs")
