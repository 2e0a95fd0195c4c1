"""The `suitehealth quarantine` contract, the page and its JSON twin, the token-guarded export:
every reader of the list sees the same set, and untrusted text stays text."""

from __future__ import annotations

import json

import pytest
from quarantine_helpers import QUARANTINED, SUITE, quarantine

from ingest.db import write_transaction
from ingest.store import get_or_create_project
from ingest.tokens import create_token

NODEID = "tests/test_cart.py::test_total[<b>EUR</b>]"


@pytest.fixture
def shop(engine):
    with write_transaction(engine) as session:
        get_or_create_project(session, "shop")
    return engine


def test_add_list_remove_and_history(cli, shop):
    added = cli("quarantine", "add", NODEID, "--project", "shop", "--suite", "unit",
                "--reason", "rounds <script>alert(1)</script>", "--by", "alice",
                "--evidence", "https://github.com/acme/shop/issues/12")
    assert added.exit_code == 0 and added.output == f"Quarantined {NODEID}.\n"
    again = cli("quarantine", "add", NODEID, "--project", "shop")
    assert again.output == f"{NODEID} was already quarantined.\n"
    listed = json.loads(cli("quarantine", "list", "--project", "shop", "--json").output)
    (entry,) = listed["tests"]
    assert entry == {**entry, "nodeid": NODEID, "suite": "unit", "reason": "rounds <script>alert(1)</script>",
                     "added_by": "alice", "url": "https://github.com/acme/shop/issues/12"}
    text = cli("quarantine", "list", "--project", "shop").output
    assert NODEID in text and "by alice" in text
    removed = cli("quarantine", "remove", NODEID, "--project", "shop", "--reason", "fixed", "--by", "bob")
    assert removed.exit_code == 0 and removed.output == f"Released {NODEID} from quarantine.\n"
    assert json.loads(cli("quarantine", "list", "--project", "shop", "--json").output)["tests"] == []
    gone = cli("quarantine", "remove", NODEID, "--project", "shop")
    assert gone.exit_code == 1 and "is not quarantined" in gone.output


@pytest.mark.parametrize("nodeid, message", [
    ("-p evil_plugin", "starts with '-'"),
    ("tests/a.py::test_a\n--deselect=tests", "control character"),
    ("   ", "empty"),
])
def test_node_ids_that_would_become_pytest_options_are_refused(cli, shop, nodeid, message):
    result = cli("quarantine", "add", "--project", "shop", "--", nodeid)
    assert result.exit_code == 1 and message in result.output


def test_an_evidence_link_must_be_http(cli, shop):
    result = cli("quarantine", "add", "tests/a.py::test_a", "--project", "shop",
                 "--evidence", "javascript:alert(1)")
    assert result.exit_code == 1 and "not an http(s) URL" in result.output


def test_unknown_project_is_an_error(cli, engine):
    result = cli("quarantine", "list", "--project", "nope")
    assert result.exit_code == 1 and "no project named 'nope'" in result.output


def test_export_formats_to_stdout_and_file(cli, shop, tmp_path):
    quarantine(shop, "shop", QUARANTINED)
    as_pytest = cli("quarantine", "export", "--project", "shop", "--format", "pytest").output
    assert as_pytest.splitlines() == sorted(QUARANTINED)
    deselect = cli("quarantine", "export", "--project", "shop", "--format", "deselect").output
    assert deselect.splitlines() == [f"--deselect={n}" for n in sorted(QUARANTINED)]
    out = tmp_path / "q.json"
    result = cli("quarantine", "export", "--project", "shop", "--format", "json", "-o", out)
    assert result.exit_code == 0 and result.output == ""
    doc = json.loads(out.read_text())
    assert (doc["format"], doc["version"], doc["project"]) == ("suitehealth-quarantine", 1, "shop")
    assert [t["nodeid"] for t in doc["tests"]] == sorted(QUARANTINED)
    # Without a base URL, the evidence is the dashboard path of the test.
    assert doc["tests"][0]["url"].startswith("/projects/shop/tests?nodeid=")


