"""One line that adds up: a run's outcome counts as the CLI, the upload client and CI summaries print them."""

from __future__ import annotations

from collections.abc import Mapping

# Every final outcome a run counts; together they add up to ``tests``.
OUTCOME_FIELDS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")


def outcome_line(counts: Mapping) -> str:
    """Return e.g. "10 tests: 6 passed, 2 failed, 0 errors, 1 skipped, 1 xfailed (+2 reruns)".

    passed/failed/errors/skipped are always shown; xfailed and xpassed when non-zero. If the parts
    ever fall short of the total, the rest is named ("1 other") rather than silently left out.
    """
    total = int(counts.get("tests") or 0)
    parts = {name: int(counts.get(name) or 0) for name in OUTCOME_FIELDS}
    shown = [f"{parts[name]} {name}" for name in OUTCOME_FIELDS
             if name in ("passed", "failed", "errors", "skipped") or parts[name]]
    rest = total - sum(parts.values())
    if rest:
        shown.append(f"{rest} other")
    line = f"{total} test{'' if total == 1 else 's'}: " + ", ".join(shown)
    reruns = int(counts.get("reruns") or 0)
    if reruns:
        line += f" (+{reruns} rerun{'' if reruns == 1 else 's'})"
    return line
