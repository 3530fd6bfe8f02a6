"""The OpenAI-compatible Responses API surface: parse a request, run the turn, render events.

Routes: ``POST /compatible-mode/v1/responses`` and
``POST /api/v2/apps/protocols/compatible-mode/v1/responses`` (and ``GET …/responses/{id}``). Errors found
before the answer starts get their real HTTP status in the compatible-mode error shape;
a failure after the stream started is a ``response.failed`` event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from emulator.api.http import (
    AppState,
    TurnStreamingResponse,
    app_state,
    check_api_key,
    fold,
    parse_model,
    read_json,
)
from emulator.api.openai_errors import openai_error_response
from emulator.api.responses_render import ResponsesComposer
from emulator.api.responses_wire import ResponseObject
from emulator.api.sse import named_event
from emulator.api.transcript import turn_options
from emulator.core.errors import EmulatorError, InvalidParameter, ResourceNotFound
from emulator.core.loop import Turn, TurnRequest, validate_service_rules
from emulator.core.session import Conversation
from emulator.models.base import Message
from emulator.models.thinking import thinking_enabled

log = logging.getLogger(__name__)

PREFIXES = ("/compatible-mode/v1", "/api/v2/apps/protocols/compatible-mode/v1")

#: tool types accepted; the builtin model never calls web_search / web_extractor (accepted as the hosted
#: service recommends sending them together with the code interpreter)
KNOWN_TOOLS = {"code_interpreter", "web_search", "web_extractor", "function"}


class InputContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[InputContentPart]
    type: Literal["message"] | None = None


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str


class ResponsesRequest(BaseModel):
    """The request body; unknown extra fields are ignored, as the hosted service does."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    input: str | list[InputMessage]
    tools: list[ToolSpec] | None = None
    enable_thinking: bool | None = None
    stream: bool = False
    previous_response_id: str | None = None
    instructions: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    metadata: dict[str, str] | None = None
    store: bool | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)


def _text_of(content: str | list[InputContentPart]) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.text or "" for part in content if part.type in ("input_text", "output_text", "text"))


def to_messages(body: ResponsesRequest) -> list[Message]:
    messages: list[Message] = []
    if body.instructions:
        messages.append(Message("system", body.instructions))
    if isinstance(body.input, str):
        messages.append(Message("user", body.input))
    else:
        for item in body.input:
            role = "system" if item.role == "developer" else item.role
            messages.append(Message(role, _text_of(item.content)))
    if not messages or not any(m.role == "user" and m.content.strip() for m in messages):
        raise InvalidParameter("`input` must contain a non-empty user message.", param="input")
    return messages


def echo_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tools echoed in the response, shaped so the openai SDK's strict mode accepts them.

    ``web_extractor`` is not in OpenAI's tool vocabulary (strict validation would reject it), so it is not
    echoed; ``code_interpreter`` gets the ``container`` OpenAI's type requires.
    """
    echoed: list[dict[str, Any]] = []
    for tool in tools:
        if tool.type == "code_interpreter":
            echoed.append({"type": "code_interpreter", "container": {"type": "auto"}})
        elif tool.type == "web_search":
            echoed.append({"type": "web_search"})
        elif tool.type == "function":
            echoed.append(tool.model_dump())
    return echoed


def parse_request(raw: dict[str, Any]) -> tuple[ResponsesRequest, TurnRequest]:
    body = parse_model(ResponsesRequest, raw)
    tools = body.tools or []
    unknown = sorted({t.type for t in tools} - KNOWN_TOOLS)
    if unknown:
        raise InvalidParameter(
            f"Unsupported tool type {unknown[0]!r}; supported: "
            "code_interpreter, web_search, web_extractor, function.",
            param="tools",
        )
    code_interpreter = any(t.type == "code_interpreter" for t in tools)
    thinking = thinking_enabled(body.model, body.enable_thinking)
    validate_service_rules(
        code_interpreter=code_interpreter,
        thinking=thinking,
        function_tools=any(t.type == "function" for t in tools),
    )
    turn = TurnRequest(
        model=body.model, messages=to_messages(body), thinking=thinking, code_interpreter=code_interpreter
    )
    return body, turn


def build_router() -> APIRouter:
    router = APIRouter()
    for prefix in PREFIXES:
        router.add_api_route(f"{prefix}/responses", create_response, methods=["POST"])
        router.add_api_route(f"{prefix}/responses/{{response_id}}", get_response, methods=["GET"])
    return router


async def create_response(request: Request) -> Response:
    state = app_state(request)
    ids = state.ids
    request_id = ids.uuid4()
    response_id = ids.new("resp")
    try:
        check_api_key(request, state.settings)
        body, turn_request = parse_request(await read_json(request, state.settings))
        turn_request = replace(turn_request, request_id=request_id, options=turn_options(request))
        conversation = await _conversation_for(state, body, response_id)
        turn = await state.engine.prepare(turn_request, conversation)
    except EmulatorError as exc:
        return openai_error_response(exc, request_id=request_id, object_id=response_id)
    response = ResponseObject(
        id=response_id,
        created_at=ids.now(),
        model=body.model,
        status="in_progress",
        instructions=body.instructions,
        metadata=body.metadata,
        max_output_tokens=body.max_output_tokens,
        previous_response_id=body.previous_response_id,
        temperature=body.temperature,
        top_p=body.top_p,
        tools=echo_tools(body.tools or []),
    )
    composer = ResponsesComposer(response, ids)
    headers = {"x-request-id": request_id}
    if body.stream:
        return TurnStreamingResponse(_stream(state, composer, turn), turn, headers)
    failure = await fold(turn, composer.feed)
    _remember(state, turn.conversation, composer)
    if failure is not None:
        return openai_error_response(failure, request_id=request_id, object_id=response_id)
    return JSONResponse(composer.response.model_dump(mode="json"), headers=headers)


async def _stream(state: AppState, composer: ResponsesComposer, turn: Turn) -> AsyncGenerator[bytes, None]:
    for frame in composer.start():
        yield named_event(frame.type, frame.model_dump(mode="json"))
    async with aclosing(turn.events()) as events:
        async for event in events:
            for frame in composer.feed(event):
                yield named_event(frame.type, frame.model_dump(mode="json"))
    _remember(state, turn.conversation, composer)


def _remember(state: AppState, conversation: Conversation, composer: ResponsesComposer) -> None:
    if composer.response.status == "completed":
        state.conversations.remember_response(
            composer.response.id, conversation, composer.response.model_dump(mode="json")
        )


async def _conversation_for(state: AppState, body: ResponsesRequest, response_id: str) -> Conversation:
    if body.previous_response_id is None:
        return await state.conversations.create(response_id)
    conversation = state.conversations.conversation_of(body.previous_response_id)
    if conversation is None:
        raise ResourceNotFound(
            f"Response with id '{body.previous_response_id}' not found (it may have expired).",
            param="previous_response_id",
        )
    return conversation


async def get_response(request: Request, response_id: str) -> Response:
    state = app_state(request)
    request_id = state.ids.uuid4()
    try:
        check_api_key(request, state.settings)
        stored = state.conversations.response(response_id)
        if stored is None:
            raise ResourceNotFound(f"Response with id '{response_id}' not found.", param="response_id")
    except EmulatorError as exc:
        return openai_error_response(exc, request_id=request_id)
    return JSONResponse(stored)
