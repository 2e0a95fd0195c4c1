"""The store's SQL on a SQLAlchemy connection or on a bare sqlite3 connection, through one interface.

Statements are plain text with ``:name`` parameters (SQLAlchemy's ``text()`` and stdlib sqlite3
both take them), so both paths run the same SQL. ``types`` names the parameters that need
encoding: on SQLAlchemy they become typed bind parameters, as before; on bare sqlite3 they are
encoded here exactly as SQLAlchemy's SQLite dialect encodes them (a test compares the rows), so the
ORM and the pages read either back unchanged.

The bare path exists for start-up: importing SQLAlchemy alone costs ~0.2 s CPU, several times what
storing a 200-test report does. This module imports only the standard library.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

JSON = "json"
DATETIME = "datetime"
Types = Mapping[str, str]

# sqlalchemy.dialects.sqlite.DATETIME's storage format (microseconds always written).
_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def sqlite_datetime(value: datetime | None) -> str | None:
    """Return ``value`` as SQLAlchemy's SQLite dialect stores a DateTime (naive, as given)."""
    if value is None:
        return None
    return _SQLITE_DATETIME % {
        "year": value.year, "month": value.month, "day": value.day, "hour": value.hour,
        "minute": value.minute, "second": value.second, "microsecond": value.microsecond,
    }


# SQLAlchemy's JSON type serializes None too (to 'null'), with json.dumps' defaults.
_ENCODERS = {JSON: json.dumps, DATETIME: sqlite_datetime}


def stored_datetime(value: datetime | str) -> datetime:
    """Return a DateTime column's value as a datetime (sqlite3 gives back the stored text)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def stored_json(value: Any) -> Any:
    """Return a JSON column's value decoded (SQLite gives back text; psycopg decodes it itself)."""
    return json.loads(value) if isinstance(value, str) else value


class Executor(Protocol):
    """What the store needs from a database connection."""

    postgres: bool

    def execute(self, sql: str, params: Mapping | None = None, types: Types | None = None) -> None: ...

    def rows(self, sql: str, params: Mapping | None = None) -> list[tuple]: ...

    def scalar(self, sql: str, params: Mapping | None = None) -> Any: ...

    def insert(self, sql: str, params: Mapping, types: Types | None = None) -> int: ...

    def cursor(self) -> Any: ...


class SqliteExecutor:
    """The interface on a stdlib sqlite3 connection (autocommit mode; transactions are explicit)."""

    postgres = False

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    @staticmethod
    def _bind(params: Mapping | None, types: Types | None) -> Mapping:
        if not types:
            return params or {}
        bound = dict(params or {})
        for name, kind in types.items():
            if name in bound:
                bound[name] = _ENCODERS[kind](bound[name])
        return bound

    def execute(self, sql: str, params: Mapping | None = None, types: Types | None = None) -> None:
        self.conn.execute(sql, self._bind(params, types))

    def rows(self, sql: str, params: Mapping | None = None) -> list[tuple]:
        return self.conn.execute(sql, params or {}).fetchall()

    def scalar(self, sql: str, params: Mapping | None = None) -> Any:
        row = self.conn.execute(sql, params or {}).fetchone()
        return None if row is None else row[0]

    def insert(self, sql: str, params: Mapping, types: Types | None = None) -> int:
        return self.conn.execute(sql, self._bind(params, types)).lastrowid

    def cursor(self) -> sqlite3.Cursor:
        return self.conn.cursor()

    @contextmanager
    def transaction(self) -> Iterator[SqliteExecutor]:
        """One write transaction, taking SQLite's write lock up front (as ingest.db does)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


_TEXT_CACHE: dict[tuple, Any] = {}
# A :name parameter, as text() finds them (not a "::" cast).
_PARAM = re.compile(r"(?<![:\w]):(\w+)")


class CoreExecutor:
    """The interface on a SQLAlchemy Core connection: each statement becomes a (cached) ``text()``."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    @staticmethod
    def _text(sql: str, types: Types | None = None):
        key = (sql, tuple(sorted(types.items())) if types else ())
        statement = _TEXT_CACHE.get(key)
        if statement is None:
            from sqlalchemy import JSON as JSONType
            from sqlalchemy import DateTime, bindparam, text

            kinds = {JSON: JSONType, DATETIME: DateTime}
            statement = text(sql)
            if types:
                # Only the names the statement has (a dict of values may carry more).
                names = set(_PARAM.findall(sql))
                statement = statement.bindparams(
                    *(bindparam(n, type_=kinds[k]()) for n, k in types.items() if n in names))
            _TEXT_CACHE[key] = statement
        return statement

    def execute(self, sql: str, params: Mapping | None = None, types: Types | None = None) -> None:
        self.conn.execute(self._text(sql, types), dict(params or {}))

    def rows(self, sql: str, params: Mapping | None = None) -> list[tuple]:
        return [tuple(row) for row in self.conn.execute(self._text(sql), dict(params or {}))]

    def scalar(self, sql: str, params: Mapping | None = None) -> Any:
        return self.conn.execute(self._text(sql), dict(params or {})).scalar()

    def insert(self, sql: str, params: Mapping, types: Types | None = None) -> int:
        if self.postgres:
            return self.conn.execute(self._text(sql + " RETURNING id", types), dict(params)).scalar_one()
        return self.conn.execute(self._text(sql, types), dict(params)).lastrowid

    def cursor(self) -> Any:
        return self.conn.connection.driver_connection.cursor()
