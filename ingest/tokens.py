"""Per-project upload tokens: only a SHA-256 of each token is stored.

A token belongs to exactly one project and can upload only to it. Tokens are 256-bit random
strings, so a plain (unsalted) SHA-256 is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
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


class TokenError(Exception):
    """A token command cannot do what was asked (unknown id, ambiguous prefix ...)."""


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token (never the token itself)."""

    id: int
    project: str
    prefix: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict:
        return {
            "id": self.id, "project": self.project, "prefix": self.prefix, "label": self.label,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class Verified:
    """A token that checked out: the project it may upload to."""

    token_id: int
    project_id: int
    project: str


def hash_token(token: str) -> str:
    """Return the hex SHA-256 stored for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine: Engine, project: str, label: str | None = None) -> tuple[TokenInfo, str]:
    """Create a token for ``project`` (creating the project if new); return its info and the secret."""
    check_name("project", project, "--project")  # refused before the database, not by it
    label = clip(label, LABEL_CHARS)
    ensure_schema(engine)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(engine) as session:
        proj = get_or_create_project(session, project)
        row = UploadToken(project_id=proj.id, token_hash=hash_token(secret), prefix=secret[:SHOWN_CHARS],
                          label=label, created_at=datetime.now(UTC))
        session.add(row)
        session.flush()
        return _info(row, proj.name), secret


def list_tokens(engine: Engine, project: str | None = None, *,
                include_revoked: bool = True) -> list[TokenInfo]:
    """Return the tokens (of ``project`` if given), oldest first."""
    ensure_schema(engine)
    query = select(UploadToken, Project.name).join(Project).order_by(UploadToken.id)
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
        query = select(UploadToken, Project.name).join(Project)
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
    """Return the project a valid, unrevoked ``token`` uploads to, else None."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    with Session(engine) as session:
        found = session.execute(
            select(UploadToken.id, UploadToken.token_hash, UploadToken.revoked_at, UploadToken.last_used_at,
                   Project.id, Project.name)
            .join(Project).where(UploadToken.token_hash == digest)
        ).first()
    # The lookup is by digest, so timing reveals nothing about the secret; compare in constant time anyway.
    if found is None or not hmac.compare_digest(found[1], digest) or found[2] is not None:
        return None
    token_id, last_used = found[0], found[3]
    now = datetime.now(UTC)
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        with write_transaction(engine) as session:
            session.execute(update(UploadToken).where(UploadToken.id == token_id).values(last_used_at=now))
    return Verified(token_id=token_id, project_id=found[4], project=found[5])


def _info(row: UploadToken, project: str) -> TokenInfo:
    return TokenInfo(id=row.id, project=project, prefix=row.prefix, label=row.label,
                     created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at)
