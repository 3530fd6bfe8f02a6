"""The host side of the runner protocol (``sandbox_image/runner.py`` documents the wire format).

JSON lines both ways. ``RunnerClient`` drives one runner over any ``RunnerTransport`` (a subprocess's pipes
for the process tier, a demultiplexed ``docker attach`` socket for the docker tier): it waits for the
``ready`` frame, then sends one request at a time, each with a fresh id, and accepts exactly one matching
reply. Anything else is a typed ``RunnerError`` and the backend must reset the session:

* ``RunnerGone``: end of stream before the reply (the runner died: ``os._exit``, crash, kill, OOM);
* ``RunnerDesync``: a frame that is malformed, of an unexpected type, or for another id (user code can
  ``os.write`` to the runner's frame fd; once that happened, no later frame can be trusted);
* ``RunnerTimeout``: no reply within the deadline (the runner is still busy: kill it).

After any of these the client is *broken* and refuses further use. Nothing here takes a decision from a
frame's content beyond building the ``ExecResult``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from emulator.sandbox.base import ExecError, ExecResult

__all__ = [
    "MAX_FRAME_BYTES",
    "ExecuteReply",
    "ReadyFrame",
    "RunnerClient",
    "RunnerDesync",
    "RunnerError",
    "RunnerGone",
    "RunnerTimeout",
    "RunnerTransport",
    "StreamTransport",
]

#: longest frame a transport should accept: three capped texts plus base64 PNGs of every open figure
MAX_FRAME_BYTES = 64 * 1024 * 1024


class RunnerError(Exception):
    """The runner can no longer be trusted to answer; the session must be reset."""


class RunnerGone(RunnerError):
    """The runner's output ended before the expected frame."""


class RunnerDesync(RunnerError):
    """A malformed, unexpected or mismatched frame arrived."""


class RunnerTimeout(RunnerError):
    """No reply before the deadline; the runner is still running the code."""


class RunnerTransport(Protocol):
    """Bytes to and lines from one runner."""

    async def send(self, data: bytes) -> None:
        """Write ``data`` to the runner's stdin (``EOFError`` if it is closed)."""
        ...

    async def receive_line(self) -> bytes:
        """The next line of the runner's stdout, newline included; ``EOFError`` at end of stream."""
        ...

    async def close(self) -> None: ...


