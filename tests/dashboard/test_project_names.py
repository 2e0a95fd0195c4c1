"""Project names as CI gives them ("owner/repo") work on every page and JSON twin."""

from __future__ import annotations

import re

import pytest

from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

PAGES = ["", "/runs", "/runs/{run}", "/tests?nodeid=tests/test_a.py::test_x", "/pyramid", "/budget",
         "/flaky", "/suspects", "/weekly"]


@pytest.fixture
def slash_project(engine):
    run_ids = []
    for i in range(3):
        summary = store_cases(engine, RunMeta(project="acme/shop", suite="unit"), [
            CaseRecord("tests/test_a.py::test_x", "passed" if i else "failed", duration_s=1.0),
            CaseRecord("tests/test_a.py::test_y", "passed", duration_s=0.5),
        ], content_hash=f"h{i}")
        run_ids.append(summary.run_id)
    return run_ids


def test_a_project_name_with_a_slash_serves_every_page_and_twin(client, slash_project):
    for path in PAGES:
        path = path.format(run=slash_project[0])
        page = client.get("/projects/acme/shop" + path)
        assert page.status_code == 200, path
        twin = client.get("/api/v1/projects/acme/shop" + path)
        assert twin.status_code == 200, path
        assert twin.is_json


def test_links_to_a_slash_project_lead_back_to_it(client, slash_project):
    body = client.get("/").get_data(as_text=True)
    links = set(re.findall(r'href="(/projects/[^"?#]*)"', body))
    assert "/projects/acme/shop" in links
    for link in links:
        assert client.get(link).status_code == 200, link


def test_an_encoded_slash_reaches_the_same_project(client, slash_project):
    assert client.get("/api/v1/projects/acme%2Fshop/runs").get_json()["runs"][0]["suite"] == "unit"
