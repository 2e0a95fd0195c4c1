"""Every token-guarded operation of the OpenAPI document refuses a missing or wrong token with a 401,
and another project's token with a 403, and stores nothing (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.analysis_models import ConfirmVerdict
from ingest.tokens import create_token

BODY = {"victim": "t::a", "kind": "polluter", "verdict": "proven"}
BAD = [None, "Bearer", "Bearer sh_not-a-real-token", "Basic dXNlcjpwYXNz", "bearer  "]


def _guarded_operations(client) -> list[tuple[str, str]]:
    doc = client.get("/api/v1/openapi.json").get_json()
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op.get("security"):
                out.append((method.upper(), path.replace("{project}", "shop").replace("{run_id}", "1")))
    return out


def test_every_guarded_operation_refuses_missing_wrong_and_foreign_tokens(engine, client):
    create_token(engine, "shop")
    _, foreign = create_token(engine, "other")
    operations = _guarded_operations(client)
    assert len(operations) >= 4  # upload, run verdicts, confirm verdicts, quarantine export
    for method, path in operations:
        for header in BAD:
            headers = {"Authorization": header} if header is not None else {}
            resp = client.open(path, method=method, headers=headers, json=BODY)
            assert resp.status_code == 401, (method, path, header, resp.get_json())
            assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), (method, path)
        resp = client.open(path, method=method, headers={"Authorization": f"Bearer {foreign}"}, json=BODY)
        assert resp.status_code == 403, (method, path, resp.get_json())
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ConfirmVerdict)) == 0


@pytest.mark.parametrize("header", BAD)
def test_a_refused_upload_stores_nothing(engine, client, header):
    headers = {"Authorization": header} if header is not None else {}
    resp = client.post("/api/v1/projects/shop/runs", headers=headers,
                       data={"file": (__import__("io").BytesIO(b"<testsuite/>"), "junit.xml")})
    assert resp.status_code == 401
