"""The DashScope native surface: ``POST /api/v1/services/aigc/text-generation/generation``.

Body: ``{"model", "input":{"messages":[…]} | {"prompt":…}, "parameters":{…}}``. Streaming when the header
``X-DashScope-SSE: enable`` is present (what the dashscope SDK sends) or ``parameters.stream`` is true.

Errors found before streaming starts are answered with the real HTTP status and the native JSON body, also
when SSE was requested: the dashscope SDK reads a non-200 JSON body and reports its status, ``code`` and
``message``. A failure after streaming started is one ``event:error`` frame with a ``status:`` line (the
SDK's sync and aio parsers read the status code from it), then the stream ends.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from emulator.api.dashscope_render import NativeComposer, NativeFrame, dump, native_error
from emulator.api.http import (
    TurnStreamingResponse,
    app_state,
    check_api_key,
    error_headers,
    fold,
    parse_model,
    read_json,
)
from emulator.api.sse import dashscope_error_event, dashscope_event
from emulator.api.transcript import ChatMessage, conversation_for, messages_to_add, to_messages, turn_options
from emulator.core.errors import EmulatorError, InvalidParameter
from emulator.core.loop import Turn, TurnRequest, validate_service_rules
from emulator.core.tokens import PROMPT_OVERHEAD_TOKENS, count_tokens
from emulator.models.base import Message
from emulator.models.thinking import thinking_enabled

GENERATION_PATH = "/api/v1/services/aigc/text-generation/generation"


class NativeInput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    messages: list[ChatMessage] | None = None
    prompt: str | None = None


class NativeTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str


class NativeParameters(BaseModel):
    """``parameters``; unknown keys (``top_k``, ``seed``, …) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    enable_code_interpreter: bool = False
    enable_thinking: bool | None = None
    result_format: Literal["message", "text"] | None = None
    incremental_output: bool | None = None
    stream: bool | None = None
    tools: list[NativeTool] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)


class NativeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1)
    input: NativeInput
    parameters: NativeParameters = Field(default_factory=NativeParameters)


def default_result_format(model: str) -> Literal["message", "text"]:
    """The hosted default: ``message`` for the qwen3 families, ``text`` for older models."""
    return "message" if model.startswith("qwen3") else "text"


def parse_request(raw: dict[str, Any]) -> tuple[NativeRequest, TurnRequest]:
    body = parse_model(NativeRequest, raw)
    params = body.parameters
    thinking = thinking_enabled(body.model, params.enable_thinking)
    validate_service_rules(
        code_interpreter=params.enable_code_interpreter,
        thinking=thinking,
        function_tools=any(tool.type == "function" for tool in params.tools or []),
    )
    if body.input.messages is not None:
        messages = to_messages(body.input.messages, param="input.messages")
        if body.input.prompt:
            messages.append(Message("user", body.input.prompt))
    elif body.input.prompt and body.input.prompt.strip():
        messages = [Message("user", body.input.prompt)]
    else:
        raise InvalidParameter("`input.messages` or `input.prompt` is required.", param="input")
    turn = TurnRequest(
        model=body.model,
        messages=messages,
        thinking=thinking,
        code_interpreter=params.enable_code_interpreter,
    )
    return body, turn


def wants_stream(request: Request, body: NativeRequest) -> bool:
    return request.headers.get("x-dashscope-sse", "").lower() == "enable" or bool(body.parameters.stream)


def build_router() -> APIRouter:
    router = APIRouter()
    router.add_api_route(GENERATION_PATH, generation, methods=["POST"])
    return router


def native_error_response(exc: EmulatorError, request_id: str) -> JSONResponse:
    """The one place native errors become HTTP answers (before any byte of a stream)."""
    headers = {**error_headers(exc), "x-request-id": request_id}
    return JSONResponse(dump(native_error(exc, request_id)), status_code=exc.status, headers=headers)


def _prompt_estimate(messages: list[Message]) -> int:
    """Input tokens shown before the loop reports its first usage (same approximation as the loop)."""
    return PROMPT_OVERHEAD_TOKENS + sum(count_tokens(m.content) + 4 for m in messages)


async def generation(request: Request) -> Response:
    state = app_state(request)
    request_id = state.ids.uuid4()
    try:
        check_api_key(request, state.settings)
        body, parsed = parse_request(await read_json(request, state.settings))
        conversation = await conversation_for(state, request, f"native-{request_id}")
        turn_request = TurnRequest(
            model=parsed.model,
            messages=messages_to_add(parsed.messages, conversation),
            thinking=parsed.thinking,
            code_interpreter=parsed.code_interpreter,
            request_id=request_id,
            options=turn_options(request),
        )
        history = [entry for entry in conversation.transcript if isinstance(entry, Message)]
        prompt_tokens = _prompt_estimate([*history, *turn_request.messages])
        turn = await state.engine.prepare(turn_request, conversation)
    except EmulatorError as exc:
        return native_error_response(exc, request_id)
    params = body.parameters
    composer = NativeComposer(
        request_id=request_id,
        thinking=parsed.thinking,
        result_format=params.result_format or default_result_format(body.model),
        incremental=params.incremental_output is not False,
        prompt_tokens=prompt_tokens,
    )
    headers = {"x-request-id": request_id}
    if wants_stream(request, body):
        return TurnStreamingResponse(_stream(composer, turn), turn, headers)
    failure = await fold(turn, composer.feed)
    if failure is not None:
        return native_error_response(failure, request_id)
    return JSONResponse(dump(composer.final()), headers=headers)


def encode(frame: NativeFrame) -> bytes:
    if frame.status != 200:
        return dashscope_error_event(frame.seq, frame.status, dump(frame.payload))
    return dashscope_event(frame.seq, dump(frame.payload))


async def _stream(composer: NativeComposer, turn: Turn) -> AsyncGenerator[bytes, None]:
    async with aclosing(turn.events()) as events:
        async for event in events:
            for frame in composer.feed(event):
                yield encode(frame)
                if frame.status != 200:
                    return
