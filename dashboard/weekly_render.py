"""Render a WeeklyReview as Markdown (chat, issues) or as one self-contained HTML file (mail, archive).

Both use absolute links (the base URL + the review's dashboard paths) so they work pasted anywhere.
The HTML shares the dashboard page's template but inlines every style and loads nothing.
"""

from __future__ import annotations

import re
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape

from dashboard.analysis.weekly import WeeklyReview, plural
from dashboard.filters import duration, percent, register, visible
from dashboard.urls import Urls
from dashboard.views.common import jsonable

_MD_SPECIAL = "\\`*_[]<>#|"
_BACKTICKS = re.compile("`+")


def review_json(review: WeeklyReview, base_url: str = "") -> dict:
    """The review as plain JSON values, plus the base URL its relative links resolve against."""
    return {"base_url": base_url or None, **jsonable(review)}


# ---- Markdown -------------------------------------------------------------------------------

def md_text(value) -> str:
    """Escape text for Markdown, table-safe: specials backslashed, newlines folded, bidi controls shown."""
    return _escape(" ".join(str(value).split()))


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in visible(text))


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def md_code(value) -> str:
    """A code span for node ids; ``|`` stays escaped so it cannot split a table cell.

    The span's fence is one backtick longer than the longest run of backticks in the text, so no
    node id (`` ` ``, ``` `` ```, ...) can close it early and turn the rest into live Markdown/HTML.
    """
    text = visible(" ".join(str(value).split())).replace("|", "\\|")
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(value) -> list[str]:
    """A fenced code block (lines kept as they are), its fence longer than any backtick run inside."""
    text = visible(str(value))
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return [fence, *text.splitlines(), fence]


def md_link(text: str, url: str) -> str:
    """A link whose text is already Markdown; parentheses and spaces in the URL are encoded."""
    return f"[{text}]({url.replace(' ', '%20').replace('(', '%28').replace(')', '%29')})"


def md_table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines + [""]


def _delta_pts(now, before) -> str:
    if now is None or before is None:
        return ""
    return f" ({(now - before) * 100:+.1f} pt)"


