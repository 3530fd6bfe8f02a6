"""The sandbox protocol: what the loop needs from any backend.

``Sandbox.open(session_key) -> SandboxSession``; ``SandboxSession.run(code, timeout) -> ExecResult``;
``SandboxSession.close()``. Both backends (``restricted``: a local subprocess, ``docker``: a hardened
container) drive the same in-sandbox program, ``sandbox_image/runner.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ExecError:
    """An exception raised by user code (Jupyter's ``error`` message: ename / evalue / traceback)."""

    name: str
    message: str
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one execution produced.

    ``result`` is the repr of the final expression (Jupyter semantics), ``images`` are base64 PNGs of the
    matplotlib figures open at the end, ``reset`` says the interpreter was restarted (timeout, crash,
    memory) so earlier variables are gone.
    """

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    images: tuple[str, ...] = ()
    error: ExecError | None = None
    duration_ms: float = 0.0
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    result_truncated: bool = False
    reset: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated or self.result_truncated

    def logs(self) -> str:
        """The text a user (and the model) sees: stdout, stderr, the result, then the traceback.

        This is what the Responses API puts in a ``code_interpreter_call``'s ``logs`` output.
        """
        parts: list[str] = []
        for text in (self.stdout, self.stderr):
            if text:
                parts.append(text if text.endswith("\n") else text + "\n")
        if self.result is not None:
            parts.append(self.result + "\n")
        if self.error is not None:
            tb = self.error.traceback or f"{self.error.name}: {self.error.message}"
            parts.append(tb if tb.endswith("\n") else tb + "\n")
        return "".join(parts).rstrip("\n")


@runtime_checkable
class SandboxSession(Protocol):
    """One conversation's interpreter; state (variables, files) persists across ``run`` calls."""

    @property
    def id(self) -> str:
        """Stable id of this interpreter (shown as ``container_id``)."""
        ...

    async def run(self, code: str, timeout: float | None = None) -> ExecResult: ...

    async def close(self) -> None: ...


@runtime_checkable
class Sandbox(Protocol):
    """A sandbox backend: hands out sessions and cleans up everything it created."""

    backend: str  # "restricted" | "docker"
    isolation_tier: str  # "process" | "container" | "gvisor"

    async def start(self) -> None:
        """Prepare (warm pool, reap leftovers). Called once by the app's lifespan."""
        ...

    async def open(self, session_key: str) -> SandboxSession: ...

    async def aclose(self) -> None:
        """Close every session this backend opened."""
        ...

    def describe(self) -> dict[str, object]:
        """Facts for ``/health`` (backend, isolation_tier, pool state, fallback reason)."""
        ...
