"""A tiny OpenAI-compatible chat-completions server, scripted per test: the test double of an external model.

Each ``POST /v1/chat/completions`` pops the next ``Reply`` (a status + error body, or a list of streamed
chunks, optionally slow) and records the request body, so a test can check what the emulator sent back
(tool messages, tool definitions). With nothing queued it answers 500 so a missing script is obvious.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from emulator.testing import free_port


@dataclass
class Reply:
    """One scripted upstream answer."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None  # the JSON body of an error status
    delay: float = 0.0  # seconds before the response starts (to test timeouts)
    chunk_delay: float = 0.0  # seconds between chunks
    raw: list[str] | None = None  # raw SSE lines instead of chunks (malformed streams)
    headers: dict[str, str] = field(default_factory=dict)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def completion(
    *,
    reasoning: Sequence[str] = (),
    content: Sequence[str] = (),
    tool_args: Sequence[str] | None = None,
    tool_name: str = "code_interpreter",
    call_id: str = "call_1",
    usage: tuple[int, int, int] | None = (100, 20, 5),
    chunk_delay: float = 0.0,
) -> Reply:
    """A streamed completion: reasoning deltas, content deltas, then a tool call whose arguments arrive in
    the given pieces (split across chunks, as real servers stream them), then usage."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"reasoning_content": piece}) for piece in reasoning]
    chunks += [_chunk({"content": piece}) for piece in content]
    if tool_args is not None:
        first = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": tool_name, "arguments": ""},
        }
        chunks.append(_chunk({"tool_calls": [first]}))
        chunks += [_chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in tool_args]
    chunks.append(_chunk({}, finish="tool_calls" if tool_args is not None else "stop"))
    if usage is not None:
        prompt, completion_tokens, reasoning_tokens = usage
        chunks.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "fake-model",
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt + completion_tokens,
                    "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
                },
            }
        )
    return Reply(chunks=chunks, chunk_delay=chunk_delay)


def error(status: int, message: str, code: str = "upstream_error") -> Reply:
    return Reply(status=status, error={"error": {"message": message, "type": code, "code": code}})


class FakeUpstream:
    """The fake server's state: the queue of replies and the requests received."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.url = ""  # http://127.0.0.1:<port>/v1 once running
        self.app = FastAPI()
        self.app.add_api_route("/v1/chat/completions", self._complete, methods=["POST"])

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _complete(self, request: Request) -> Response:
        self.requests.append(await request.json())
        if not self.replies:
            return JSONResponse({"error": {"message": "fake upstream: no reply scripted"}}, status_code=500)
        reply = self.replies.popleft()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            return JSONResponse(reply.error or {}, status_code=reply.status, headers=reply.headers)
        return StreamingResponse(self._stream(reply), media_type="text/event-stream")

    async def _stream(self, reply: Reply) -> AsyncIterator[bytes]:
        lines = reply.raw if reply.raw is not None else [f"data: {json.dumps(c)}" for c in reply.chunks]
        for line in lines:
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield f"{line}\n\n".encode()
        if reply.raw is None:
            yield b"data: [DONE]\n\n"


@contextmanager
def run_fake_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fake-upstream", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake upstream did not start")
        time.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=30)
