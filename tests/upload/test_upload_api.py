"""The upload API through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from upload_helpers import GOOD, RERUNS, TRUNCATED, XXE, gzip_bomb, result_count, stored_runs, variant

from dashboard.analysis.freshness import analysis_status
from dashboard.worker import run_once
from ingest.models import Project, UploadToken
from ingest.tokens import create_token, revoke_token


@pytest.fixture
def shop_token(engine) -> str:
    return create_token(engine, "shop", "ci")[1]


def post(client, token: str | None, files: list[tuple[bytes, str]], project: str = "shop", **fields):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = {"file": [(io.BytesIO(body), name) for body, name in files], **fields}
    return client.post(f"/api/v1/projects/{project}/runs", data=data, headers=headers,
                       content_type="multipart/form-data")


def test_upload_creates_a_run_with_the_form_metadata(client, engine, shop_token):
    resp = post(client, shop_token, [(GOOD.read_bytes(), "junit.xml")], suite="unit", branch="main",
                commit="abc123", build_id="77", build_url="https://ci.example/77",
                started_at="2026-03-02T10:00:00Z")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["duplicate"] is False
    assert (body["project"], body["suite"], body["tests"], body["failed"]) == ("shop", "unit", 10, 2)
    assert body["started_at"].startswith("2026-03-02T10:00:00")
    assert body["url"].endswith(f"/projects/shop/runs/{body['run_id']}")
    assert [r[0] for r in stored_runs(engine)] == [body["run_id"]]


def test_repeat_of_the_same_content_answers_200_with_the_same_run(client, engine, shop_token):
    first = post(client, shop_token, [(GOOD.read_bytes(), "junit.xml")], suite="unit")
    # The retry arrives gzipped: the identity is the content, not the transfer encoding.
    again = post(client, shop_token, [(gzip.compress(GOOD.read_bytes()), "junit.xml.gz")], suite="unit")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["duplicate"] is True
    assert again.get_json()["run_id"] == first.get_json()["run_id"]
    assert len(stored_runs(engine)) == 1


def test_several_file_parts_are_one_run(client, engine, shop_token):
    resp = post(client, shop_token, [(GOOD.read_bytes(), "shard1.xml"), (RERUNS.read_bytes(), "shard2.xml")])
    assert resp.status_code == 201
    assert resp.get_json()["files"] == 2
    assert len(stored_runs(engine)) == 1


def test_missing_or_wrong_token_is_refused_with_401(client, engine, shop_token):
    for token in (None, "sh_not-a-real-token", "Basic dXNlcjpwYXNz", shop_token + "x"):
        resp = post(client, token, [(GOOD.read_bytes(), "junit.xml")])
        assert resp.status_code == 401, token
        assert "token" in resp.get_json()["error"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored_runs(engine) == []


def test_revoked_token_is_refused_with_401(client, engine, shop_token):
    revoke_token(engine, shop_token[:8])
    assert post(client, shop_token, [(GOOD.read_bytes(), "junit.xml")]).status_code == 401
    assert stored_runs(engine) == []


def test_another_projects_token_is_refused_with_403(client, engine, shop_token):
    other = create_token(engine, "billing")[1]
    resp = post(client, other, [(GOOD.read_bytes(), "junit.xml")], project="shop")
    assert resp.status_code == 403
    assert "billing" in resp.get_json()["error"]
    assert stored_runs(engine) == []


def test_project_names_with_a_slash_upload_when_url_encoded(client, engine):
    token = create_token(engine, "acme/shop")[1]
    resp = post(client, token, [(GOOD.read_bytes(), "junit.xml")], project="acme%2Fshop")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["project"] == "acme/shop"


UNREADABLE = [
    (TRUNCATED.read_bytes(), "invalid XML"),
    (XXE.read_bytes(), "DOCTYPE"),
    (b"this is not a test report\n", "not a report format"),
    (b"", "empty"),
    (gzip.compress(GOOD.read_bytes())[:-40], "decompress"),
]


def test_unreadable_report_is_refused_naming_the_file_and_nothing_is_stored(client, engine, shop_token):
    for body, problem in UNREADABLE:
        # The good shard in the same request is not stored either: one request is one run.
        resp = post(client, shop_token, [(GOOD.read_bytes(), "fine.xml"), (body, "broken-report.xml")])
        assert resp.status_code in (400, 422), problem
        error = resp.get_json()["error"]
        assert "broken-report.xml" in error and problem in error, error
    assert stored_runs(engine) == [] and result_count(engine) == 0


def test_request_without_file_parts_is_a_400(client, engine, shop_token):
    resp = client.post("/api/v1/projects/shop/runs", data={"suite": "unit"},
                       headers={"Authorization": f"Bearer {shop_token}"}, content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "file" in resp.get_json()["error"]


def test_bad_started_at_is_a_400_and_nothing_is_stored(client, engine, shop_token):
    resp = post(client, shop_token, [(GOOD.read_bytes(), "junit.xml")], started_at="yesterday")
    assert resp.status_code == 400
    assert "started" in resp.get_json()["error"]
    assert stored_runs(engine) == []


def test_gzip_bomb_is_refused_with_413_after_bounded_expansion(small_client, engine, shop_token):
    bomb = gzip_bomb(50 * 1024 * 1024)
    assert len(bomb) < 64 * 1024  # small on the wire; only expansion reveals it
    resp = post(small_client, shop_token, [(bomb, "bomb.xml.gz")])
    assert resp.status_code == 413
    assert "bomb.xml.gz" in resp.get_json()["error"]
    assert stored_runs(engine) == []


def test_oversized_body_is_refused_with_413(small_client, engine, shop_token):
    big = GOOD.read_bytes() + b"<!--" + b"x" * (2 * 1024 * 1024) + b"-->"
    resp = post(small_client, shop_token, [(big, "big.xml")])
    assert resp.status_code == 413
    assert stored_runs(engine) == []


def test_oversized_plain_part_within_the_body_limit_is_refused_with_413(small_client, engine, shop_token):
    big = GOOD.read_bytes() + b"<!--" + b"x" * (200 * 1024) + b"-->"  # over 64 KiB, under the 1 MiB slack
    resp = post(small_client, shop_token, [(big, "big.xml")])
    assert resp.status_code == 413
    assert "big.xml" in resp.get_json()["error"]
    assert stored_runs(engine) == []


def test_token_use_is_recorded_and_only_the_hash_is_stored(client, engine, shop_token):
    assert post(client, shop_token, [(variant(1), "junit.xml")]).status_code == 201
    with Session(engine) as session:
        row = session.query(UploadToken).one()
        assert row.last_used_at is not None
        assert shop_token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64


def test_openapi_document_describes_every_api_endpoint(sqlite_app):
    doc = sqlite_app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for path in ["/api/v1/projects", "/api/v1/projects/{project}", "/api/v1/projects/{project}/runs",
                 "/api/v1/projects/{project}/runs/{run_id}", "/api/v1/projects/{project}/tests",
                 "/api/v1/projects/{project}/pyramid", "/api/v1/projects/{project}/budget",
                 "/api/v1/projects/{project}/flaky", "/api/v1/projects/{project}/suspects",
                 "/api/v1/projects/{project}/weekly", "/api/v1/openapi.json"]:
        assert "get" in paths[path], path
    upload = paths["/api/v1/projects/{project}/runs"]["post"]
    assert set(upload["responses"]) == {"200", "201", "400", "401", "403", "404", "413", "422", "503"}
    # Every $ref resolves inside the document.
    refs = _refs(doc)
    assert refs
    for ref in refs:
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def test_openapi_lists_every_api_rule_the_app_serves(sqlite_app):
    app = sqlite_app
    doc_paths = set(_openapi_paths(app))
    served = {rule.rule.replace("<path:project>", "{project}").replace("<project>", "{project}")
              .replace("<int:run_id>", "{run_id}") for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1")}
    assert served <= doc_paths, served - doc_paths


def _openapi_paths(app):
    from dashboard.openapi import openapi_document

    return openapi_document()["paths"].keys()


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        for value in node.values():
            found += _refs(value)
        return found
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_an_upload_leaves_the_analysis_to_the_worker_which_finds_the_new_runs(client, engine, shop_token):
    first = post(client, shop_token, [(variant(1), "junit.xml")]).get_json()
    second = post(client, shop_token, [(variant(2), "junit.xml")]).get_json()
    assert first["run_id"] != second["run_id"]
    with Session(engine) as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "shop"))
        assert analysis_status(session, project_id).runs_behind == 2  # the request analysed nothing
    refreshed = run_once(engine)
    assert [r.run_ids for r in refreshed if r.run_ids] == [(first["run_id"], second["run_id"])]
    with Session(engine) as session:
        assert analysis_status(session, project_id).up_to_date


@pytest.mark.parametrize("sent", ["../../etc/my-report.xml", "my-report.xml"])
def test_a_refused_part_is_named_by_the_base_of_the_name_it_was_sent_under(client, shop_token, sent):
    resp = post(client, shop_token, [(TRUNCATED.read_bytes(), sent)])
    assert resp.status_code == 422
    assert resp.get_json()["error"].startswith("my-report.xml:11:22: invalid XML")
