"""Sandbox fixtures: every backend behind one parametrized ``sandbox_session`` fixture.

A backend joins the contract suite (``test_contract.py``) by adding a ``BackendSpec`` to ``BACKENDS``:
how to build a started sandbox from settings, how to kill a session's runner from outside (for the crash
test), and the pytest marks its tests need (e.g. ``pytest.mark.docker``).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulator.config import Settings
from emulator.sandbox.base import Sandbox, SandboxSession
from emulator.sandbox.restricted import RestrictedSandbox, RestrictedSession

#: settings every backend runs the contract with: small caps and a short timeout keep the suite fast
CONTRACT_SETTINGS: dict[str, Any] = {"exec_timeout": 10.0, "output_limit_bytes": 4096}


@dataclass(frozen=True)
class BackendSpec:
    #: a started sandbox for these settings (may skip or fail when its prerequisites are missing)
    make: Callable[[Settings], Awaitable[Sandbox]]
    #: kill the session's runner from outside while it runs ``time.sleep`` in the cell the test sent;
    #: returns once the kill is done
    kill_runner: Callable[[SandboxSession], Awaitable[None]]
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


async def _make_restricted(settings: Settings) -> Sandbox:
    sandbox = RestrictedSandbox(settings)
    await sandbox.start()
    return sandbox


async def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` (a condition, not a fixed delay) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def runner_is_sleeping(pid: int) -> bool:
    """The runner's main thread sits in ``time.sleep`` (Linux: the kernel's wait channel says so)."""
    try:
        return "nanosleep" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


async def _kill_restricted(session: SandboxSession) -> None:
    assert isinstance(session, RestrictedSession) and session.pid is not None
    pid = session.pid
    await wait_until(lambda: runner_is_sleeping(pid), what="the runner to start sleeping")
    os.kill(pid, signal.SIGKILL)


async def _make_docker(settings: Settings) -> Sandbox:
    from emulator.sandbox.docker import DockerSandbox
    from tests.conftest import docker_engine_or_fail

    docker_engine_or_fail()  # fails under CI=true without an engine, skips elsewhere
    sandbox = DockerSandbox(settings.model_copy(update={"docker_pool_size": 1}))
    await sandbox.start()
    return sandbox


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def _kill_docker(session: SandboxSession) -> None:
    """SIGKILL the runner (the child of the container's init) from the host, like the OOM killer would."""
    import docker

    from emulator.sandbox.docker import DockerSession

    assert isinstance(session, DockerSession) and session.container_id is not None
    client = docker.from_env()
    try:
        init_pid = client.api.inspect_container(session.container_id)["State"]["Pid"]
    finally:
        client.close()
    await wait_until(lambda: bool(_children(init_pid)), what="the container's runner process")
    runner_pid = _children(init_pid)[0]
    await wait_until(lambda: runner_is_sleeping(runner_pid), what="the runner to start sleeping")
    os.kill(runner_pid, signal.SIGKILL)


BACKENDS: dict[str, BackendSpec] = {
    "restricted": BackendSpec(make=_make_restricted, kill_runner=_kill_restricted),
    "docker": BackendSpec(make=_make_docker, kill_runner=_kill_docker, marks=(pytest.mark.docker,)),
}


@pytest.fixture(params=[pytest.param(name, marks=spec.marks) for name, spec in BACKENDS.items()])
def backend(request: pytest.FixtureRequest) -> BackendSpec:
    return BACKENDS[request.param]


@pytest.fixture
async def sandbox(backend: BackendSpec) -> AsyncIterator[Sandbox]:
    started = await backend.make(Settings(**CONTRACT_SETTINGS))
    try:
        yield started
    finally:
        await started.aclose()


@pytest.fixture
async def sandbox_session(sandbox: Sandbox) -> AsyncIterator[SandboxSession]:
    session = await sandbox.open("contract-test")
    try:
        yield session
    finally:
        await session.close()
