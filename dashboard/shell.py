"""Shell commands for people to paste: every argument quoted, so a test name is only ever an argument.

Node ids come from CI, which means from anyone who can open a pull request; ``test_p[$(touch /tmp/x)]``
is a legal parametrize id. Every command suitehealth shows (reproduce commands, the weekly report
command) is built here and nowhere else.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

# Characters that POSIX single quotes would keep but a reader could not see or would misread:
# C0/C1 controls (a newline splits the command on screen) and the Unicode bidi overrides
# ("Trojan source": the command would display in another order than it runs).
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def quote(arg: str) -> str:
    """Quote one argument for POSIX shells (``shlex.quote``).

    An argument with invisible characters is written in ANSI-C quoting (``$'...'``, understood by
    bash, zsh, ksh and POSIX.1-2024 sh) so that it stays on one line and shows every character.
    """
    arg = str(arg)
    if not _INVISIBLE.search(arg):
        return shlex.quote(arg)
    out = []
    for ch in arg:
        if ch == "\\" or ch == "'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif _INVISIBLE.match(ch):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def command(*args: str | Iterable[str]) -> str:
    """Join arguments (strings, or iterables of strings) into one quoted command line."""
    flat: list[str] = []
    for arg in args:
        if isinstance(arg, str):
            flat.append(arg)
        else:
            flat.extend(arg)
    return " ".join(quote(a) for a in flat)
