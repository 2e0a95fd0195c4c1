"""`suitehealth token create --read [--all-projects]`: read tokens beside the upload tokens, which keep
their flags and behaviour; migration 0004_signin keeps existing tokens as upload tokens (both backends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ingest.db import make_engine, upgrade
from ingest.models import UploadToken
from ingest.tokens import (
    READ,
    create_token,
    hash_token,
    session_check,
    session_reader,
    sign_in,
    verify_reader,
    verify_token,
)


def _last_line(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_a_read_token_reads_its_project_and_never_uploads(cli, engine):
    token = _last_line(cli("token", "create", "--project", "shop", "--read", "--label", "alice"))
    assert token.startswith("sh_")
    assert verify_token(engine, token) is None  # the upload check refuses it
    reader = verify_reader(engine, token)
    assert reader is not None and reader.project == "shop" and reader.access == "read"
    assert reader.may_read("shop") and not reader.may_read("other")


def test_a_read_token_for_every_project(cli, engine):
    result = cli("token", "create", "--read", "--all-projects", "--label", "lead")
    assert "every project" in result.output
    token = _last_line(result)
    reader = verify_reader(engine, token)
    assert reader is not None and reader.project is None
    assert reader.may_read("shop") and reader.may_read("anything")
    assert verify_token(engine, token) is None
    listing = cli("token", "list").output
    assert "(all projects)" in listing and "read-only" in listing and token not in listing
    rows = json.loads(cli("token", "list", "--json").output)["tokens"]
    assert [(t["project"], t["access"], t["all_projects"]) for t in rows] == [(None, "read", True)]
    revoked = cli("token", "revoke", token[:10])
    assert revoked.exit_code == 0 and "every project" in revoked.output
    assert verify_reader(engine, token) is None


def test_upload_tokens_keep_their_flags_and_also_read_their_project(cli, engine):
    token = _last_line(cli("token", "create", "--project", "shop", "--label", "ci"))
    verified = verify_token(engine, token)
    assert verified is not None and verified.project == "shop"
    reader = verify_reader(engine, token)
    assert reader is not None and reader.access == "upload" and reader.project == "shop"
    listing = cli("token", "list", "--project", "shop").output
    assert "active" in listing and "read-only" not in listing
    rows = json.loads(cli("token", "list", "--json").output)["tokens"]
    assert rows[0]["access"] == "upload" and rows[0]["project"] == "shop"


@pytest.mark.parametrize("args,message", [
    ((), "Missing option '--project'"),
    (("--label", "x"), "Missing option '--project'"),
    (("--all-projects",), "--all-projects is for read tokens"),
    (("--project", "shop", "--all-projects"), "--all-projects is for read tokens"),
    (("--project", "shop", "--read", "--all-projects"), "not both"),
])
def test_token_create_refuses_unclear_requests(cli, engine, args, message):
    result = cli("token", "create", *args)
    assert result.exit_code == 2 and message in result.output
    with Session(engine) as session:
        assert session.query(UploadToken).count() == 0


def test_the_library_refuses_an_upload_token_without_a_project(engine):
    with pytest.raises(ValueError, match="one project"):
        create_token(engine, None)
    with pytest.raises(ValueError, match="access"):
        create_token(engine, "shop", access="admin")


def test_sessions_follow_the_token(engine):
    _, secret = create_token(engine, "shop", access=READ)
    reader, check = sign_in(engine, secret)
    assert check == session_check(hash_token(secret)) and secret not in check
    assert session_reader(engine, reader.token_id, check) == reader
    assert session_reader(engine, reader.token_id, "0" * 32) is None
    assert session_reader(engine, str(reader.token_id), check) is None  # only what sign_in stored
    assert session_reader(engine, True, check) is None
    assert session_reader(engine, 10**6, check) is None
    from ingest.tokens import revoke_token

    revoke_token(engine, str(reader.token_id))
    assert session_reader(engine, reader.token_id, check) is None
    assert sign_in(engine, secret) is None


def test_migration_keeps_existing_tokens_as_upload_tokens(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0003_action")
        secret = "sh_" + "z" * 43
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO projects (name, created_at) VALUES ('shop', :now)"),
                         {"now": datetime.now(UTC).replace(tzinfo=None)})
            conn.execute(text("INSERT INTO upload_tokens (project_id, token_hash, prefix, created_at) "
                              "SELECT id, :h, 'sh_zzzzzzz', :now FROM projects"),
                         {"h": hash_token(secret), "now": datetime.now(UTC).replace(tzinfo=None)})
        upgrade(engine)  # to head: 0004_signin
        verified = verify_token(engine, secret)
        assert verified is not None and verified.project == "shop"
        # Downgrading drops the read tokens (they would otherwise become upload tokens) and keeps the rest.
        create_token(engine, "shop", access=READ)
        create_token(engine, None, access=READ)
        from alembic import command

        from ingest.db import alembic_config

        command.downgrade(alembic_config(engine), "0003_action")
        with engine.connect() as conn:
            kept = conn.execute(text("SELECT token_hash FROM upload_tokens")).scalars().all()
        assert kept == [hash_token(secret)]
    finally:
        engine.dispose()
