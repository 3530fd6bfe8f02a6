"""Which sandbox `emulator serve` picks: auto falls back loudly without an engine; docker refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from emulator.app import StartupError, start_sandbox
from emulator.config import Settings
from emulator.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def serve(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    return subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "serve", *args],
        cwd=ROOT,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_auto_without_engine_falls_back_to_restricted_and_says_so() -> None:
    port = free_port()
    process = serve("--sandbox", "auto", "--port", str(port), env=NO_ENGINE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert health["sandbox"]["backend"] == "restricted"
        assert health["sandbox"]["isolation_tier"] == "process"
        assert "fell back" in health["sandbox"]["note"] and "no Docker engine" in health["sandbox"]["note"]
    finally:
        process.terminate()
        log, _ = process.communicate(timeout=30)
    assert "fell back to the process-tier restricted sandbox" in log


def test_docker_without_engine_refuses_to_start_with_a_clear_message() -> None:
    process = serve("--sandbox", "docker", "--port", str(free_port()), env=NO_ENGINE)
    log, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "--sandbox docker was requested but the Docker sandbox cannot start" in log
    assert "Traceback" not in log


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
async def test_docker_sandbox_that_cannot_start_falls_back_under_auto_and_refuses_under_docker() -> None:
    missing_runtime = {"docker_runtime": "no-such-runtime", "docker_pool_size": 0}
    sandbox, note = await start_sandbox(Settings(sandbox="auto", **missing_runtime))
    try:
        assert sandbox.backend == "restricted"
        assert "no-such-runtime" in note and "fell back" in note
    finally:
        await sandbox.aclose()
    with pytest.raises(StartupError, match="no-such-runtime"):
        await start_sandbox(Settings(sandbox="docker", **missing_runtime))
