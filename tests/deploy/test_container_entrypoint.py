"""The Docker image's entrypoint and health check, run as processes (no Docker engine on CI machines).

The Dockerfile's CMD and HEALTHCHECK are read from the file itself, so what runs here is what the
image runs: the same argv, configured only through the environment, against a real database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
CONSTRAINTS = ROOT / "deploy" / "constraints.txt"


def _exec_form(instruction: str) -> list[str]:
    """The JSON argv after ``instruction`` (CMD or HEALTHCHECK … CMD), joined across line continuations."""
    text = DOCKERFILE.replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith(instruction))
    return json.loads(line[line.index("["):])


def _on_port(argv: list[str], port: int) -> list[str]:
    # The image listens on 8000; here a free port keeps parallel test runs apart.
    return [a.replace("8000", str(port)) for a in argv]


def _wait_healthy(url: str, proc: subprocess.Popen, attempts: int = 1200) -> None:
    # Generous: a cold start (imports, migrations) on a loaded 2-CPU machine can take a while.
    for _ in range(attempts):
        if proc.poll() is not None:
            pytest.fail("entrypoint exited:\n" + proc.stdout.read().decode(errors="replace"))
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail("entrypoint never answered /healthz")


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_image_command_migrates_a_new_database_and_serves_with_a_passing_healthcheck(db_url, tcp_port):
    port = tcp_port
    command = _on_port(_exec_form("CMD"), port)
    assert command[:2] == ["suitehealth", "serve"]  # not bare gunicorn: serve sets preload, timeouts, worker
    command[0] = shutil.which("suitehealth") or str(Path(sys.executable).parent / "suitehealth")
    env = {k: v for k, v in os.environ.items() if k != "SUITEHEALTH_AUTH"}  # the image sets no mode
    env["SUITEHEALTH_DATABASE_URL"] = db_url
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        # The image listens on 0.0.0.0, so sign-in is on by default: reading needs a read token.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/projects", timeout=10)
        assert refused.value.code == 401
        token = subprocess.run([command[0], "token", "create", "--read", "--all-projects"], env=env,
                               capture_output=True, text=True, check=True).stdout.split()[-1]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/projects",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.load(resp) == {"projects": []}  # a fresh, migrated, empty database
        check = _on_port(_exec_form("HEALTHCHECK"), port)
        assert check[0] == "python"
        healthy = subprocess.run([sys.executable, *check[1:]], capture_output=True, timeout=30)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        try:  # whatever of its process group is left (gunicorn workers, the analysis worker)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # Once the server is gone the same health check reports the container unhealthy.
    assert subprocess.run([sys.executable, *check[1:]], capture_output=True, timeout=30).returncode != 0


def test_base_image_and_every_runtime_dependency_are_pinned_to_what_the_tests_ran():
    base = re.search(r"^FROM (\S+)", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    assert "-c deploy/constraints.txt" in DOCKERFILE
    pins = [ln.split("==") for ln in CONSTRAINTS.read_text().splitlines() if ln and not ln.startswith("#")]
    assert pins and all(len(p) == 2 for p in pins)
    mismatched = []
    for name, pinned in pins:
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            mismatched.append((name, pinned, installed))
    assert mismatched == [], "deploy/constraints.txt differs from the tested environment"
    assert "USER suitehealth" in DOCKERFILE and "HEALTHCHECK" in DOCKERFILE


def test_every_compose_service_command_is_a_valid_suitehealth_invocation():
    """docker compose cannot run here; what it would run can be checked: each app service's argv
    parses as a suitehealth command line (click resolves every option without running it)."""
    import yaml
    from click.testing import CliRunner

    from dashboard.cli import main

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = {name: svc["command"] for name, svc in compose["services"].items()
                if svc.get("command") and svc["command"][0] == "suitehealth"}
    assert set(commands) == {"web", "worker"}
    for name, argv in commands.items():
        ctx = main.make_context("suitehealth", list(argv[1:]), resilient_parsing=False)
        sub = main.get_command(ctx, argv[1])
        assert sub is not None, name
        sub.make_context(argv[1], list(argv[2:]), parent=ctx)  # raises on an unknown option
        assert CliRunner().invoke(main, [*argv[1:], "--help"]).exit_code == 0, name
    assert "--no-worker" in commands["web"]
    assert compose["services"]["db"]["image"].startswith("postgres:")
    env = compose["x-app"]["environment"]
    assert env["SUITEHEALTH_DATABASE_URL"].startswith("postgresql+psycopg://")