class StreamTransport:
    """``RunnerTransport`` over an asyncio stream pair, e.g. ``asyncio.subprocess.Process`` pipes.

    The reader's ``limit`` bounds a frame: create it with ``limit=MAX_FRAME_BYTES`` (the asyncio default,
    64 KiB, is smaller than one capped output plus an image).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def send(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise EOFError("the runner's stdin is closed")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise EOFError(f"the runner's stdin is closed: {exc}") from exc

    async def receive_line(self) -> bytes:
        try:
            line = await self._reader.readline()
        except ValueError as exc:  # asyncio.LimitOverrunError surfaces as ValueError from readline()
            raise RunnerDesync(f"a frame longer than the transport's limit: {exc}") from exc
        if not line.endswith(b"\n"):  # b"" or a frame cut short by the runner's death
            raise EOFError("the runner's stdout closed")
        return line

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(OSError, RuntimeError):
            await self._writer.wait_closed()


# --- frames (runner -> host) ----------------------------------------------------------------------------


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ReadyFrame(_Frame):
    type: Literal["ready"]
    pid: int
    python: str


class PongFrame(_Frame):
    id: str
    type: Literal["pong"]


class ErrorContent(_Frame):
    ename: str
    evalue: str
    traceback: str


class TruncatedFlags(_Frame):
    stdout: bool
    stderr: bool
    result: bool


class ExecuteReply(_Frame):
    id: str
    type: Literal["execute_reply"]
    stdout: str
    stderr: str
    result: str | None
    images: list[str]
    error: ErrorContent | None
    duration_ms: float
    truncated: TruncatedFlags

    def to_result(self) -> ExecResult:
        error = None
        if self.error is not None:
            error = ExecError(self.error.ename, self.error.evalue, self.error.traceback)
        return ExecResult(
            stdout=self.stdout,
            stderr=self.stderr,
            result=self.result,
            images=tuple(self.images),
            error=error,
            duration_ms=self.duration_ms,
            stdout_truncated=self.truncated.stdout,
            stderr_truncated=self.truncated.stderr,
            result_truncated=self.truncated.result,
        )


class ProtocolErrorFrame(_Frame):
    id: str | None
    type: Literal["protocol_error"]
    message: str


Frame = Annotated[ReadyFrame | PongFrame | ExecuteReply | ProtocolErrorFrame, Field(discriminator="type")]
_FRAME = TypeAdapter(Frame)


def parse_frame(line: bytes) -> Frame:
    """One frame from one line, or ``RunnerDesync``."""
    try:
        # json first: pydantic's strict JSON mode would also accept the data, but error texts stay short
        return _FRAME.validate_python(json.loads(line))
    except (ValueError, ValidationError) as exc:
        raise RunnerDesync(f"malformed frame from the runner: {str(exc)[:200]}") from exc


def new_request_id() -> str:
    """Unpredictable, so code inside the sandbox cannot forge the reply to a request it has not seen."""
    return secrets.token_hex(12)


class RunnerClient:
    """Talks to one runner over ``transport``; one request at a time."""

    def __init__(self, transport: RunnerTransport, *, new_id: Callable[[], str] = new_request_id) -> None:
        self.transport = transport
        self.ready: ReadyFrame | None = None
        self._new_id = new_id
        self._lock = asyncio.Lock()
        self._broken: RunnerError | None = None

    @property
    def broken(self) -> bool:
        """A previous exchange failed; this runner must be replaced."""
        return self._broken is not None

    async def wait_ready(self, timeout: float) -> ReadyFrame:
        """Read the runner's first frame, which must be ``ready``."""
        async with self._lock:
            frame = await self._guarded(self._receive(), timeout, "the runner did not start")
            if not isinstance(frame, ReadyFrame):
                raise self._fail(RunnerDesync(f"expected the ready frame, got {frame.type!r}"))
            self.ready = frame
            return frame

    async def ping(self, timeout: float) -> None:
        frame = await self._request({"op": "ping"}, timeout, PongFrame)
        assert isinstance(frame, PongFrame)

    async def execute(self, code: str, *, timeout: float, output_bytes: int) -> ExecResult:
        """Run ``code`` in the runner; the deadline covers sending the request and receiving the reply."""
        request = {"op": "execute", "code": code, "limits": {"output_bytes": output_bytes}}
        frame = await self._request(request, timeout, ExecuteReply)
        assert isinstance(frame, ExecuteReply)
        return frame.to_result()

    async def close(self) -> None:
        await self.transport.close()

    async def _request(self, body: dict[str, Any], timeout: float, expected: type[_Frame]) -> Frame:
        async with self._lock:
            if self._broken is not None:
                raise RunnerDesync(f"the runner is unusable after an earlier failure: {self._broken}")
            request_id = self._new_id()
            line = (
                json.dumps({"id": request_id, **body}, ensure_ascii=False).encode("utf-8", "replace") + b"\n"
            )
            frame = await self._guarded(self._exchange(line), timeout, f"no reply within {timeout:g} s")
            if not isinstance(frame, expected):
                raise self._fail(RunnerDesync(f"expected {expected.__name__}, got a {frame.type!r} frame"))
            if getattr(frame, "id", None) != request_id:
                raise self._fail(RunnerDesync("a reply for another request (a forged or stale frame)"))
            return frame

    async def _exchange(self, line: bytes) -> Frame:
        await self.transport.send(line)
        return await self._receive()

    async def _receive(self) -> Frame:
        return parse_frame(await self.transport.receive_line())

    async def _guarded(self, work: Any, timeout: float, timeout_message: str) -> Frame:
        try:
            return await asyncio.wait_for(work, timeout)
        except asyncio.TimeoutError:
            raise self._fail(RunnerTimeout(timeout_message)) from None
        except EOFError as exc:
            raise self._fail(RunnerGone(f"the runner's stream ended: {exc}")) from None
        except RunnerError as exc:
            raise self._fail(exc) from None
        except asyncio.CancelledError:
            self._fail(RunnerDesync("an exchange was cancelled midway; its reply could still arrive"))
            raise

    def _fail(self, error: RunnerError) -> RunnerError:
        self._broken = error
        return error
