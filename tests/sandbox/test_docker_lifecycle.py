"""The docker backend's lifecycle on a real engine: hardening, labels, pool, exhaustion, resets, no leaks."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import docker
import pytest

from emulator.core.errors import SandboxUnavailable
from emulator.sandbox.containers import InstanceIdentity, container_options
from emulator.sandbox.docker import DockerSandbox, DockerSandboxError
from tests.sandbox.docker_support import containers_of, docker_settings, eventually, started_sandbox

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]


def inspect(container_name_or_id: str) -> dict[str, object]:
    client = docker.from_env()
    try:
        attrs: dict[str, object] = client.api.inspect_container(container_name_or_id)
        return attrs
    finally:
        client.close()


def session_containers(sandbox: DockerSandbox, session_id: str) -> list[dict[str, object]]:
    return [
        c for c in containers_of(sandbox.identity.instance) if c["Labels"]["emulator.session"] == session_id
    ]


async def test_session_container_is_hardened_and_labelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_TEST_SECRET", "do-not-leak")
    async with started_sandbox() as sandbox:
        session = await sandbox.open("conv-1")
        attrs = inspect(f"emulator-sbx-{session.id}")
        host, config = attrs["HostConfig"], attrs["Config"]
        assert isinstance(host, dict) and isinstance(config, dict)
        assert host["NetworkMode"] == "none"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Privileged"] is False
        assert host["PidsLimit"] == 64
        assert host["Memory"] == host["MemorySwap"] == 512 * 1024 * 1024
        assert host["NanoCpus"] == 1_000_000_000
        assert host["Init"] is True
        assert host["LogConfig"]["Type"] == "none"
        assert not host["Binds"] and not attrs["Mounts"]
        assert set(host["Tmpfs"]) == {"/workspace", "/tmp"}
        assert {u["Name"] for u in host["Ulimits"]} == {"nofile", "fsize", "core"}
        assert config["User"] == "10001:10001"
        assert not any("EMULATOR" in item or "do-not-leak" in item for item in config["Env"])
        labels = config["Labels"]
        assert labels["emulator.instance"] == sandbox.identity.instance
        assert labels["emulator.session"] == session.id
        assert labels["emulator.pid"] == str(sandbox.identity.pid)
        result = await session.run(
            "import os\n(os.getuid(), os.getcwd(), open('/workspace/f', 'w').write('x'))"
        )
        assert result.result == "(10001, '/workspace', 1)"


async def test_pool_prestarts_containers_and_refills_after_acquire() -> None:
    async with started_sandbox(docker_pool_size=2) as sandbox:
        await eventually(lambda: sandbox.pool.stats()["ready"] == 2, what="pool filled")
        session = await sandbox.open("conv-1")
        assert sandbox.pool.stats()["in_use"] == 1
        await eventually(lambda: sandbox.pool.stats()["ready"] == 2, what="pool refilled")
        assert (await session.run("6*7")).result == "42"
        assert len(containers_of(sandbox.identity.instance)) == 3


async def test_sessions_do_not_share_files_or_variables() -> None:
    async with started_sandbox(docker_pool_size=2) as sandbox:
        first, second = await sandbox.open("a"), await sandbox.open("b")
        await first.run("secret = 1\nopen('/workspace/a.txt', 'w').write('a')")
        result = await second.run("import os\n(os.listdir('/workspace'), 'secret' in globals())")
        assert result.result == "([], False)"


async def test_exhausted_pool_raises_sandbox_unavailable() -> None:
    async with started_sandbox(
        docker_pool_size=1, docker_max_containers=1, docker_acquire_timeout=1.0
    ) as sandbox:
        await sandbox.open("a")
        with pytest.raises(SandboxUnavailable) as caught:
            await sandbox.open("b")
        assert caught.value.status == 503 and caught.value.retry_after >= 1


async def test_closed_session_gives_its_container_back_and_a_waiter_gets_a_new_one() -> None:
    async with started_sandbox(docker_pool_size=1, docker_max_containers=1) as sandbox:
        first = await sandbox.open("a")
        first_id = first.id
        await first.close()
        second = await sandbox.open("b")
        assert (await second.run("1+1")).result == "2"
        await eventually(
            lambda: not session_containers(sandbox, first_id), what="closed session's container removed"
        )


async def test_aclose_removes_every_container_of_the_instance() -> None:
    sandbox = DockerSandbox(docker_settings(docker_pool_size=2))
    await sandbox.start()
    await sandbox.open("a")
    await sandbox.open("b")
    await eventually(lambda: len(containers_of(sandbox.identity.instance)) == 4, what="4 containers up")
    await sandbox.aclose()
    assert containers_of(sandbox.identity.instance) == []


async def test_start_reaps_containers_left_by_a_dead_emulator_process() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = InstanceIdentity.current("unused")
    ghost = InstanceIdentity("ghost-instance", dead.pid, "1", me.host)
    settings = docker_settings()
    probe = DockerSandbox(settings)
    await probe.start()
    image = probe.image
    await probe.aclose()
    assert image is not None
    client = docker.from_env()
    try:
        options = container_options(
            settings, image=image, name="emulator-sbx-ghost", labels=ghost.labels("ghost")
        )
        client.containers.create(**options)
        assert len(containers_of("ghost-instance")) == 1
        async with started_sandbox():
            assert containers_of("ghost-instance") == []
    finally:
        for leftover in containers_of("ghost-instance"):
            client.api.remove_container(leftover["Id"], force=True)
        client.close()


async def test_idle_session_past_ttl_is_closed_by_the_reaper() -> None:
    async with started_sandbox(session_ttl=0.3, docker_reap_interval=0.2) as sandbox:
        session = await sandbox.open("idle")
        session_id = session.id
        await eventually(
            lambda: not session_containers(sandbox, session_id), what="idle session's container reaped"
        )
        with pytest.raises(SandboxUnavailable):
            await session.run("1")


async def test_timeout_resets_onto_a_fresh_container_and_the_conversation_goes_on() -> None:
    async with started_sandbox() as sandbox:
        session = await sandbox.open("conv")
        await session.run("x = 1")
        old_id = session.id
        result = await session.run("while True: pass", timeout=1.5)
        assert result.reset and result.error is not None
        assert result.error.name == "TimeoutError" and "1.5 s" in result.error.message
        assert "reset" in result.error.message
        after = await session.run("'x' in globals(), 2 + 2")
        assert after.result == "(False, 4)" and not after.reset
        assert session.id == old_id  # the conversation's id is stable; its container is new


async def test_figures_come_back_as_png() -> None:
    async with started_sandbox() as sandbox:
        session = await sandbox.open("plot")
        result = await session.run(
            "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')"
        )
        assert result.error is None, result.error
        assert len(result.images) == 1
        import base64

        assert base64.b64decode(result.images[0]).startswith(b"\x89PNG")
        assert "font cache" not in result.stderr and "Matplotlib" not in result.stderr


async def test_science_stack_imports_in_the_image() -> None:
    async with started_sandbox() as sandbox:
        session = await sandbox.open("sci")
        result = await session.run(
            "import numpy, pandas, scipy.optimize, sympy\n"
            "float(scipy.optimize.brentq(lambda x: x**2 - 2, 0, 2)).__round__(6), str(sympy.sqrt(8))"
        )
        assert result.error is None, result.error
        assert result.result == "(1.414214, '2*sqrt(2)')"


def test_describe_reports_backend_tier_and_pool() -> None:
    sandbox = DockerSandbox(docker_settings(docker_runtime="runsc"))
    facts = sandbox.describe()
    assert facts["backend"] == "docker" and facts["isolation_tier"] == "gvisor"
    assert DockerSandbox(docker_settings()).isolation_tier == "container"


async def test_closing_a_session_mid_execution_ends_it_with_a_reset() -> None:
    async with started_sandbox() as sandbox:
        session = await sandbox.open("closing")
        session_id = session.id
        execution = asyncio.create_task(session.run("import time\ntime.sleep(30)", timeout=10))
        await asyncio.sleep(0.3)
        await session.close()
        result = await asyncio.wait_for(execution, 5)
        assert result.reset and result.error is not None
        await eventually(lambda: not session_containers(sandbox, session_id), what="its container removed")
        assert sandbox.pool.stats()["in_use"] == 0


async def test_an_explicit_image_that_does_not_exist_is_a_clear_start_error() -> None:
    sandbox = DockerSandbox(docker_settings(docker_image="emulator-sandbox:no-such-tag"))
    with pytest.raises(DockerSandboxError, match="emulator image build"):
        await sandbox.start()
    await sandbox.aclose()


async def test_an_unreachable_engine_is_a_clear_start_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    sandbox = DockerSandbox(docker_settings())
    with pytest.raises(DockerSandboxError, match="not reachable"):
        await sandbox.start()
    await sandbox.aclose()


def test_sessions_work_under_uvloop() -> None:
    """uvicorn runs the app on uvloop, whose transports are not asyncio.Transport subclasses."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> str | None:
        async with started_sandbox() as sandbox:
            session = await sandbox.open("uv")
            return (await session.run("6 * 7")).result

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(asyncio.wait_for(scenario(), 30)) == "42"
    finally:
        loop.close()
