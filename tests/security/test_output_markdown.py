"""The weekly Markdown cannot be broken out of: rendered by a real CommonMark renderer that lets raw HTML
through (as many chat and tracker renderers do), no name or message becomes a tag, a link or code that
ends early; bidi controls are spelled out.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt
from output_helpers import BIDI, WEEK, build_hostile_history
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.analysis.updates import refresh_project
from dashboard.analysis.weekly import weekly_review
from dashboard.analysis.weeks import parse_week
from dashboard.analysis.window import Window
from dashboard.weekly_render import md_code, md_fence, md_text, render_markdown
from ingest.models import Project

# HTML allowed through, GFM tables on: the most permissive common setting.
RENDERER = MarkdownIt("commonmark", {"html": True}).enable("table")
LIVE_TAG = re.compile(r"<(img|script|svg|iframe|a\s+href=\"javascript)", re.I)
RAW_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")

BREAKOUTS = [
    "t.py::x[`<img src=x onerror=alert(1)>`]",
    "t.py::x[``<img src=x onerror=alert(1)>``]",
    "t.py::x[```<img src=x onerror=alert(1)>```]",
    "t.py::x[````<img src=x onerror=alert(1)>` `` ```]",
    "`<img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)>`",
    "t.py::x[<script>alert(1)</script>]",
    "t.py::x[](javascript:alert(1))",
    "t.py::x[*bold* _it_ [l](javascript:alert(1)) <b>b</b> &lt;img src=x onerror=alert(1)&gt;]",
    "t.py::x[\n```\n<img src=x onerror=alert(1)>\n```\n]",
    "t.py::x[" + BIDI + "]",
]


@pytest.mark.parametrize("render", [md_code, md_text], ids=["code span", "text"])
def test_no_name_breaks_out_of_its_span(render):
    tried = passed = 0
    for payload in BREAKOUTS:
        out = RENDERER.render(f"before {render(payload)} after")
        tried += 1
        assert not LIVE_TAG.search(out), (payload, out)
        assert not RAW_BIDI.search(out) and "<a " not in out, (payload, out)
        # The text survives whole: one paragraph, everything between "before" and "after".
        assert out.count("<p>") == 1 and out.startswith("<p>before ") and out.endswith(" after</p>\n"), out
        if render is md_code:
            assert out.count("<code>") == 1, (payload, out)
        passed += 1
    print(f"markdown ({render.__name__}): {passed}/{tried} payloads stay in their span")


def test_a_fenced_block_holds_any_text():
    for payload in BREAKOUTS:
        out = RENDERER.render("\n".join([*md_fence(f"pytest {payload}"), "", "after"]))
        assert not LIVE_TAG.search(out), (payload, out)
        assert out.count("<pre>") == 1 and out.endswith("<p>after</p>\n"), out


def test_the_weekly_markdown_of_a_hostile_history_renders_without_live_html(engine, tmp_path):
    hostile = build_hostile_history(engine, str(tmp_path / "PWNED"))
    with Session(engine) as s:
        project = s.scalars(select(Project)).one()
        refresh_project(engine, project.id)
        review = weekly_review(s, project.id, Window.of_week(parse_week(WEEK)))
    markdown = render_markdown(review, "https://dash.example")
    out = RENDERER.render(markdown)
    assert not LIVE_TAG.search(out), LIVE_TAG.search(out)
    assert not RAW_BIDI.search(markdown) and "&lt;U+202E&gt;" in out
    # Every link goes to the dashboard.
    assert set(re.findall(r'<a href="(https?://[^/"]+)', out)) == {"https://dash.example"}
    assert hostile.nodeids["brittle"].split("[")[0] in out


def test_a_last_writer_group_names_hostile_modules_inside_its_table_cell_and_action():
    # A "last writer wins" group is shown by its modules (dashboard/analysis/last_writer.py); module
    # names are node ids from uploaded reports.
    from dashboard.analysis.weekly import _passes_only
    from dashboard.weekly_render import _cause_md

    for payload in BREAKOUTS:
        modules = [f"{payload}.py", "tests/test_ok.py", f"x{payload}.py", "tests/test_more.py"]
        suspect = {"modules": modules, "polluters": [f"{m}::test_a" for m in modules]}
        cell = RENDERER.render(f"| cause | kind |\n|---|---|\n| {_cause_md(suspect)} | state-setter |\n")
        assert not LIVE_TAG.search(cell) and not RAW_BIDI.search(cell), (payload, cell)
        assert cell.count("<tr>") == 2 and cell.count("<td>") == 2, (payload, cell)
        assert "and 1 more (last writer wins: 4 modules, 4 tests)" in cell
        action = RENDERER.render(f"1. **act**: {md_text(_passes_only(suspect))}")
        assert not LIVE_TAG.search(action) and not RAW_BIDI.search(action), (payload, action)
        assert "one of 4 modules (" in action
