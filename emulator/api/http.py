"""Edge concerns shared by every surface: reading the body, the API key, error headers, the app state.

Each surface still renders its own error *body* (one function per surface); this module only decides what
is common: how a body is read and limited, how a key is checked, and which retry headers go out.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope, Send

from emulator.api.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from emulator.config import Settings
from emulator.core.errors import AuthenticationFailed, EmulatorError, InvalidParameter, RequestTooLarge
from emulator.core.events import Event, Failed
from emulator.core.ids import IdFactory
from emulator.core.loop import Engine, Turn
from emulator.core.session import ConversationStore

M = TypeVar("M", bound=BaseModel)

SESSION_HEADER = "x-emulator-session-id"


@dataclass
class AppState:
    """What the routes need, built once by ``app.create_app``'s lifespan."""

    settings: Settings
    engine: Engine
    conversations: ConversationStore
    ids: IdFactory
    sandbox_note: str = ""  # why the sandbox is what it is (e.g. the auto fallback's reason)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.emulator
    return state


def check_api_key(request: Request, settings: Settings) -> None:
    """401 when a key is configured and the request's Bearer key (or ``api-key`` header) differs."""
    if not settings.api_key:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        token = request.headers.get("api-key", "")
    if not token or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
        raise AuthenticationFailed("Invalid API-key provided.")


async def read_json(request: Request, settings: Settings) -> dict[str, Any]:
    """The request body as a JSON object, with the size limit and clear errors for malformed input."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_request_bytes:
        raise RequestTooLarge(_too_large(settings))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > settings.max_request_bytes:
            raise RequestTooLarge(_too_large(settings))
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidParameter("The request body is empty; send a JSON object.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameter(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    return body


def _too_large(settings: Settings) -> str:
    return f"The request body is larger than the limit of {settings.max_request_bytes} bytes."


def parse_model(model: type[M], body: dict[str, Any]) -> M:
    """Validate ``body`` against a request model; the first problem becomes an ``InvalidParameter``."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"] if not _is_type_tag(part)) or "body"
        message = first["msg"]
        if first["type"] == "missing":
            message = "Field required"
        raise InvalidParameter(f"Invalid value for `{where}`: {message}.", param=where) from None


def _is_type_tag(part: object) -> bool:
    """Pydantic puts the union member tried (``str``, ``list[InputMessage]``) into error locations."""
    return isinstance(part, str) and (part in {"str", "int", "float", "bool", "dict", "list"} or "[" in part)


def error_headers(exc: EmulatorError) -> dict[str, str]:
    """Retry hints for the openai SDK (it retries 5xx/429 unless told not to) and everyone else."""
    headers = {"x-should-retry": "true" if exc.retryable else "false"}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return headers


async def fold(turn: Turn, feed: Callable[[Event], object]) -> EmulatorError | None:
    """Run a turn to its end for a non-stream answer, feeding every event to a composer.

    Returns the error of a ``Failed`` event (the answer is then that error's status and body), else None.
    """
    async with aclosing(turn.events()) as events:
        async for event in events:
            feed(event)
            if isinstance(event, Failed):
                return event.error
    return None


class TurnStreamingResponse(StreamingResponse):
    """An SSE answer that always releases its turn, also when the client leaves before the first byte.

    Starlette cancels a streaming response on disconnect; a body generator that never started runs no
    ``finally``, and one suspended at a ``yield`` is only closed when garbage collected. Either way the
    conversation would stay locked and a one-shot conversation would keep its sandbox.
    """

    def __init__(self, body: AsyncGenerator[bytes, None], turn: Turn, headers: dict[str, str]) -> None:
        super().__init__(body, media_type=SSE_MEDIA_TYPE, headers={**SSE_HEADERS, **headers})
        self._body = body
        self._turn = turn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()
            await self._turn.aclose()
