"""Tokens: only a SHA-256 of each token is stored.

An upload token belongs to exactly one project, can upload only to it and may read it (the sign-in of
SUITEHEALTH_AUTH=token). A read token reads one project, or every project; it never uploads. Tokens
are 256-bit random strings, so a plain (unsalted) SHA-256 is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ingest.db import ensure_schema, write_transaction
from ingest.limits import check_name, clip
from ingest.models import Project, UploadToken
from ingest.store import get_or_create_project

TOKEN_PREFIX = "sh_"
# Characters of the token kept in clear, so `token list` can tell tokens apart.
SHOWN_CHARS = 10
# last_used_at is a convenience; refreshing it at most this often keeps uploads from writing twice.
LAST_USED_RESOLUTION = timedelta(minutes=1)
LABEL_CHARS = 200
UPLOAD = "upload"
READ = "read"
ACCESS = (UPLOAD, READ)


class TokenError(Exception):
    """A token command cannot do what was asked (unknown id, ambiguous prefix ...)."""


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token (never the token itself)."""

    id: int
    project: str | None  # None: a read token for every project
    prefix: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    access: str = UPLOAD

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict:
        return {
            "id": self.id, "project": self.project, "prefix": self.prefix, "label": self.label,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "access": self.access, "all_projects": self.project is None,
        }


@dataclass(frozen=True)
class Verified:
    """A token that checked out: the project it may upload to."""

    token_id: int
    project_id: int
    project: str


@dataclass(frozen=True)
class Reader:
    """A token that may read: one project (``project``), or every project (``project`` None)."""

    token_id: int
    access: str
    project: str | None

    def may_read(self, project: str) -> bool:
        return self.project is None or self.project == project


