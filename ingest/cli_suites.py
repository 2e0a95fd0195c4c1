"""``suitehealth suite ...``: per-suite settings such as the wall-time budget. (Being written.)"""

from __future__ import annotations

from ingest.cli import main  # noqa: F401  (commands are attached to this group)
