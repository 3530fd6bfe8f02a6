"""One error model, three surfaces: every row of docs/errors.md on Responses, Chat Completions and native.

Each case sends one bad request as raw HTTP and asserts the exact status, body, code, message and retry
headers of that surface. Nothing a client gets wrong may answer 500.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from emulator.api.dashscope_render import DASHSCOPE_ERROR_CODES
from emulator.api.openai_errors import OPENAI_ERROR_CODES
from emulator.config import Settings
from emulator.core.errors import EmulatorError, ModelFailed, SandboxUnavailable
from emulator.models.registry import ModelRegistry
from emulator.testing import RunningEmulator, run_emulator
from tests.conftest import TEST_KEY
from tests.fakes.doubles import MemorySandbox, ScriptedStep, StepScriptModel

SURFACES = ("responses", "chat", "native")
ASK = "Berapa 123 pangkat 21?"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NAMES = ("qwen3-max", "qwen3-max-2026-01-23")
SCRIPT = [
    ScriptedStep(reasoning=["Computing."], code="123**21"),
    ScriptedStep(reasoning=["Done."], text=["OK."]),
]


def base_body(surface: str) -> dict[str, Any]:
    """A valid streaming code-interpreter request of each surface; rows break one thing in it."""
    if surface == "responses":
        return {
            "model": "qwen3-max",
            "input": ASK,
            "tools": [{"type": "code_interpreter"}],
            "enable_thinking": True,
            "stream": True,
        }
    if surface == "chat":
        return {
            "model": "qwen3-max",
            "messages": [{"role": "user", "content": ASK}],
            "enable_code_interpreter": True,
            "enable_thinking": True,
            "stream": True,
        }
    return {
        "model": "qwen3-max",
        "input": {"messages": [{"role": "user", "content": ASK}]},
        "parameters": {"enable_code_interpreter": True, "enable_thinking": True, "stream": True},
    }


def path(surface: str) -> str:
    return {
        "responses": "/compatible-mode/v1/responses",
        "chat": "/compatible-mode/v1/chat/completions",
        "native": "/api/v1/services/aigc/text-generation/generation",
    }[surface]


@dataclass
class Row:
    name: str
    status: int
    openai_code: str | None  # None: the row does not apply to the OpenAI-compatible surfaces
    native_code: str | None
    message: str  # the message as the OpenAI-compatible surfaces send it
    param: str | None = None
    server: str = "plain"  # which server the row needs
    mutate: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    raw: bytes | None = None  # a body sent verbatim instead of the (mutated) JSON body
    headers: dict[str, str] = field(default_factory=dict)
    surfaces: tuple[str, ...] = SURFACES
    messages: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # per-surface (message, param)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(key)


def _set(keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        *parents, last = keys.split(".")
        target = body
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value

    return apply


FUNCTION_TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
BIG = "x" * 3000

ROWS = [
    Row(
        "malformed_json",
        400,
        "invalid_parameter_error",
        "InvalidParameter",
        "The request body is not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1).",
        raw=b"{bad",
    ),
    Row(
        "missing_field",
        400,
        "invalid_parameter_error",
        "InvalidParameter",
        "Invalid value for `model`: Field required.",
        param="model",
        mutate={s: _drop("model") for s in SURFACES},
    ),
    Row(
        "wrong_typed_field",
        400,
        "invalid_parameter_error",
        "InvalidParameter",
        "",
        mutate={
            "responses": _set("stream", "sometimes"),
            "chat": _set("stream", "sometimes"),
            "native": _set("parameters.stream", "sometimes"),
        },
        messages={
            "responses": (
                "Invalid value for `stream`: Input should be a valid boolean, unable to interpret input.",
                "stream",
            ),
            "chat": (
                "Invalid value for `stream`: Input should be a valid boolean, unable to interpret input.",
                "stream",
            ),
            "native": (
                "Invalid value for `parameters.stream`: "
                "Input should be a valid boolean, unable to interpret input.",
                "parameters.stream",
            ),
        },
    ),
    Row(
        "unknown_model",
        404,
        "model_not_found",
        "ModelNotFound",
        "The model `qwen-nope` does not exist or you do not have access to it.",
        param="model",
        mutate={s: _set("model", "qwen-nope") for s in SURFACES},
    ),
    Row(
        "empty_messages",
        400,
        "invalid_parameter_error",
        "InvalidParameter",
        "",
        mutate={
            "responses": _set("input", []),
            "chat": _set("messages", []),
            "native": _set("input.messages", []),
        },
        messages={
            "responses": ("`input` must contain a non-empty user message.", "input"),
            "chat": ("`messages` must contain at least one message.", "messages"),
            "native": ("`input.messages` must contain at least one message.", "input.messages"),
        },
    ),
    Row(
        "code_interpreter_without_thinking",
        400,
        "invalid_parameter_error",
        "InvalidParameter",
        "The code interpreter requires thinking mode: set enable_thinking to true.",
        param="enable_thinking",
        mutate={
            "responses": _set("enable_thinking", False),
            "chat": _set("enable_thinking", False),
            "native": _set("parameters.enable_thinking", False),
        },
    ),
    Row(
        "code_interpreter_with_function_tools",
        400,
        "invalid_parameter_error",
        "InvalidParameter",
        "The code interpreter cannot be used together with function calling: remove the tools of type "
        "`function` or disable the code interpreter.",
        param="tools",
        mutate={
            "responses": lambda b: b["tools"].append(
                {"type": "function", "name": "f", "parameters": {"type": "object"}}
            ),
            "chat": _set("tools", [FUNCTION_TOOL]),
            "native": _set("parameters.tools", [FUNCTION_TOOL]),
        },
    ),
    Row(
        "non_stream_chat_with_code_interpreter",
        400,
        "invalid_parameter_error",
        None,
        "The code interpreter only supports streaming output: set stream to true.",
        param="stream",
        mutate={"chat": _set("stream", False)},
        surfaces=("chat",),
    ),
    Row(
        "bad_api_key",
        401,
        "invalid_api_key",
        "InvalidApiKey",
        "Invalid API-key provided.",
        server="keyed",
        headers={"Authorization": "Bearer sk-wrong"},
    ),
    Row(
        "sandbox_unavailable",
        503,
        "service_unavailable",
        "ServiceUnavailable",
        "No sandbox is free right now; retry shortly.",
        server="no_sandbox",
    ),
    Row(
        "request_too_large",
        413,
        "request_too_large",
        "RequestTooLarge",
        "The request body is larger than the limit of 2048 bytes.",
        server="small",
        mutate={
            "responses": _set("input", BIG),
            "chat": _set("messages.0.content", BIG),
            "native": _set("input.messages.0.content", BIG),
        },
    ),
]

CASES = [pytest.param(row, surface, id=f"{row.name}-{surface}") for row in ROWS for surface in row.surfaces]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, RunningEmulator]]:
    def model() -> ModelRegistry:
        return ModelRegistry([StepScriptModel(SCRIPT, NAMES)])

    busy = SandboxUnavailable("No sandbox is free right now; retry shortly.", retry_after=7)
    with ExitStack() as stack:

        def start(settings: Settings, sandbox: MemorySandbox) -> RunningEmulator:
            return stack.enter_context(run_emulator(settings, sandbox=sandbox, models=model()))

        yield {
            "plain": start(Settings(), MemorySandbox()),
            "keyed": start(Settings(api_key=TEST_KEY), MemorySandbox()),
            "no_sandbox": start(Settings(), MemorySandbox(open_error=busy)),
            "small": start(Settings(max_request_bytes=2048), MemorySandbox()),
        }


def send(server: RunningEmulator, row: Row, surface: str) -> httpx.Response:
    headers = {"Authorization": "Bearer sk-anything", **row.headers}
    if surface == "native":
        headers["X-DashScope-SSE"] = "enable"  # errors before streaming keep their status even with SSE
    if row.raw is not None:
        content = row.raw
    else:
        body = copy.deepcopy(base_body(surface))
        if surface in row.mutate:
            row.mutate[surface](body)
        content = json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    return httpx.post(server.base_url + path(surface), content=content, headers=headers, timeout=30)


@pytest.mark.parametrize(("row", "surface"), CASES)
def test_error_row_on_surface(servers: dict[str, RunningEmulator], row: Row, surface: str) -> None:
    response = send(servers[row.server], row, surface)
    message, param = row.messages.get(surface, (row.message, row.param))
    assert response.status_code == row.status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-should-retry"] == ("true" if row.status >= 500 else "false")
    if row.status == 503:
        assert response.headers["retry-after"] == "7"
    else:
        assert "retry-after" not in response.headers
    body = response.json()
    if surface == "native":
        assert list(body) == ["code", "message", "request_id"]
        assert body["code"] == row.native_code
        expected = f"<400> InternalError.Algo.InvalidParameter: {message}" if row.status == 400 else message
        assert body["message"] == expected
        assert UUID.fullmatch(body["request_id"])
        assert response.headers["x-request-id"] == body["request_id"]
        return
    assert list(body) == ["error", "id", "request_id"] or list(body) == ["error", "request_id"]
    kind = "invalid_request_error" if row.status < 500 else "service_unavailable_error"
    assert body["error"] == {"code": row.openai_code, "param": param, "message": message, "type": kind}
    assert UUID.fullmatch(body["request_id"])
    assert body["id"].startswith("resp_" if surface == "responses" else "chatcmpl-")


def test_the_right_key_passes_where_the_wrong_one_fails(servers: dict[str, RunningEmulator]) -> None:
    server = servers["keyed"]
    ok = Row("ok", 200, None, None, "", headers={"Authorization": f"Bearer {TEST_KEY}"})
    for surface in SURFACES:
        assert send(server, ok, surface).status_code == 200
    missing = httpx.post(server.base_url + path("chat"), json=base_body("chat"))
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    models = httpx.get(server.base_url + "/compatible-mode/v1/models")
    assert models.status_code == 401


# -- after the stream started: no second status, one error in each surface's stream shape -----------------


@pytest.fixture(scope="module")
def failing() -> Iterator[RunningEmulator]:
    steps = [
        ScriptedStep(reasoning=["Computing."], code="123**21"),
        ScriptedStep(raises=ModelFailed("The model stopped answering.")),
    ]
    with run_emulator(
        Settings(), sandbox=MemorySandbox(), models=ModelRegistry([StepScriptModel(steps, NAMES)])
    ) as running:
        yield running


@pytest.mark.parametrize("surface", SURFACES)
def test_failure_after_streaming_started(failing: RunningEmulator, surface: str) -> None:
    row = Row("mid_stream", 200, None, None, "")
    response = send(failing, row, surface)
    assert response.status_code == 200
    blocks = [block for block in response.text.split("\n\n") if block]
    last = blocks[-1]
    if surface == "responses":
        assert last.startswith("event: response.failed\ndata: ")
        failed = json.loads(last.split("data: ", 1)[1])["response"]
        assert failed["status"] == "failed"
        assert failed["error"] == {"code": "internal_error", "message": "The model stopped answering."}
    elif surface == "chat":
        assert json.loads(last[len("data: ") :])["error"] == {
            "code": "internal_error",
            "param": None,
            "message": "The model stopped answering.",
            "type": "internal_error",
        }
        assert "data: [DONE]" not in blocks
    else:
        head, data = last.split("\ndata:", 1)
        assert head == f"id:{len(blocks)}\nevent:error\nstatus:500\n:HTTP_STATUS/500"
        assert json.loads(data)["code"] == "InternalError"
        assert json.loads(data)["message"] == "The model stopped answering."


# -- the maps are total ------------------------------------------------------------------------------------


def _all_kinds(cls: type[EmulatorError]) -> set[str]:
    kinds = {cls.kind}
    for sub in cls.__subclasses__():
        kinds |= _all_kinds(sub)
    return kinds


def test_error_maps_cover_every_error_kind() -> None:
    kinds = _all_kinds(EmulatorError)
    assert kinds >= {
        "invalid_parameter",
        "invalid_api_key",
        "model_not_found",
        "service_unavailable",
        "request_too_large",
    }
    assert kinds - set(OPENAI_ERROR_CODES) == set()
    assert kinds - set(DASHSCOPE_ERROR_CODES) == set()
