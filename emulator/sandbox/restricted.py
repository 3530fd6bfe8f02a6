"""The restricted sandbox backend (isolation tier ``process``): the runner in a local subprocess.

For machines without a Docker engine. Each session is ``sandbox_image/runner.py --policy restricted`` (cells
compiled with RestrictedPython and an import allow-list: ``restricted_policy.py``) started with:

* a scrubbed environment (nothing of the host's: no keys, no ``EMULATOR_*``) and ``python -I``, which
  also ignores ``PYTHON*`` variables and the user's site-packages;
* a private scratch directory as its cwd and ``HOME`` (``emulator-sbx-*``, removed on close);
* rlimits from the settings (``RLIMIT_CPU``, ``RLIMIT_AS``, ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``, no core
  files) set in the child before ``exec``; ``RLIMIT_NPROC`` is set by the runner itself right after it
  started its output-drain thread, because threads count against it too;
* its own process group (``start_new_session``), so a timeout kills everything it started;
* where the kernel has Landlock, a kernel-enforced confinement the runner applies to itself before it
  answers (``restricted_policy.confine``): writes only under the scratch dir, reads only of the Python
  installation and a few system paths, no TCP, no signals to processes outside the sandbox.

A timeout, the runner's death or a desynchronised stream kill the process group and start a fresh runner:
the result carries ``reset=True`` and an error saying what happened. This tier is weaker than a container
(same kernel, same user, a Python-level sandbox) and says so in ``describe()``; when the emulator runs as
root, ``RLIMIT_NPROC`` does not bind (the kernel exempts root).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.resources
import logging
import os
import resource
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO, Any

import emulator
from emulator.config import Settings
from emulator.core.errors import SandboxUnavailable
from emulator.sandbox.base import ExecResult
from emulator.sandbox.landlock import landlock_abi
from emulator.sandbox.outcomes import RESET_NOTE, describe_exit_code, reset_result
from emulator.sandbox.protocol import (
    MAX_FRAME_BYTES,
    RunnerClient,
    RunnerDesync,
    RunnerGone,
    RunnerTimeout,
    StreamTransport,
)

__all__ = ["RestrictedSandbox", "RestrictedSession", "describe_exit_code", "reset_result"]

log = logging.getLogger(__name__)

#: a fresh runner must say ``ready`` within this (interpreter start + RestrictedPython import)
READY_TIMEOUT = 20.0
#: after the stream ends, how long to wait for the exit status that explains why
EXIT_STATUS_WAIT = 2.0


def runner_path() -> Path:
    """``sandbox_image/runner.py``, the program both backends run."""
    return Path(str(importlib.resources.files("sandbox_image") / "runner.py"))


def _limit_resources(limits: tuple[tuple[int, int, int], ...]) -> None:
    """``preexec_fn``: runs in the child between fork and exec; only ``setrlimit`` calls."""
    for which, soft, hard in limits:
        _current_soft, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:  # an unprivileged process cannot raise its hard limit
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))


class RestrictedSession:
    """One conversation's runner subprocess; executions are serialised."""

    def __init__(
        self,
        settings: Settings,
        *,
        python: str,
        runner: Path,
        mpl_dir: Path | None,
        on_close: Callable[[RestrictedSession], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_close = on_close
        self._python = python
        self._runner = runner
        self._mpl_dir = mpl_dir
        self._id = f"cntr_{secrets.token_hex(12)}"
        self._scratch = Path(tempfile.mkdtemp(prefix="emulator-sbx-"))
        self._lock = asyncio.Lock()
        self._process: asyncio.subprocess.Process | None = None
        self._client: RunnerClient | None = None
        self._diagnostics: IO[bytes] | None = None
        self._closed = False
        self._abandoned = False  # an execution was cancelled: its runner is dead, the next run() restarts
        self.resets = 0

    @property
    def id(self) -> str:
        return self._id

    @property
    def scratch_dir(self) -> Path:
        return self._scratch

    @property
    def pid(self) -> int | None:
        """The runner's pid (also its process group), or ``None`` between a reset and the next start."""
        return self._process.pid if self._process is not None else None

    def _environment(self) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self._scratch),
            "TMPDIR": str(self._scratch),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        if self._mpl_dir is not None:
            env["MPLCONFIGDIR"] = str(self._mpl_dir)
        return env

    def _rlimits(self) -> tuple[tuple[int, int, int], ...]:
        s = self._settings
        return (
            # one second of grace between the soft and the hard limit: SIGXCPU (which the result names)
            # arrives before SIGKILL (which it could not tell from any other kill)
            (resource.RLIMIT_CPU, s.restricted_cpu_seconds, s.restricted_cpu_seconds + 1),
            (resource.RLIMIT_AS, s.restricted_memory_bytes, s.restricted_memory_bytes),
            (resource.RLIMIT_FSIZE, s.restricted_file_bytes, s.restricted_file_bytes),
            (resource.RLIMIT_NOFILE, s.restricted_open_files, s.restricted_open_files),
            (resource.RLIMIT_CORE, 0, 0),
        )

    async def start(self) -> None:
        """Start a runner and wait for its ready frame (``SandboxUnavailable`` if it does not come)."""
        package_root = Path(emulator.__file__).resolve().parent.parent
        args = [
            *(self._python, "-I", "-B", str(self._runner)),
            *("--policy", "restricted", "--policy-path", str(package_root)),
            *("--nproc-limit", str(self._settings.restricted_max_processes)),
        ]
        # the runner's own stderr (crash reports only); owned by the session, closed in _stop()
        self._diagnostics = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=self._diagnostics,
                cwd=self._scratch,
                env=self._environment(),
                preexec_fn=partial(_limit_resources, self._rlimits()),
                start_new_session=True,
                limit=MAX_FRAME_BYTES,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start the restricted sandbox's runner: {exc}") from exc
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._client = RunnerClient(StreamTransport(process.stdout, process.stdin))
        try:
            await self._client.wait_ready(timeout=READY_TIMEOUT)
        except (RunnerGone, RunnerDesync, RunnerTimeout) as exc:
            detail = self._diagnostic_tail()
            await self._stop()
            raise SandboxUnavailable(
                f"the restricted sandbox's runner did not start: {exc}. {detail}"
            ) from exc

    async def run(self, code: str, timeout: float | None = None) -> ExecResult:
        limit = timeout if timeout is not None else self._settings.exec_timeout
        async with self._lock:
            if self._closed:
                raise SandboxUnavailable("this sandbox session is closed")
            restarted = self._abandoned
            if self._client is None or self._abandoned:
                await self._stop()
                await self.start()
                self._abandoned = False
            assert self._client is not None
            started = time.perf_counter()
            try:
                result = await self._client.execute(
                    code, timeout=limit, output_bytes=self._settings.output_limit_bytes
                )
                return dataclasses.replace(result, reset=True) if restarted else result
            except asyncio.CancelledError:
                # nobody waits for this result any more: stop the code now, restart on the next run()
                self._abandoned = True
                self._kill()
                raise
            except RunnerTimeout:
                name, message = "TimeoutError", f"Execution stopped after {limit:g} s; {RESET_NOTE}"
            except RunnerGone:
                exit_code = await self._exit_code()
                name, message = (
                    "SandboxCrashed",
                    f"The Python interpreter {describe_exit_code(exit_code)}; {RESET_NOTE}",
                )
            except RunnerDesync as exc:
                name, message = (
                    "SandboxProtocolError",
                    f"The interpreter's result stream was corrupted ({exc}); {RESET_NOTE}",
                )
            if self._closed:
                raise SandboxUnavailable("this sandbox session was closed during the execution")
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("session %s: %s; restarting its runner (%s)", self._id, name, self._diagnostic_tail())
            await self._stop()
            self.resets += 1
            with contextlib.suppress(SandboxUnavailable):  # else the next run() tries again
                await self.start()
            return reset_result(name, message, duration_ms=elapsed_ms)

    async def close(self) -> None:
        """Kill the runner's process group (a running execution ends now) and remove the scratch dir."""
        if self._closed:
            return
        self._closed = True
        self._kill()
        async with self._lock:
            await self._stop()
            shutil.rmtree(self._scratch, ignore_errors=True)
            if self._on_close is not None:
                self._on_close(self)

    def _kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)  # the group: whatever the code started dies too

    async def _exit_code(self) -> int | None:
        assert self._process is not None
        try:
            return await asyncio.wait_for(self._process.wait(), EXIT_STATUS_WAIT)
        except asyncio.TimeoutError:
            return None

    async def _stop(self) -> None:
        self._kill()
        process, client = self._process, self._client
        self._process = self._client = None
        if process is not None:
            await process.wait()
        if client is not None:
            await client.close()
        if self._diagnostics is not None:
            self._diagnostics.close()
            self._diagnostics = None

    def _diagnostic_tail(self) -> str:
        if self._diagnostics is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._diagnostics.seek(0, os.SEEK_END)
            size = self._diagnostics.tell()
            self._diagnostics.seek(max(0, size - 2000))
            tail = self._diagnostics.read().decode("utf-8", "replace").strip()
            return f"runner stderr: {tail}" if tail else ""
        return ""


