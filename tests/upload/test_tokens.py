"""`suitehealth token create|list|revoke` and the token library, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ingest.models import Project, UploadToken
from ingest.tokens import hash_token, verify_token


def test_token_create_prints_the_token_last_and_creates_the_project(cli, engine):
    result = cli("token", "create", "--project", "shop", "--label", "github")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("sh_") and len(token) > 40
    with Session(engine) as session:
        row = session.scalars(select(UploadToken)).one()
        assert row.token_hash == hash_token(token)  # only the hash is kept
        assert session.scalars(select(Project.name)).all() == ["shop"]
    verified = verify_token(engine, token)
    assert verified is not None and verified.project == "shop"


def test_token_list_shows_prefix_and_label_but_never_the_secret(cli):
    token = cli("token", "create", "--project", "shop", "--label", "gitlab").output.strip().splitlines()[-1]
    listing = cli("token", "list", "--project", "shop")
    assert listing.exit_code == 0
    assert token[:10] in listing.output and "gitlab" in listing.output and "active" in listing.output
    assert token not in listing.output
    as_json = json.loads(cli("token", "list", "--json").output)
    rows = [(t["project"], t["label"], t["revoked_at"]) for t in as_json["tokens"]]
    assert rows == [("shop", "gitlab", None)]


def test_revoked_token_no_longer_verifies(cli, engine):
    first = cli("token", "create", "--project", "shop").output.strip().splitlines()[-1]
    second = cli("token", "create", "--project", "shop").output.strip().splitlines()[-1]
    result = cli("token", "revoke", first[:10])
    assert result.exit_code == 0 and "Revoked" in result.output
    assert verify_token(engine, first) is None
    assert verify_token(engine, second) is not None
    by_id = cli("token", "revoke", "2")
    assert by_id.exit_code == 0
    assert verify_token(engine, second) is None
    assert "revoked" in cli("token", "list").output


def test_revoke_refuses_unknown_short_and_ambiguous_identifiers(cli, engine):
    cli("token", "create", "--project", "shop")
    cli("token", "create", "--project", "shop")
    unknown = cli("token", "revoke", "sh_nothing")
    assert unknown.exit_code == 1 and "no token matches" in unknown.output
    too_short = cli("token", "revoke", "sh_")  # every token starts so
    assert too_short.exit_code == 1 and "at least 4" in too_short.output
    # Shown prefixes are random; make two collide to see the refusal.
    with Session(engine) as session, session.begin():
        session.execute(update(UploadToken).values(prefix="sh_same123"))
    ambiguous = cli("token", "revoke", "sh_same")
    assert ambiguous.exit_code == 1 and "several" in ambiguous.output
    assert verify_token(engine, "sh_same") is None


def test_list_without_tokens_tells_how_to_create_one(cli):
    result = cli("token", "list")
    assert result.exit_code == 0
    assert "suitehealth token create" in result.output


def test_verify_refuses_empty_and_absurd_tokens(engine):
    assert verify_token(engine, None) is None
    assert verify_token(engine, "") is None
    assert verify_token(engine, "x" * 10_000) is None