def render_markdown(review: WeeklyReview, base_url: str = "") -> str:
    """Return the review as GitHub-flavoured Markdown with absolute links."""
    r = review
    urls = Urls(base_url)
    url = urls.path
    test = lambda nodeid, path=None: md_link(  # noqa: E731
        md_code(nodeid), url(path) if path else urls.test(r.project, nodeid))
    out = [f"# Weekly review: {md_text(r.project)}, {r.week}", "",
           f"{r.week_start} to {r.week_end} (UTC) · "
           f"{md_link('open in the dashboard', url(r.links['review']))} · "
           f"previous: {md_link(r.previous_week, url(r.links['previous']))}"
           + ("" if r.complete else " · *this week is not over yet*"), ""]
    if r.empty:
        out += [f"No runs in {r.week}."]
        if r.latest_week_with_runs:
            out += [f"The latest runs are in {md_link(r.latest_week_with_runs, url(r.links['latest']))}."]
        return "\n".join(out) + "\n"

    out += [f"**{r.runs} runs** ({r.runs - r.runs_before:+d} on the week before), "
            f"**pass rate {percent(r.pass_rate)}**{_delta_pts(r.pass_rate, r.pass_rate_before)}, "
            f"{plural(r.red_runs, 'red run')}, {plural(r.reruns, 'rerun')} · "
            f"{md_link('runs', url(r.links['runs']))}", ""]

    out += ["## Recommended actions", ""]
    if r.actions:
        out += [f"{i}. **{md_link(_md_title(a.title, a.subject), url(a.link))}**: {md_text(a.evidence)}"
                for i, a in enumerate(r.actions, 1)]
    else:
        out += ["Nothing needs attention this week."]
    out += [""]

    out += ["## Suites: wall time against budget", ""]
    out += md_table(
        ["Suite", "Runs", "Pass rate", "Tests/run", "Median wall", "Budget", "Status", "Forecast breach",
         "Workers needed"],
        [[md_link(md_text(s.suite), url(s.link)), str(s.runs), percent(s.pass_rate) + _delta_pts(s.pass_rate,
          s.pass_rate_before), str(s.median_tests if s.median_tests is not None else "–"),
          duration(s.median_wall_s), duration(s.budget_s), md_text(s.status or "–"),
          s.forecast_breach_date or "–", str(s.workers_needed or "–")] for s in r.suites],
        right={1, 2, 3, 4, 5, 8})

    out += ["## Tests that got slower", ""]
    if r.slower_tests:
        out += md_table(["Test", "Before", "After", "Ratio", "Began"], [
            [test(t["nodeid"], t["link"]), duration(t["before_s"]), duration(t["after_s"]),
             f"{t['ratio']:.1f}×" if t["ratio"] else "–",
             md_link(f"run {t['began_run_id']}", url(t["run_link"])) if t["run_link"] else "–"]
            for t in r.slower_tests], right={1, 2, 3})
    elif r.slower_tests is not None:
        out += ["No test got slower this week.", ""]
    if r.slowest_tests:
        out += ["### Slowest tests", ""]
        out += md_table(["Test", "Median", "Runs", "Share of suite"], [
            [test(t["nodeid"], t["link"]), duration(t["median_s"]), str(t["runs"]),
             percent(t["share_of_suite"])]
            for t in r.slowest_tests], right={1, 2, 3})

    out += ["## Flakiness", ""]
    if r.new_flaky is not None:
        out += ["### New flaky tests", ""]
        if r.new_flaky:
            out += md_table(["Test", "Failures this week", "Failure rate", "Flip rate"], [
                [test(f["nodeid"], f["link"]), str(f["failures_this_week"]), percent(f["failure_rate"]),
                 percent(f["flip_rate"])] for f in r.new_flaky], right={1, 2, 3})
        else:
            out += ["No test became flaky this week.", ""]
        out += ["### No longer flaky", ""]
        out += [f"- {test(f['nodeid'], f['link'])}" for f in r.no_longer_flaky] or ["None this week."]
        out += ["", "### Broken tests", ""]
        if r.broken:
            out += md_table(["Test", "Since", "Failures in a row", "Message"], [
                [test(b["nodeid"], b["link"]) + (" **new**" if b["new"] else ""),
                 md_link(f"run {b['since_run_id']}", url(b["run_link"])) if b["run_link"] else "–",
                 str(b["consecutive_failures"]), md_text((b["message"] or "")[:120])]
                for b in r.broken], right={2})
        else:
            out += ["No broken tests.", ""]

    out += ["## New interference suspects", ""]
    if r.new_suspects:
        out += md_table(["Victim", "Likely cause", "Kind", "Confidence", "Victim failures this week"], [
            [test(s["victim"], s["link"]), _cause_md(s),
             md_text(_kind(s)), percent(s["confidence"]), str(s["victim_failures_this_week"])]
            for s in r.new_suspects],
            right={3, 4})
        for s in r.new_suspects:
            if s.get("reproduce"):
                out += [f"Reproduce {md_code(s['victim'])}:", "", *md_fence(s["reproduce"]), ""]
    elif r.new_suspects is not None:
        out += ["No new suspects this week.", ""]

    out += ["## Skip surges", ""]
    if r.skip_surges:
        for s in r.skip_surges:
            out += [f"- **\u201c{md_text(s.reason)}\u201d**: {s.tests} tests newly skipped "
                    f"({s.integration_tests} integration), {s.skipped_results} skipped results in "
                    f"{md_text(', '.join(s.suites))}"]
            out += [f"  - {test(t.nodeid)} ({t.level}, skipped {t.skipped} of {t.runs} runs)"
                    for t in s.examples]
            if s.tests > len(s.examples):
                out += [f"  - … and {s.tests - len(s.examples)} more"]
        out += [""]
    else:
        out += ["No tests started being skipped this week.", ""]
    if r.count_drops:
        out += ["### Suites whose test count dropped", ""]
        out += md_table(["Suite", "Tests/run before", "Now", "Missing since last week"], [
            [md_text(d.suite), str(d.before), str(d.after),
             ", ".join(md_code(m) for m in d.missing[:5]) + (f" … ({d.missing_total} in all)"
                                                              if d.missing_total > 5 else "")]
            for d in r.count_drops], right={1, 2})

    out += ["## Pyramid drift", ""]
    if r.pyramid:
        then, now = r.pyramid["then"], r.pyramid["now"]
        out += md_table(["Level", f"Share {then['week']}", f"Share {now['week']}", "Change"], [
            [md_text(d["level"]), percent(d["share_then"]), percent(d["share_now"]),
             f"{d['change'] * 100:+.1f} pt" if d["change"] is not None else "–"] for d in r.pyramid["drift"]],
            right={1, 2, 3})
        out += [f"Shape: {md_text(then.get('shape') or '–')} → {md_text(now.get('shape') or '–')} · "
                f"{md_link('pyramid', url(r.links['pyramid']))}", ""]
    return "\n".join(out).rstrip() + "\n"


def _md_title(title: str, subject: str | None) -> str:
    """The title as Markdown, its subject (a node id) as code so underscores and brackets survive."""
    if not subject or subject not in title:
        return md_text(title)
    before, _, after = title.partition(subject)
    return _escape(before) + md_code(subject) + _escape(after)


# ---- HTML -----------------------------------------------------------------------------------

_env: Environment | None = None


def _environment() -> Environment:
    """A Flask-free Jinja environment over the dashboard's templates (autoescaped)."""
    global _env
    if _env is None:
        env = Environment(loader=PackageLoader("dashboard", "templates"),
                          autoescape=select_autoescape(["html", "css"], default=True))
        register(env)
        _env = env
    return _env


def render_html(review: WeeklyReview, base_url: str = "") -> str:
    """Return one self-contained HTML document: inline CSS, no scripts, fonts or remote assets."""
    base_css = resources.files("dashboard").joinpath("static/style.css").read_text(encoding="utf-8")
    return _environment().get_template("weekly/standalone.html").render(
        r=review, urls=Urls(base_url), nav=True, base_css=base_css)


def _kind(s: dict) -> str:
    """'polluter · likely', or with the `suitehealth confirm` verdict: 'polluter · proven on …'."""
    if s.get("verdict"):
        return f"{s['kind']} · {s['verdict']['text']}"
    return f"{s['kind']} · {s['tier']}" if s.get("tier") else s["kind"]


def _cause_md(s: dict) -> str:
    """The suspected cause in a table cell: three tests, or for a last-writer group three modules."""
    if s.get("modules"):
        mods = s["modules"]
        more = f" and {len(mods) - 3} more" if len(mods) > 3 else ""
        return (", ".join(md_code(m) for m in mods[:3]) + more + " "
                + md_text(f"(last writer wins: {plural(len(mods), 'module')}, {len(s['polluters'])} tests)"))
    return ", ".join(md_code(p) for p in s["polluters"][:3])
