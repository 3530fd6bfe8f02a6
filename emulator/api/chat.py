"""The OpenAI-compatible Chat Completions surface: parse a request, run the turn, render chunks.

Routes: ``POST /compatible-mode/v1/chat/completions`` and
``POST /api/v2/apps/protocols/compatible-mode/v1/chat/completions``, plus ``GET …/models`` (and
``…/models/{id}``). ``enable_code_interpreter`` and ``enable_thinking`` are top-level keys (that is how the
openai SDK sends ``extra_body``). With the code interpreter the call is streaming-only, as on the hosted
service. Errors found before the answer starts get their real HTTP status; a failure after the stream
started is one ``data: {"error":…}`` chunk, then the stream ends (no ``[DONE]``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from emulator.api.chat_render import ChatComposer, ChatErrorChunk
from emulator.api.http import TurnStreamingResponse, app_state, check_api_key, fold, parse_model, read_json
from emulator.api.openai_errors import openai_error_response
from emulator.api.sse import DONE, data_event
from emulator.api.transcript import ChatMessage, conversation_for, messages_to_add, to_messages, turn_options
from emulator.config import Settings
from emulator.core.errors import EmulatorError, InvalidParameter, ModelNotFound
from emulator.core.loop import Turn, TurnRequest, validate_service_rules
from emulator.models.thinking import thinking_enabled

PREFIXES = ("/compatible-mode/v1", "/api/v2/apps/protocols/compatible-mode/v1")

#: ``created`` of every entry of ``GET /models`` (the served names have no real creation date)
MODELS_CREATED = 1_700_000_000


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str


class ChatRequest(BaseModel):
    """The request body; unknown extra fields are ignored, as the hosted service does."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    enable_thinking: bool | None = None
    enable_code_interpreter: bool = False
    tools: list[ChatTool] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=1)


def parse_request(raw: dict[str, Any]) -> tuple[ChatRequest, TurnRequest]:
    """The body and the loop's request; raises ``InvalidParameter`` for every rule the service checks."""
    body = parse_model(ChatRequest, raw)
    thinking = thinking_enabled(body.model, body.enable_thinking)
    validate_service_rules(
        code_interpreter=body.enable_code_interpreter,
        thinking=thinking,
        function_tools=any(tool.type == "function" for tool in body.tools or []),
    )
    if body.enable_code_interpreter and not body.stream:
        raise InvalidParameter(
            "The code interpreter only supports streaming output: set stream to true.", param="stream"
        )
    messages = to_messages(body.messages, param="messages")
    turn = TurnRequest(
        model=body.model,
        messages=messages,
        thinking=thinking,
        code_interpreter=body.enable_code_interpreter,
    )
    return body, turn


def build_router() -> APIRouter:
    router = APIRouter()
    for prefix in PREFIXES:
        router.add_api_route(f"{prefix}/chat/completions", create_chat_completion, methods=["POST"])
        router.add_api_route(f"{prefix}/models", list_models, methods=["GET"])
        router.add_api_route(f"{prefix}/models/{{model_id:path}}", retrieve_model, methods=["GET"])
    return router


async def create_chat_completion(request: Request) -> Response:
    state = app_state(request)
    ids = state.ids
    request_id = ids.uuid4()
    completion_id = f"chatcmpl-{ids.uuid4()}"
    try:
        check_api_key(request, state.settings)
        body, parsed = parse_request(await read_json(request, state.settings))
        conversation = await conversation_for(state, request, completion_id)
        turn_request = TurnRequest(
            model=parsed.model,
            messages=messages_to_add(parsed.messages, conversation),
            thinking=parsed.thinking,
            code_interpreter=parsed.code_interpreter,
            request_id=request_id,
            options=turn_options(request),
        )
        turn = await state.engine.prepare(turn_request, conversation)
    except EmulatorError as exc:
        return openai_error_response(exc, request_id=request_id, object_id=completion_id)
    composer = ChatComposer(
        completion_id=completion_id,
        request_id=request_id,
        model=body.model,
        created=ids.now(),
        thinking=parsed.thinking,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )
    headers = {"x-request-id": request_id}
    if body.stream:
        return TurnStreamingResponse(_stream(composer, turn), turn, headers)
    failure = await fold(turn, composer.feed)
    if failure is not None:
        return openai_error_response(failure, request_id=request_id, object_id=completion_id)
    return JSONResponse(composer.completion().model_dump(mode="json"), headers=headers)


async def _stream(composer: ChatComposer, turn: Turn) -> AsyncGenerator[bytes, None]:
    for frame in composer.start():
        yield data_event(frame.model_dump(mode="json"))
    async with aclosing(turn.events()) as events:
        async for event in events:
            for frame in composer.feed(event):
                yield data_event(frame.model_dump(mode="json"))
                if isinstance(frame, ChatErrorChunk):
                    return  # the openai SDK raises on the error chunk; nothing follows it
    yield DONE


def served_models(settings: Settings) -> list[str]:
    names = list(dict.fromkeys(settings.model_names))
    if settings.upstream_model and settings.upstream_model not in names:
        names.insert(0, settings.upstream_model)
    return names


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": MODELS_CREATED, "owned_by": "system"}


async def list_models(request: Request) -> Response:
    state = app_state(request)
    request_id = state.ids.uuid4()
    try:
        check_api_key(request, state.settings)
    except EmulatorError as exc:
        return openai_error_response(exc, request_id=request_id)
    data = [_model_entry(name) for name in served_models(state.settings)]
    return JSONResponse({"object": "list", "data": data}, headers={"x-request-id": request_id})


async def retrieve_model(request: Request, model_id: str) -> Response:
    state = app_state(request)
    request_id = state.ids.uuid4()
    try:
        check_api_key(request, state.settings)
        if model_id not in served_models(state.settings):
            raise ModelNotFound(
                f"The model `{model_id}` does not exist or you do not have access to it.", param="model"
            )
    except EmulatorError as exc:
        return openai_error_response(exc, request_id=request_id)
    return JSONResponse(_model_entry(model_id), headers={"x-request-id": request_id})
