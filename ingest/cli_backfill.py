"""``suitehealth backfill``: bulk import of CI history from a JSONL manifest."""

from __future__ import annotations

from ingest.cli import main  # noqa: F401  (commands are attached to this group)
