"""One URL builder: templates write no /projects/ path by hand, and hostile names stay inside their link."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

import dashboard
from dashboard.urls import Urls, project_segment
from ingest.records import CaseRecord, RunMeta
from ingest.store import store_cases

TEMPLATES = Path(dashboard.__file__).parent / "templates"
HOSTILE_PROJECTS = ["acme/shop", "../../etc", "a/./b", "a//b", "x?y=1#z", "100% <b>\"q'</b> &amp;", "..",
                    "trailing/", "sp ace/\u202eevil"]
HOSTILE_NODEIDS = ["tests/a.py::test_x[a&b=c#d?e f]", "t.py::t[%2F..%2F]", "t.py::t[\"><script>x</script>]",
                   "t.py::t[+ +]", "t.py::t[\u202e\n]"]


def test_templates_write_no_dashboard_path_by_hand():
    hand_written = []
    for path in TEMPLATES.rglob("*.html"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r'(href|action|src)="/projects|url_for\(', line):
                hand_written.append(f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}")
    assert hand_written == []


@pytest.mark.parametrize("project", HOSTILE_PROJECTS)
@pytest.mark.parametrize("nodeid", HOSTILE_NODEIDS)
def test_a_hostile_project_and_nodeid_come_back_exactly_from_their_link(project, nodeid):
    link = Urls("https://health.example/base/").test(project, nodeid, since="2026-01-01")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc) == ("https", "health.example")
    assert parts.fragment == "" and not re.search(r"[\s<>\"'\x00-\x1f\u202e]", link)
    assert parts.path.startswith("/base/projects/") and parts.path.endswith("/tests")
    segments = parts.path.split("/")
    assert not {".", ".."} & set(segments) and "" not in segments[1:]
    # What the router gets after decoding is the name itself.
    assert unquote(parts.path[len("/base/projects/"):-len("/tests")]) == project
    assert parse_qs(parts.query) == {"nodeid": [nodeid], "since": ["2026-01-01"]}


def test_a_slash_project_keeps_readable_segments_and_a_dot_segment_is_encoded_whole():
    assert project_segment("acme/shop") == "acme/shop"
    assert project_segment("../x") == "..%2Fx"
    assert Urls().run("acme/shop", 7) == "/projects/acme/shop/runs/7"
    assert Urls().weekly("shop", "2026-W07") == "/projects/shop/weekly?week=2026-W07"
    assert Urls().budget("shop") == "/projects/shop/budget"
    assert Urls("http://h/").api("/projects") == "http://h/api/v1/projects"


@pytest.fixture
def hostile_projects(engine):
    for i, project in enumerate(HOSTILE_PROJECTS):
        for j in range(2):
            store_cases(engine, RunMeta(project=project, suite="unit"), [
                CaseRecord(HOSTILE_NODEIDS[0], "failed" if j else "passed", duration_s=1.0),
                CaseRecord(HOSTILE_NODEIDS[2], "passed", duration_s=0.5),
            ], content_hash=f"h{i}-{j}")
    return HOSTILE_PROJECTS


def test_every_link_on_a_hostile_projects_pages_reaches_that_project(client, hostile_projects):
    for project in hostile_projects:
        urls = Urls()
        for page in (urls.project(project), urls.runs(project), urls.test(project, HOSTILE_NODEIDS[0])):
            resp = client.get(page)
            assert resp.status_code == 200, (project, page)
            body = resp.get_data(as_text=True)
            links = {html.unescape(h) for h in re.findall(r'href="(/projects/[^"]*)"', body)}
            assert urls.test(project, HOSTILE_NODEIDS[0]) in links or page != urls.project(project)
            for link in links:
                twin = client.get("/api/v1" + link)
                assert twin.status_code == 200, (project, link)
                assert twin.get_json().get("project") == project, (project, link)
