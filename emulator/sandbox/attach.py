"""A ``RunnerTransport`` over a container's attach socket: the runner's stdin/stdout, no TCP, no exec.

The container is created with ``stdin_open=True, tty=False`` and attached (``stdin``, ``stdout``,
``stderr``, ``stream``) *before* it is started, so the runner's ready frame cannot be missed. Without a tty
the engine multiplexes the output streams: every chunk comes with an 8-byte header (stream type: 1 stdout,
2 stderr; 3 bytes padding; big-endian payload length). Stdin goes the other way raw.

The socket is driven by an ``asyncio.Protocol`` on the event loop, not by docker-py's blocking helpers: a
warm execution costs one write and one read of a pipe relayed by the engine. Memory stays bounded whatever
the container writes: stdout is buffered up to ``max_line_bytes`` past the last newline (then reading
pauses and ``receive_line`` reports a desync), stderr only keeps its tail for crash diagnostics.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from typing import cast

from emulator.sandbox.protocol import RunnerDesync

HEADER = struct.Struct(">BxxxL")
STDOUT, STDERR = 1, 2
STDERR_TAIL_BYTES = 4096


class AttachProtocol(asyncio.Protocol):
    """Demultiplexes the engine's framed output into a stdout buffer and a stderr tail."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.transport: asyncio.Transport | None = None
        self.stdout = bytearray()
        self.stderr_tail = bytearray()
        self.eof = False
        self._raw = bytearray()
        self._data_waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance check
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._raw += data
        while len(self._raw) >= HEADER.size:
            stream, size = HEADER.unpack_from(self._raw)
            end = HEADER.size + size
            if len(self._raw) < end:
                break
            payload = self._raw[HEADER.size : end]
            del self._raw[:end]
            if stream == STDOUT:
                self.stdout += payload
            elif stream == STDERR:
                self.stderr_tail = (self.stderr_tail + payload)[-STDERR_TAIL_BYTES:]
        if len(self.stdout) > self.max_line_bytes and not self._paused and self.transport is not None:
            self.transport.pause_reading()  # bounded memory: the reader decides (a line or a desync)
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too: the runner is gone

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._writable.set()
        self._wake()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    async def wait_data(self) -> None:
        loop = asyncio.get_running_loop()
        self._data_waiter = loop.create_future()
        try:
            await self._data_waiter
        finally:
            self._data_waiter = None

    def resume_if_drained(self) -> None:
        if self._paused and len(self.stdout) <= self.max_line_bytes and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def _wake(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)


class AttachTransport:
    """``RunnerTransport`` (``send`` / ``receive_line`` / ``close``) over an attach socket."""

    def __init__(self, transport: asyncio.Transport, protocol: AttachProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._scanned = 0  # stdout bytes already searched for a newline

    @classmethod
    async def connect(cls, sock: socket.socket, *, max_line_bytes: int) -> AttachTransport:
        """Take ownership of a connected, attached socket (plain unix or TCP; not TLS)."""
        if isinstance(sock, ssl.SSLSocket):
            raise RuntimeError("the docker sandbox needs a unix-socket or plain-TCP engine, not TLS")
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(lambda: AttachProtocol(max_line_bytes), sock=sock)
        return cls(transport, protocol)

    @property
    def at_eof(self) -> bool:
        """The engine closed the stream (the container's main process is gone)."""
        return self._protocol.eof

    @property
    def stderr_tail(self) -> str:
        """The last few KiB the runner wrote to its real stderr (crash diagnostics)."""
        return self._protocol.stderr_tail.decode("utf-8", "replace")

    async def send(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise EOFError("the runner's stdin is closed")
        self._transport.write(data)
        await self._protocol.wait_writable()

    async def receive_line(self) -> bytes:
        """The next stdout line including its newline; ``EOFError`` at end of stream."""
        protocol = self._protocol
        while True:
            buffer = protocol.stdout
            newline = buffer.find(b"\n", self._scanned)
            if newline >= 0:
                line = bytes(buffer[: newline + 1])
                del buffer[: newline + 1]
                self._scanned = 0
                protocol.resume_if_drained()
                return line
            self._scanned = len(buffer)
            if len(buffer) > protocol.max_line_bytes:
                raise RunnerDesync(
                    f"a frame longer than {protocol.max_line_bytes} bytes on the runner's stdout"
                )
            if protocol.eof:
                raise EOFError("the runner's stdout closed")
            await protocol.wait_data()

    async def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()
        self._protocol.eof = True
