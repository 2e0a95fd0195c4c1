"""``suitehealth token ...`` and ``suitehealth upload``: CI upload commands."""

from __future__ import annotations

from ingest.cli import main  # noqa: F401  (commands are attached to this group)
