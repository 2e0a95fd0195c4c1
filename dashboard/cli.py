"""The console script: ingest's click group plus the web-facing commands (serve, worker, demo, report).

Each command is registered here explicitly. Their modules import only click and the ingest
library at the top; Flask, pandas, scipy and plotly are imported when a command runs, so that
``suitehealth --help``, ``ingest`` and ``upload`` start as fast as the library allows.
"""

from __future__ import annotations

import sys

from dashboard.cli_answers import flaky, suspects
from dashboard.cli_confirm import confirm
from dashboard.cli_demo import demo
from dashboard.cli_quarantine import quarantine
from dashboard.cli_report import report
from dashboard.cli_serve import serve
from dashboard.cli_worker import worker
from ingest import cli as ingest_cli
from ingest.cli import main
from ingest.cli_history import export_history, import_history

main.add_command(serve)
main.add_command(worker)
main.add_command(demo)
main.add_command(report)
main.add_command(confirm)
main.add_command(quarantine)
main.add_command(flaky)
main.add_command(suspects)
main.add_command(export_history)
main.add_command(import_history)


def _stored_run_verdicts(engine, project: str, run_id: int) -> dict:
    # Imported when `ingest --fail-on/--summary` runs: the analyses are heavy (scipy, pandas).
    from dashboard.analysis.run_verdicts import stored_run_verdicts

    return stored_run_verdicts(engine, project, run_id)


ingest_cli.run_verdicts_provider = _stored_run_verdicts

__all__ = ["main"]

if __name__ == "__main__":  # `python -m dashboard.cli`, how serve starts its worker
    sys.exit(main())