class RestrictedSandbox:
    """Hands out ``RestrictedSession``s (process tier)."""

    backend = "restricted"
    isolation_tier = "process"

    def __init__(self, settings: Settings, *, python: str | None = None, runner: Path | None = None) -> None:
        self.settings = settings
        self._python = python or sys.executable
        self._runner = runner or runner_path()
        self._sessions: dict[str, RestrictedSession] = {}
        self._mpl_dir: Path | None = None

    async def start(self) -> None:
        """Check the runner exists; make the matplotlib config dir the sessions share (its font cache is
        built once, not per conversation)."""
        if not self._runner.is_file():
            raise SandboxUnavailable(f"the sandbox runner is missing: {self._runner}")
        if self._mpl_dir is None:
            self._mpl_dir = Path(tempfile.mkdtemp(prefix="emulator-mpl-"))

    async def open(self, session_key: str) -> RestrictedSession:
        if self._mpl_dir is None:
            await self.start()
        session = RestrictedSession(
            self.settings,
            python=self._python,
            runner=self._runner,
            mpl_dir=self._mpl_dir,
            on_close=self._forget,
        )
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        self._sessions[session.id] = session
        log.debug("restricted session %s opened for %s (pid %s)", session.id, session_key, session.pid)
        return session

    def _forget(self, session: RestrictedSession) -> None:
        self._sessions.pop(session.id, None)

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(session.close() for session in sessions), return_exceptions=True)
        if self._mpl_dir is not None:
            shutil.rmtree(self._mpl_dir, ignore_errors=True)
            self._mpl_dir = None

    def describe(self) -> dict[str, Any]:
        abi = landlock_abi()
        return {
            "backend": self.backend,
            "isolation_tier": self.isolation_tier,
            "sessions": len(self._sessions),
            "confinement": f"landlock ABI {abi}" if abi else "none (the kernel has no Landlock)",
            "note": "process tier: RestrictedPython, an import allow-list and rlimits in a local subprocess; "
            "weaker than a container",
        }