def hash_token(token: str) -> str:
    """Return the hex SHA-256 stored for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine: Engine, project: str | None, label: str | None = None, *,
                 access: str = UPLOAD) -> tuple[TokenInfo, str]:
    """Create a token for ``project`` (creating the project if new); return its info and the secret.

    ``access`` is UPLOAD (the default) or READ; only a READ token may have no project (every project).
    """
    if access not in ACCESS:
        raise ValueError(f"access must be one of {', '.join(ACCESS)}, not {access!r}")
    if project is None and access != READ:
        raise ValueError("an upload token belongs to one project")
    if project is not None:
        check_name("project", project, "--project")  # refused before the database, not by it
    label = clip(label, LABEL_CHARS)
    ensure_schema(engine)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(engine) as session:
        proj = get_or_create_project(session, project) if project is not None else None
        row = UploadToken(project_id=proj.id if proj else None, access=access, token_hash=hash_token(secret),
                          prefix=secret[:SHOWN_CHARS], label=label, created_at=datetime.now(UTC))
        session.add(row)
        session.flush()
        return _info(row, proj.name if proj else None), secret


def list_tokens(engine: Engine, project: str | None = None, *,
                include_revoked: bool = True) -> list[TokenInfo]:
    """Return the tokens (of ``project`` if given), oldest first."""
    ensure_schema(engine)
    query = select(UploadToken, Project.name).outerjoin(Project).order_by(UploadToken.id)
    if project is not None:
        query = query.where(Project.name == project)
    if not include_revoked:
        query = query.where(UploadToken.revoked_at.is_(None))
    with Session(engine) as session:
        return [_info(row, name) for row, name in session.execute(query).all()]


def revoke_token(engine: Engine, ident: str) -> TokenInfo:
    """Revoke the token with id ``ident`` or whose shown prefix starts with ``ident``; return it."""
    ensure_schema(engine)
    with write_transaction(engine) as session:
        query = select(UploadToken, Project.name).outerjoin(Project)
        if ident.isdigit():
            matches = session.execute(query.where(UploadToken.id == int(ident))).all()
        else:
            if len(ident) < 4:
                raise TokenError("give the token id or at least 4 characters of its prefix")
            # The prefix column holds the first SHOWN_CHARS characters; a longer ident is a full token.
            if len(ident) > SHOWN_CHARS:
                matches = session.execute(query.where(UploadToken.token_hash == hash_token(ident))).all()
            else:
                by_prefix = UploadToken.prefix.startswith(ident, autoescape=True)
                matches = session.execute(query.where(by_prefix)).all()
        if not matches:
            raise TokenError(f"no token matches {ident!r}")
        if len(matches) > 1:
            ids = ", ".join(str(row.id) for row, _ in matches)
            raise TokenError(f"{ident!r} matches several tokens (ids {ids}); give the id")
        row, name = matches[0]
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        return _info(row, name)


def verify_token(engine: Engine, token: str | None) -> Verified | None:
    """Return the project a valid, unrevoked upload ``token`` uploads to, else None (read tokens too)."""
    found = _lookup(engine, token)
    if found is None or found.access != UPLOAD or found.project_id is None:
        return None
    _touch(engine, found)
    return Verified(token_id=found.id, project_id=found.project_id, project=found.name)


def verify_reader(engine: Engine, token: str | None) -> Reader | None:
    """Return what a valid, unrevoked ``token`` (read or upload) may read, else None."""
    found = _lookup(engine, token)
    if found is None:
        return None
    _touch(engine, found, best_effort=True)
    return _reader(found)


def session_check(token_hash: str) -> str:
    """Return the value a sign-in session keeps beside the token id (changes with the token, not secret)."""
    return hashlib.sha256(b"suitehealth-session\0" + token_hash.encode("ascii")).hexdigest()[:32]


def sign_in(engine: Engine, token: str | None) -> tuple[Reader, str] | None:
    """Check a token typed on the sign-in page; return its reader and the session check value, else None."""
    found = _lookup(engine, token)
    if found is None:
        return None
    _touch(engine, found, best_effort=True)
    return _reader(found), session_check(found.token_hash)


def session_reader(engine: Engine, token_id: object, check: object) -> Reader | None:
    """Return the reader of a signed-in session if its token is still valid (not revoked), else None."""
    if not isinstance(token_id, int) or isinstance(token_id, bool) or not isinstance(check, str):
        return None
    with Session(engine) as session:
        found = session.execute(_LOOKUP.where(UploadToken.id == token_id)).first()
    if found is None or found.revoked_at is not None or found.access not in ACCESS:
        return None
    if found.access == UPLOAD and found.project_id is None:
        return None
    if not hmac.compare_digest(session_check(found.token_hash), check):
        return None
    return _reader(found)


_LOOKUP = (select(UploadToken.id, UploadToken.token_hash, UploadToken.revoked_at, UploadToken.last_used_at,
                  UploadToken.access, UploadToken.project_id, Project.name)
           .outerjoin(Project, UploadToken.project_id == Project.id))


def _lookup(engine: Engine, token: str | None):
    """Return the row of a valid, unrevoked token, else None."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    with Session(engine) as session:
        found = session.execute(_LOOKUP.where(UploadToken.token_hash == digest)).first()
    # The lookup is by digest, so timing reveals nothing about the secret; compare in constant time anyway.
    if found is None or not hmac.compare_digest(found.token_hash, digest) or found.revoked_at is not None:
        return None
    if found.access not in ACCESS or (found.access == UPLOAD and found.project_id is None):
        return None
    return found


def _touch(engine: Engine, found, *, best_effort: bool = False) -> None:
    now = datetime.now(UTC)
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        try:
            with write_transaction(engine) as session:
                session.execute(update(UploadToken).where(UploadToken.id == found.id)
                                .values(last_used_at=now))
        except DBAPIError:
            # Reading works on a read-only database; a last-use time is not worth refusing a reader for.
            if not best_effort:
                raise


def _reader(found) -> Reader:
    return Reader(token_id=found.id, access=found.access, project=found.name)


def _info(row: UploadToken, project: str | None) -> TokenInfo:
    return TokenInfo(id=row.id, project=project, prefix=row.prefix, label=row.label,
                     created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at,
                     access=row.access or UPLOAD)
