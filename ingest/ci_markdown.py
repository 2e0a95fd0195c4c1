"""Markdown and shell text built from untrusted names (node ids, messages), for CI job summaries
and the CLI's ``--format md``. Standard library only: the pytest plugin uses it too.

Node ids and messages are data: in Markdown they sit in code spans or fenced blocks (never raw,
so ``<script>`` or ``[x](javascript:...)`` stay text), and in shell commands each one is a single
``shlex.quote``d argument. A node id that pytest would read as an option gets no command at all.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence

from ingest.quarantine_list import nodeid_problem

MAX_CELL = 300


def md_code(text: str | None, limit: int = MAX_CELL) -> str:
    """Return ``text`` as an inline code span that is safe inside a table cell."""
    if not text:
        return ""
    text = " ".join(str(text).split())[:limit].replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(text: str, lang: str = "") -> str:
    """Return ``text`` in a fenced code block whose fence no line of ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def md_text(text: str | None) -> str:
    """Return plain words with Markdown and HTML specials escaped (for reasons, suite names)."""
    if not text:
        return ""
    text = " ".join(str(text).split())[:MAX_CELL]
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~&])", r"\\\1", text)


def pytest_command(nodeids: Sequence[str]) -> str | None:
    """Return ``pytest -p no:randomly ID...`` with each id quoted, or None if an id is unsafe."""
    if not nodeids or any(nodeid_problem(n) for n in nodeids):
        return None
    return "pytest -p no:randomly " + " ".join(shlex.quote(n) for n in nodeids)


def reproduce_commands(kind: str, causes: Sequence[str], victim: str) -> list[str]:
    """Return the commands that should reproduce an interference locally (empty when unsafe)."""
    causes = list(causes[:12])
    if kind == "state-setter":
        alone, after = pytest_command([victim]), pytest_command([*causes[:1], victim])
        return [alone, after] if alone and after else []
    if kind == "concurrent":
        both = pytest_command([*causes[:1], victim])
        return [both.replace("pytest -p no:randomly", "pytest -p no:randomly -n 2", 1)] if both else []
    command = pytest_command([*causes, victim])
    return [command] if command else []


# How each kind of suspect relates to its victim, in words.
RELATION = {"state-setter": "fails unless {causes} runs first",
            "concurrent": "fails when it overlaps {causes}"}


def suspect_line(victim: str, causes: Sequence[str], kind: str, confidence: float) -> str:
    """Return one Markdown list item naming a suspect (node ids as code)."""
    named = ", ".join(md_code(c) for c in causes[:5])
    if len(causes) > 5:
        named += f" and {len(causes) - 5} more"
    relation = RELATION.get(kind, "fails after {causes}").format(causes=named)
    return f"- {md_code(victim)} {relation} ({md_text(kind)}, {confidence:.0%})"


def write_step_summary(markdown: str, echo) -> str:
    """Append ``markdown`` to $GITHUB_STEP_SUMMARY when it is set, else pass it to ``echo``.

    Returns where it went. A summary that cannot be written is reported, never fatal.
    """
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        echo(markdown)
        return "printed"
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")
    except OSError as exc:
        echo(f"suitehealth: cannot write $GITHUB_STEP_SUMMARY ({exc.strerror or exc}); the summary:")
        echo(markdown)
        return "printed"
    return path
