"""serve's analysis worker leaves when serve is gone, even if serve died while the worker was starting."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def test_a_worker_whose_parent_is_already_gone_exits_instead_of_running_on(sqlite_url):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    exe = shutil.which("suitehealth") or str(Path(sys.executable).parent / "suitehealth")
    env = {**os.environ, "SUITEHEALTH_DATABASE_URL": sqlite_url,
           "SUITEHEALTH_WORKER_PARENT_PID": str(gone.pid)}
    # The timeout only guards the test run against a hang; an orphan worker would never return.
    done = subprocess.run([exe, "worker", "--exit-with-parent", "--interval", "0.1"], env=env,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
