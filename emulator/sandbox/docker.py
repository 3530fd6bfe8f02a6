"""The docker sandbox backend (isolation tier ``container``, or ``gvisor`` under the runsc runtime).

One hardened container per conversation (options in ``containers.py``), taken from a warm pool
(``pool.py``) so a new conversation does not pay a container start. The runner is the container's main
process and is driven over the attached stdio (``attach.py``): a warm execution is one pipe round trip.

When an execution cannot finish normally the container is destroyed and the conversation goes on with a
fresh one from the pool on its next execution; the result says what happened and carries ``reset=True``:

* timeout: the container is killed (SIGINT would reach only the runner, forked copies would keep spinning);
* end of stream without a result (OOM kill, ``os._exit``, SIGTERM to PID 1, segfault, lost fds): the
  container's ``State`` says which (``OOMKilled`` tells memory apart, never exit code 137 alone);
* a forged, malformed or mismatched frame: the stream cannot be trusted any more.

Nothing leaks: every container carries ``emulator.*`` labels (instance, session, pid, host); ``aclose``
removes all of this instance's, ``start`` and a periodic reaper remove those of emulator processes that are
gone (``kill -9`` included) and sessions idle past ``session_ttl``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import anyio
import docker

from emulator.config import Settings
from emulator.core.errors import SandboxUnavailable
from emulator.sandbox import containers
from emulator.sandbox.attach import AttachTransport
from emulator.sandbox.base import ExecResult
from emulator.sandbox.containers import docker_available
from emulator.sandbox.image import ImageBuildError, ensure_image
from emulator.sandbox.outcomes import describe_exit_code, reset_result
from emulator.sandbox.pool import WarmPool
from emulator.sandbox.protocol import MAX_FRAME_BYTES, RunnerClient, RunnerDesync, RunnerGone, RunnerTimeout

__all__ = ["DockerSandbox", "DockerSandboxError", "DockerSession", "describe_exit", "docker_available"]

log = logging.getLogger(__name__)

#: docker-py calls a request may wait on (create, attach, start) get this HTTP timeout (seconds)
ENGINE_TIMEOUT = 60
RESET_NOTE = "The sandbox was restarted and the session was reset: earlier variables and files are gone."


class DockerSandboxError(RuntimeError):
    """The docker backend cannot start (no engine, missing runtime, no image); the message says why."""


@dataclass(eq=False)
class RunnerContainer:
    """A started sandbox container and the runner client attached to its stdio."""

    container_id: str
    sandbox_id: str
    transport: AttachTransport
    client: RunnerClient
    started: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return not self.transport.at_eof


def describe_exit(state: dict[str, Any] | None, mem_limit: str, stderr_tail: str = "") -> tuple[str, str]:
    """``(error name, message)`` for a runner that ended without answering, from its container's State."""
    if state is None:
        return "SandboxLost", f"The sandbox container disappeared during the execution. {RESET_NOTE}"
    if state.get("OOMKilled"):
        return "MemoryError", f"The code ran out of memory (limit {mem_limit}) and was killed. {RESET_NOTE}"
    code = state.get("ExitCode")
    if state.get("Running") or not isinstance(code, int):
        return "SandboxLost", f"The Python interpreter stopped answering. {RESET_NOTE}"
    # docker reports death by signal N as exit code 128 + N; describe_exit_code takes asyncio's -N
    cause = describe_exit_code(-(code - 128) if code > 128 else code)
    message = f"The Python interpreter {cause}. {RESET_NOTE}"
    if stderr_tail.strip():
        message += f"\nLast output on its stderr:\n{stderr_tail.strip()[-1000:]}"
    return "SandboxCrashed", message


#: concurrent blocking docker-py calls per sandbox backend
DOCKER_CALL_THREADS = 8


