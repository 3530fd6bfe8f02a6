"""Helpers shared by the docker sandbox tests (lifecycle here, attacks in tests/security)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import docker

from emulator.config import Settings
from emulator.sandbox.docker import DockerSandbox

#: short limits keep the docker tests quick; memory stays at the default so the OOM paths are the real ones
FAST: dict[str, Any] = {
    "sandbox": "docker",
    "exec_timeout": 5.0,
    "docker_pool_size": 1,
    "docker_acquire_timeout": 15.0,
    "docker_reap_interval": 60.0,
}


def docker_settings(**overrides: Any) -> Settings:
    return Settings(**{**FAST, **overrides})


@asynccontextmanager
async def started_sandbox(**overrides: Any) -> AsyncIterator[DockerSandbox]:
    sandbox = DockerSandbox(docker_settings(**overrides))
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.aclose()


def containers_of(instance: str) -> list[dict[str, Any]]:
    """Every container (running or not) labelled with this emulator instance."""
    client = docker.from_env()
    try:
        found: list[dict[str, Any]] = client.api.containers(
            all=True, filters={"label": f"emulator.instance={instance}"}
        )
        return found
    finally:
        client.close()


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.05)
