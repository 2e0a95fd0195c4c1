"""Normalise failure messages into signatures, so one flaky cause shows as one group."""

from __future__ import annotations

import hashlib
import re

# Order matters: strip the specific shapes (uuids, addresses, paths) before plain numbers.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<addr>"),
    (re.compile(r"(?:/private)?/(?:tmp|var/folders|var/tmp)/[^\s'\":,)\]]*"), "<tmp>"),
    (re.compile(r"[A-Za-z]:\\[^\s'\":]*\\(?:Temp|tmp)\\[^\s'\":,)\]]*", re.I), "<tmp>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"), "<n>"),
]
_SPACES = re.compile(r"\s+")
MAX_SIGNATURE = 300


def normalise(message: str | None) -> str:
    """Return ``message``'s first meaningful line with numbers, addresses, uuids and temp paths stripped."""
    if not message:
        return "(no message)"
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    for pattern, token in _RULES:
        line = pattern.sub(token, line)
    line = _SPACES.sub(" ", line).strip()
    return line[:MAX_SIGNATURE] or "(no message)"


def signature_hash(signature: str) -> str:
    """Return a short stable key for a normalised signature."""
    return hashlib.sha1(signature.encode()).hexdigest()[:16]