class DockerSession:
    """One conversation's container. Executions are serialised; after a reset the next one runs in a fresh
    container from the pool. ``id`` stays the same for the whole conversation: it is the ``emulator.session``
    label of the conversation's first container (each replacement carries the id it was minted with)."""

    def __init__(self, sandbox: DockerSandbox, key: str, runner: RunnerContainer) -> None:
        self._sandbox = sandbox
        self.key = key
        self._runner: RunnerContainer | None = runner
        self._id = runner.sandbox_id
        self._lock = asyncio.Lock()
        self._closed = False
        self.resets = 0
        self.last_used = time.monotonic()

    @property
    def id(self) -> str:
        return self._id

    @property
    def container_id(self) -> str | None:
        """The docker id of the container running this conversation now (``None`` between a reset and the
        next execution)."""
        return self._runner.container_id if self._runner is not None else None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def run(self, code: str, timeout: float | None = None) -> ExecResult:
        settings = self._sandbox.settings
        limit = timeout if timeout is not None else settings.exec_timeout
        async with self._lock:
            runner = await self._current_runner()
            started = time.perf_counter()
            try:
                return await runner.client.execute(
                    code, timeout=limit, output_bytes=settings.output_limit_bytes
                )
            except RunnerTimeout:
                name, message = (
                    "TimeoutError",
                    f"Execution stopped after {limit:g} s (the time limit). {RESET_NOTE}",
                )
            except RunnerGone:
                state = await self._sandbox.exit_state(runner)
                name, message = describe_exit(state, settings.docker_mem_limit, runner.transport.stderr_tail)
            except RunnerDesync as exc:
                name, message = (
                    "SandboxProtocolError",
                    f"The result stream was corrupted ({exc}). {RESET_NOTE}",
                )
            finally:
                self.last_used = time.monotonic()
            log.info("session %s (%s): %s; resetting", self._id, self.key, name)
            self.resets += 1
            self._drop(runner)
            return reset_result(name, message, duration_ms=(time.perf_counter() - started) * 1000)

    async def _current_runner(self) -> RunnerContainer:
        """This conversation's live container; a fresh one from the pool after a reset."""
        if self._closed:
            raise SandboxUnavailable("this sandbox session is closed")
        runner = self._runner
        if runner is not None and runner.alive:
            return runner
        if runner is not None:
            self._drop(runner)
        runner = await self._sandbox.pool.acquire()
        if self._closed:  # closed while we waited for the pool
            self._sandbox.discard(runner)
            raise SandboxUnavailable("this sandbox session is closed")
        self._runner = runner
        log.info("session %s continues in container %s", self._id, containers.NAME_PREFIX + runner.sandbox_id)
        return runner

    def _drop(self, runner: RunnerContainer) -> None:
        """Destroy ``runner`` if it is still this session's (``close`` may have given it back already)."""
        if self._runner is runner:
            self._runner = None
            self._sandbox.discard(runner)

    async def close(self) -> None:
        """Give the container back; it is destroyed in the background (``aclose`` waits for that). An
        execution still running ends with a reset result."""
        if self._closed:
            return
        self._closed = True
        self._sandbox.forget(self)
        if self._runner is not None:
            self._drop(self._runner)