def test_every_reader_sees_the_same_set(cli, shop, client, pytester):
    """CLI list and export (3 formats), the page's JSON twin, the token endpoint and pytest itself."""
    quarantine(shop, "shop", QUARANTINED)
    expected = sorted(QUARANTINED)
    from_list = [t["nodeid"] for t in json.loads(
        cli("quarantine", "list", "--project", "shop", "--json").output)["tests"]]
    from_json = [t["nodeid"] for t in json.loads(
        cli("quarantine", "export", "--project", "shop", "--format", "json").output)["tests"]]
    from_pytest = cli("quarantine", "export", "--project", "shop", "--format", "pytest").output.splitlines()
    twin = client.get("/api/v1/projects/shop/quarantine").get_json()
    token = create_token(shop, "shop")[1]
    endpoint = client.post("/api/v1/projects/shop/quarantine/export",
                          headers={"Authorization": f"Bearer {token}"})
    assert endpoint.status_code == 200
    from_endpoint = [t["nodeid"] for t in endpoint.get_json()["tests"]]
    assert from_list == from_json == from_pytest == from_endpoint == expected
    assert [t["nodeid"] for t in twin["tests"]] == expected
    # pytest reads both argument files: the pytest one selects exactly the set, deselect the rest.
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "only.txt").write_text(cli("quarantine", "export", "--project", "shop", "--format",
                                                "pytest").output)
    (pytester.path / "rest.txt").write_text(cli("quarantine", "export", "--project", "shop", "--format",
                                                "deselect").output)
    only = pytester.runpytest("-p", "no:randomly", "--collect-only", "-q", "@only.txt")
    rest = pytester.runpytest("-p", "no:randomly", "--collect-only", "-q", "@rest.txt")
    collected = [line for line in only.stdout.lines if "::" in line]
    assert collected == ["test_suite.py::test_flaky_network", "test_suite.py::test_param[1]",
                         "test_suite.py::test_param[2]"]
    assert [line for line in rest.stdout.lines if "::" in line] == ["test_suite.py::test_stable",
                                                                    "test_suite.py::test_real_bug"]


def test_export_endpoint_needs_the_projects_token(client, shop):
    quarantine(shop, "shop", QUARANTINED)
    assert client.post("/api/v1/projects/shop/quarantine/export").status_code == 401
    other = create_token(shop, "other")[1]
    refused = client.post("/api/v1/projects/shop/quarantine/export",
                         headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 403 and "not 'shop'" in refused.get_json()["error"]


def test_page_lists_entries_and_history_with_untrusted_text_escaped(cli, shop, client):
    cli("quarantine", "add", NODEID, "--project", "shop", "--reason", "rounds <script>alert(1)</script>",
        "--by", "alice", "--evidence", "https://github.com/acme/shop/issues/12")
    cli("quarantine", "add", "tests/a.py::test_a", "--project", "shop", "--by", "bob")
    cli("quarantine", "remove", "tests/a.py::test_a", "--project", "shop", "--by", "carol",
        "--reason", "fixed")
    page = client.get("/projects/shop/quarantine")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>EUR</b>" not in html and "&lt;b&gt;EUR&lt;/b&gt;" in html
    assert 'href="https://github.com/acme/shop/issues/12"' in html
    data = client.get("/api/v1/projects/shop/quarantine").get_json()
    assert [t["nodeid"] for t in data["tests"]] == [NODEID]
    assert [(c["action"], c["actor"], c["nodeid"]) for c in data["history"]] == [
        ("removed", "carol", "tests/a.py::test_a"), ("added", "bob", "tests/a.py::test_a"),
        ("added", "alice", NODEID)]
    assert data["policy"]["auto_quarantine"] is False
    assert client.get("/api/v1/projects/nope/quarantine").status_code == 404
