"""The console script: ingest's click group plus the web-facing commands (serve, demo, report)."""

from __future__ import annotations

from ingest.cli import main


def _register() -> None:
    from dashboard import cli_demo, cli_report, cli_serve  # noqa: F401  (they attach commands to ``main``)


_register()

__all__ = ["main"]
