"""Run ``suitehealth worker`` as a child process beside the web server, restarting it if it dies.

A separate process, not a thread of a web worker: the analysis never competes with a request
for a gunicorn worker, and what it has to do is read from the database, so a restart resumes it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.db import ENV_VAR

log = logging.getLogger("suitehealth.serve")

# A worker that dies this soon after starting is not restarted at once (a bad URL, a full disk).
RESTART_BACKOFF_S = 5.0
STOP_TIMEOUT_S = 10.0


@contextmanager
def worker_beside(db_url: str) -> Iterator[None]:
    """Keep one analysis worker running on ``db_url`` while the block runs; stop it afterwards."""
    stopping = threading.Event()
    current: list[subprocess.Popen] = [_start(db_url)]

    def watch() -> None:
        while not stopping.wait(1.0):
            if current[0].poll() is None:
                continue
            # gunicorn's master reaps every child, ours too, so the exit status may be lost.
            log.warning("the analysis worker (pid %s) stopped; starting another", current[0].pid)
            if stopping.wait(RESTART_BACKOFF_S):
                return
            current[0] = _start(db_url)

    watchdog = threading.Thread(target=watch, name="suitehealth-worker-watchdog", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        stopping.set()
        watchdog.join()
        _stop(current[0])


def _start(db_url: str) -> subprocess.Popen:
    # The URL goes through the environment, not argv, so a password never shows in `ps`.
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "worker", "--exit-with-parent"],
        env={**os.environ, ENV_VAR: db_url, "SUITEHEALTH_WORKER_PARENT_PID": str(os.getpid())},
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # stuck in a long refresh: killing it loses nothing
        proc.kill()
        proc.wait()