class DockerSandbox:
    """Hands out ``DockerSession``s backed by hardened containers from a warm pool."""

    backend = "docker"

    def __init__(
        self, settings: Settings, *, client: docker.DockerClient | None = None, instance_id: str | None = None
    ) -> None:
        self.settings = settings
        self.isolation_tier = "gvisor" if settings.docker_runtime == "runsc" else "container"
        self.identity = containers.InstanceIdentity.current(instance_id or secrets.token_hex(6))
        self.image: str | None = None
        self._client = client
        self._owns_client = client is None
        self._pool: WarmPool[RunnerContainer] | None = None
        self._sessions: set[DockerSession] = set()
        self._live: dict[str, RunnerContainer] = {}  # started, not yet removed
        self._unremoved: set[str] = set()  # removal failed: the reaper retries
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._engine_version = "?"
        self._calls: anyio.CapacityLimiter | None = None

    # --- lifecycle --------------------------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            raise DockerSandboxError("the docker sandbox is not started")
        return self._client

    @property
    def pool(self) -> WarmPool[RunnerContainer]:
        if self._pool is None:
            raise SandboxUnavailable("the docker sandbox is not started")
        return self._pool

    async def start(self) -> None:
        """Connect to the engine, make sure the image exists (building it if it is the default one), reap
        containers of dead emulator processes, fill the warm pool, start the reaper."""
        try:
            if self._client is None:
                self._client = await self._thread(docker.from_env, timeout=ENGINE_TIMEOUT, max_pool_size=32)
            info = await self._thread(self.client.info)
        except containers.ENGINE_ERRORS as exc:
            raise DockerSandboxError(f"the Docker engine is not reachable: {exc}") from exc
        self._engine_version = str(info.get("ServerVersion", "?"))
        runtime = self.settings.docker_runtime
        if runtime and runtime not in (info.get("Runtimes") or {}):
            raise DockerSandboxError(
                f"the Docker engine has no runtime {runtime!r} (EMULATOR_DOCKER_RUNTIME)"
            )
        self.image = await self._thread(self._ensure_image)
        reaped = await self._thread(self._reap_orphans)
        if reaped:
            log.info("removed %d sandbox container(s) left by emulator processes that are gone", reaped)
        self._pool = WarmPool(
            start_one=self._start_runner,
            dispose=self._remove_runner,
            size=self.settings.docker_pool_size,
            max_total=self.settings.docker_max_containers,
            acquire_timeout=self.settings.docker_acquire_timeout,
            is_alive=lambda runner: runner.alive,
            name="docker-pool",
        )
        await self._pool.start()
        self._reaper = asyncio.create_task(self._reap_forever(), name="docker-sandbox-reaper")
        log.info(
            "docker sandbox ready: image %s, tier %s, pool %d, instance %s",
            self.image, self.isolation_tier, self.settings.docker_pool_size, self.identity.instance,
        )  # fmt: skip

    async def open(self, session_key: str) -> DockerSession:
        runner = await self.pool.acquire()
        session = DockerSession(self, session_key, runner)
        self._sessions.add(session)
        return session

    async def aclose(self) -> None:
        """Close every session, empty the pool, remove every container of this instance, close sockets."""
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
            self._reaper = None
        for session in list(self._sessions):
            await session.close()
        if self._pool is not None:
            await self._pool.aclose()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runner in list(self._live.values()):
            await self._remove_runner(runner)
        if self._client is not None:
            await self._thread(containers.remove_instance_containers, self.client, self.identity)
            if self._owns_client:
                self._client.close()
                self._client = None

    async def __aenter__(self) -> DockerSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "isolation_tier": self.isolation_tier,
            "image": self.image,
            "runtime": self.settings.docker_runtime or "runc",
            "engine": self._engine_version,
            "instance": self.identity.instance,
            "sessions": len(self._sessions),
            "pool": self._pool.stats() if self._pool is not None else None,
        }

    # --- containers -------------------------------------------------------------------------------------

    async def _start_runner(self) -> RunnerContainer:
        assert self.image is not None
        sandbox_id = f"cntr_{secrets.token_hex(12)}"  # the id a conversation shows as its container_id
        options = containers.container_options(
            self.settings,
            image=self.image,
            name=containers.NAME_PREFIX + sandbox_id,
            labels=self.identity.labels(sandbox_id),
        )
        container_id, sock = await self._create_attached(options)
        try:
            transport = await AttachTransport.connect(sock, max_line_bytes=MAX_FRAME_BYTES)
        except BaseException:
            sock.close()
            await self._thread(containers.remove_container, self.client, container_id)
            raise
        runner = RunnerContainer(container_id, sandbox_id, transport, RunnerClient(transport))
        self._live[container_id] = runner
        try:
            await runner.client.wait_ready(timeout=self.settings.docker_start_timeout)
        except BaseException as exc:
            tail = transport.stderr_tail.strip()
            await self._remove_runner(runner)
            if isinstance(exc, Exception):
                raise DockerSandboxError(f"the sandbox runner did not start: {exc} {tail}".strip()) from exc
            raise
        return runner

    async def _create_attached(self, options: dict[str, Any]) -> tuple[str, socket.socket]:
        """``containers.create_attached`` off the loop. The engine call cannot be interrupted, so when the
        caller is cancelled (pool shutdown) we let it finish and remove what it created: no orphan."""
        creation = asyncio.ensure_future(self._thread(containers.create_attached, self.client, options))
        try:
            created: tuple[str, socket.socket] = await asyncio.shield(creation)
        except asyncio.CancelledError:
            try:
                container_id, sock = await creation
                sock.close()
                await self._thread(containers.remove_container, self.client, container_id)
            except containers.ENGINE_ERRORS as exc:
                log.warning("cleaning up a container start interrupted by shutdown: %s", exc)
            raise
        return created

    async def _remove_runner(self, runner: RunnerContainer) -> None:
        self._live.pop(runner.container_id, None)
        await runner.transport.close()
        try:
            await self._thread(containers.remove_container, self.client, runner.container_id)
        except containers.ENGINE_ERRORS as exc:
            self._unremoved.add(runner.container_id)
            log.warning(
                "removing sandbox container %s failed (%s); the reaper retries", runner.sandbox_id, exc
            )

    def discard(self, runner: RunnerContainer) -> None:
        """Destroy a container handed out by the pool, in the background (``aclose`` waits for it)."""
        self._spawn(self.pool.release(runner))

    def forget(self, session: DockerSession) -> None:
        self._sessions.discard(session)

    async def exit_state(self, runner: RunnerContainer) -> dict[str, Any] | None:
        try:
            return await self._thread(containers.exit_state, self.client, runner.container_id)
        except containers.ENGINE_ERRORS as exc:
            log.warning("cannot inspect sandbox container %s: %s", runner.sandbox_id, exc)
            return None

    def _ensure_image(self) -> str:
        try:
            return ensure_image(self.settings, self.client, progress=lambda line: log.info("image: %s", line))
        except (ImageBuildError, *containers.ENGINE_ERRORS) as exc:  # type: ignore[misc]
            raise DockerSandboxError(f"no sandbox image: {exc}") from exc

    def _reap_orphans(self) -> int:
        """Containers of emulator processes on this host that are gone, and removals that failed earlier."""
        retried = 0
        for container_id in list(self._unremoved):
            containers.remove_container(self.client, container_id)
            self._unremoved.discard(container_id)
            retried += 1
        return retried + containers.remove_orphans(self.client, self.identity)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.docker_reap_interval)
            now = time.monotonic()
            for session in list(self._sessions):
                if not session.busy and now - session.last_used > self.settings.session_ttl:
                    log.info("sandbox session %s idle past its TTL; closing it", session.id)
                    await session.close()
            try:
                await self._thread(self._reap_orphans)
            except containers.ENGINE_ERRORS as exc:
                log.warning("sandbox reaper: %s", exc)

    async def _thread(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking docker-py call off the event loop.

        At most ``DOCKER_CALL_THREADS`` at once, so a burst of new conversations cannot take every thread of
        anyio's shared worker pool (40 by default) away from the rest of the server's blocking work.
        """
        if self._calls is None:
            self._calls = anyio.CapacityLimiter(DOCKER_CALL_THREADS)
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs), limiter=self._calls)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
