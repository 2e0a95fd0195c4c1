"""Hostile uploads on both backends: absurd metadata is a 4xx or a clipped value, and gzip parts are
expanded once, within one budget for the whole request."""

from __future__ import annotations

import gzip
import io

import pytest
from input_helpers import pytest_json
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard import create_app
from ingest.models import Run
from ingest.records import RunMeta
from ingest.sources import ExpansionBudget, ReportSource, expand_to_file
from ingest.store import ingest_sources
from ingest.tokens import create_token

MB = 1 << 20


def _client(engine, **config):
    return create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), "TESTING": True,
                       "REFRESH_AFTER_UPLOAD": False, **config}).test_client()


def _post(client, token, files, project="shop", **fields):
    data = {"file": [(io.BytesIO(body), name) for body, name in files], **fields}
    return client.post(f"/api/v1/projects/{project}/runs", data=data, content_type="multipart/form-data",
                       headers={"Authorization": f"Bearer {token}"})


def _runs(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Run))


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"started_at": "9999-12-31T23:59:59-05:00"}, 400, "not between 1970 and tomorrow"),
    ({"started_at": "0001-01-01T00:00:00+14:00"}, 400, "not between 1970 and tomorrow"),
    ({"started_at": "yesterday"}, 400, "not an ISO 8601"),
    ({"commit": "c" * 80}, 400, "--commit is 80 characters long; at most 64"),
    ({"suite": "s" * 201}, 400, "--suite is 201 characters long"),
    ({"suite": "a\x00b"}, 400, "NUL"),
    ({"branch": "b" * 5000}, 400, "longer than 4096"),
])
def test_absurd_metadata_is_a_clear_4xx_and_nothing_is_stored(engine, fields, status, words):
    token = create_token(engine, "shop")[1]
    answer = _post(_client(engine), token, [(pytest_json(), "r.json")], **fields)
    assert answer.status_code == status, answer.get_json()
    assert words in answer.get_json()["error"]
    assert _runs(engine) == 0


def test_long_or_nul_descriptive_metadata_is_stored_clipped(engine):
    token = create_token(engine, "shop")[1]
    answer = _post(_client(engine), token, [(pytest_json(), "r.json")], branch="b" * 400,
                   build_url="https://ci/\x00", build_id="i" * 300)
    assert answer.status_code == 201, answer.get_json()
    with Session(engine) as session:
        run = session.scalars(select(Run)).one()
        assert (len(run.branch), run.branch[-1], run.build_url, len(run.build_id)) == (300, "…", "https://ci/␀",
                                                                                       200)


def test_gzip_parts_share_one_expansion_budget_per_request(engine):
    token = create_token(engine, "shop")[1]
    # 20 parts of ~40 KB gzip, each expanding to 3 MB: each is under the 4 MB per-report limit, but
    # together they are 60 MB. The request stops at the part that crosses the 8 MB budget.
    bomb = gzip.compress(pytest_json() + b" " * (3 * MB), 9)
    parts = [(bomb, f"part{i:02d}.json.gz") for i in range(20)]
    client = _client(engine, MAX_REPORT_BYTES=4 * MB, MAX_UPLOAD_EXPANDED_BYTES=8 * MB)
    answer = _post(client, token, parts)
    assert answer.status_code == 413
    error = answer.get_json()["error"]
    assert error.startswith("part02.json.gz: ")  # parts 0 and 1 fit (6 MB); part 2 crosses 8 MB
    assert "8,388,608 bytes for all of them together" in error
    assert _runs(engine) == 0
    # Two of them fit in the budget and are stored as one run.
    assert _post(client, token, parts[:2]).status_code == 201


def test_an_expanded_report_is_decompressed_once_and_its_hash_reused(engine, tmp_path):
    opened = []
    data = gzip.compress(pytest_json())

    def opener():
        opened.append(1)
        return io.BytesIO(data)

    plain = expand_to_file(ReportSource("r.json.gz", opener), tmp_path / "r.json", budget=ExpansionBudget(MB))
    summary = ingest_sources(engine, [plain], RunMeta(project="p"))
    assert opened == [1]
    # The hash is the decompressed content's: the same report uncompressed is the same run.
    again = ingest_sources(engine, [ReportSource.from_bytes("r.json", pytest_json())], RunMeta(project="p"))
    assert (again.duplicate, again.run_id) == (True, summary.run_id)
