"""One engine per app, one session per request (created lazily, closed at teardown)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest.db import ensure_schema, make_engine


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    ensure_schema(engine)
    app.extensions["suitehealth_engine"] = engine
    app.teardown_appcontext(_close_session)


def get_engine() -> Engine:
    return current_app.extensions["suitehealth_engine"]


def get_session() -> Session:
    """Return this request's session, creating it on first use."""
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
