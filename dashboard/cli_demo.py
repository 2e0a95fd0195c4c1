"""Commands attached to the suitehealth group (being written)."""

from __future__ import annotations

from ingest.cli import main  # noqa: F401
