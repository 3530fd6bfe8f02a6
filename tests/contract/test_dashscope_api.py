"""The DashScope native surface through the real dashscope SDK and as raw bytes, against a live emulator."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator

import dashscope
import httpx
import pytest
from dashscope import AioGeneration, Generation
from dashscope.api_entities.aio_session import close_shared_aio_session

from emulator.core.errors import ModelFailed
from emulator.models.registry import ModelRegistry
from emulator.testing import RunningEmulator
from tests.fakes.doubles import MemorySandbox, ScriptedStep, StepScriptModel

R21 = str(123**21)
R23 = str(123**23)
ASK = [{"role": "user", "content": "Berapa 123 pangkat 21?"}]
TWO_STEP = [
    {
        "role": "user",
        "content": "Run the code interpreter twice. First, calculate the value of 123 to the power of 23. "
        "Second, divide the result by 5.",
    }
]
CI_PARAMS = {"enable_code_interpreter": True, "enable_thinking": True, "result_format": "message"}
SSE = {"X-DashScope-SSE": "enable"}
NAMES = ("qwen3-max", "qwen3-max-2026-01-23")
FRAME = re.compile(r"id:(\d+)\nevent:result\n:HTTP_STATUS/200\ndata:(\{.*\})")


@pytest.fixture
def native(server: RunningEmulator) -> Iterator[str]:
    dashscope.base_http_api_url = server.dashscope_base_url
    yield f"{server.dashscope_base_url}/services/aigc/text-generation/generation"


def native_frames(raw: str) -> list[dict]:
    """Parses the exact native frame layout; fails on anything else (spaces, extra lines, loose JSON)."""
    blocks = [block for block in raw.split("\n\n") if block]
    frames = []
    for position, block in enumerate(blocks, start=1):
        match = FRAME.fullmatch(block)
        assert match, block
        assert int(match[1]) == position
        payload = json.loads(match[2])
        assert json.dumps(payload, ensure_ascii=False, separators=(",", ":")) == match[2]  # compact JSON
        frames.append(payload)
    return frames


def post(url: str, parameters: dict, messages: list | None = None, **kw: object) -> httpx.Response:
    body = {"model": "qwen3-max-2026-01-23", "input": {"messages": messages or ASK}, "parameters": parameters}
    return httpx.post(url, json=body, timeout=60, **kw)  # type: ignore[arg-type]


def test_raw_sse_frames_match_the_curl_dump(native: str) -> None:
    response = post(native, CI_PARAMS, headers=SSE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = native_frames(response.text)
    assert len({frame["request_id"] for frame in frames}) == 1
    assert all(frame["output"]["choices"][0]["message"]["role"] == "assistant" for frame in frames)
    reasons = [frame["output"]["choices"][0]["finish_reason"] for frame in frames]
    assert reasons == ["null"] * (len(frames) - 1) + ["stop"]
    last = frames[-1]
    assert last["output"]["choices"][0]["message"] == {
        "content": "",
        "reasoning_content": "",
        "role": "assistant",
    }
    assert last["output"]["tool_info"] == [
        {"code_interpreter": {"code": "123**21"}, "type": "code_interpreter"}
    ]
    assert last["usage"]["plugins"] == {"code_interpreter": {"count": 1}}
    content = "".join(frame["output"]["choices"][0]["message"]["content"] for frame in frames)
    assert R21 in content
    first_tool = next(i for i, frame in enumerate(frames) if "tool_info" in frame["output"])
    assert all("tool_info" in frame["output"] for frame in frames[first_tool:])
    assert all("plugins" not in frame["usage"] for frame in frames[:first_tool])
    # usage is cumulative: input tokens grow once the execution result is fed back
    assert last["usage"]["input_tokens"] > frames[first_tool]["usage"]["input_tokens"]
    outputs = [frame["usage"]["output_tokens"] for frame in frames]
    assert outputs == sorted(outputs)
    assert last["usage"]["total_tokens"] == last["usage"]["input_tokens"] + last["usage"]["output_tokens"]


def test_parameters_stream_true_streams_without_the_header(native: str) -> None:
    frames = native_frames(post(native, {**CI_PARAMS, "stream": True}).text)
    assert frames[-1]["output"]["choices"][0]["finish_reason"] == "stop"


def test_incremental_output_false_sends_the_text_so_far(native: str) -> None:
    frames = native_frames(post(native, {**CI_PARAMS, "incremental_output": False}, headers=SSE).text)
    contents = [frame["output"]["choices"][0]["message"]["content"] for frame in frames]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(contents))
    assert R21 in contents[-1] and R21 in contents[-2]
    reasoning = [frame["output"]["choices"][0]["message"]["reasoning_content"] for frame in frames]
    assert reasoning[-1] and all(reasoning[-1].startswith(r) for r in reasoning)


def test_non_stream_body_is_the_last_frame_with_full_text(native: str) -> None:
    response = post(native, CI_PARAMS)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["output", "usage", "request_id"]
    choice = body["output"]["choices"][0]
    assert choice["finish_reason"] == "stop" and R21 in choice["message"]["content"]
    assert choice["message"]["reasoning_content"]
    assert body["output"]["tool_info"] == [
        {"code_interpreter": {"code": "123**21"}, "type": "code_interpreter"}
    ]
    assert body["usage"]["plugins"]["code_interpreter"]["count"] == 1


def test_sdk_stream_with_incremental_output_false_is_merged_by_the_sdk(native: str) -> None:
    chunks = list(
        Generation.call(
            api_key="sk-anything",
            model="qwen3-max-2026-01-23",
            messages=TWO_STEP,
            result_format="message",
            enable_thinking=True,
            enable_code_interpreter=True,
            stream=True,
            incremental_output=False,
        )
    )
    assert all(chunk.status_code == 200 for chunk in chunks)
    last = chunks[-1]
    assert last.output.choices[0].finish_reason == "stop"
    assert R23 in last.output.choices[0].message.content
    assert str(int(R23) / 5) in last.output.choices[0].message.content
    assert last.output.tool_info[0]["code_interpreter"]["code"] == "123**23"
    assert len(last.output.tool_info) == 2 and R23 in last.output.tool_info[1]["code_interpreter"]["code"]
    assert last.usage.plugins == {"code_interpreter": {"count": 2}}


def test_sdk_non_stream_call(native: str) -> None:
    response = Generation.call(
        api_key="sk-anything",
        model="qwen3-max",
        messages=ASK,
        enable_thinking=True,
        enable_code_interpreter=True,
    )
    assert response.status_code == 200 and response.request_id
    assert R21 in response.output.choices[0].message.content
    assert response.output.tool_info[0]["code_interpreter"]["code"] == "123**21"
    assert response.usage.input_tokens > 0 and response.usage.plugins["code_interpreter"]["count"] == 1


def test_text_result_format_and_prompt_input(native: str) -> None:
    response = Generation.call(api_key="sk-anything", model="qwen-plus", prompt="Hello!")
    assert response.status_code == 200
    assert response.output.text and response.output.finish_reason == "stop"
    assert response.output.choices is None
    raw = httpx.post(
        native, json={"model": "qwen-plus", "input": {"prompt": "Hello!"}}, headers=SSE, timeout=60
    )
    frames = native_frames(raw.text)
    assert "".join(frame["output"]["text"] for frame in frames) == response.output.text
    assert [frame["output"]["finish_reason"] for frame in frames][-1] == "stop"


def test_errors_before_streaming_keep_the_http_status_also_with_sse(native: str) -> None:
    response = post(native, {"enable_code_interpreter": True, "enable_thinking": False}, headers=SSE)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == "InvalidParameter"
    assert body["message"].startswith("<400> InternalError.Algo.InvalidParameter: ")
    sdk = list(
        Generation.call(
            api_key="sk-anything", model="qwen3-max", messages=ASK, enable_code_interpreter=True, stream=True
        )
    )
    assert len(sdk) == 1 and sdk[0].status_code == 400 and sdk[0].code == "InvalidParameter"


def test_failure_after_streaming_started_is_an_error_frame(
    make_server: Callable[..., RunningEmulator],
) -> None:
    steps = [
        ScriptedStep(reasoning=["Let me ", "compute."], code="2**10"),
        ScriptedStep(raises=ModelFailed("The model stopped answering.")),
    ]
    server = make_server(
        models=ModelRegistry([StepScriptModel(steps, NAMES)]), sandbox_backend=MemorySandbox()
    )
    url = f"{server.dashscope_base_url}/services/aigc/text-generation/generation"
    raw = post(url, CI_PARAMS, headers=SSE).text
    blocks = [block for block in raw.split("\n\n") if block]
    request_id = json.loads(blocks[0].split("data:", 1)[1])["request_id"]
    assert blocks[-1] == (
        f"id:{len(blocks)}\nevent:error\nstatus:500\n:HTTP_STATUS/500\n"
        'data:{"code":"InternalError","message":"The model stopped answering.",'
        f'"request_id":"{request_id}"}}'
    )
    dashscope.base_http_api_url = server.dashscope_base_url
    chunks = list(
        Generation.call(
            api_key="k",
            model="qwen3-max",
            messages=ASK,
            enable_thinking=True,
            enable_code_interpreter=True,
            stream=True,
        )
    )
    assert [c.status_code for c in chunks[:-1]] == [200] * (len(chunks) - 1)
    assert (chunks[-1].status_code, chunks[-1].code, chunks[-1].message) == (
        500,
        "InternalError",
        "The model stopped answering.",
    )


def test_session_header_keeps_interpreter_state(native: str) -> None:
    def run(code: str, session: str) -> str:
        headers = {"x-emulator-session-id": session}
        messages = [{"role": "user", "content": f"```python\n{code}\n```"}]
        return post(native, CI_PARAMS, messages=messages, headers=headers).json()["output"]["choices"][0][
            "message"
        ]["content"]

    run("kept = 6 * 7", "native-session-1")
    assert "42" in run("kept", "native-session-1")


async def test_aio_sdk_reads_frames_and_the_error_frame(make_server: Callable[..., RunningEmulator]) -> None:
    steps = [
        ScriptedStep(reasoning=["Let me ", "compute."], code="2**10"),
        ScriptedStep(raises=ModelFailed("The model stopped answering.")),
    ]
    server = make_server(
        models=ModelRegistry([StepScriptModel(steps, NAMES)]), sandbox_backend=MemorySandbox()
    )
    dashscope.base_http_api_url = server.dashscope_base_url
    stream = await AioGeneration.call(
        api_key="k",
        model="qwen3-max",
        messages=ASK,
        enable_thinking=True,
        enable_code_interpreter=True,
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    await close_shared_aio_session()  # the SDK's pooled session belongs to this test's event loop
    assert "".join(c.output.choices[0].message.reasoning_content for c in chunks[:-1]) == "Let me compute."
    assert chunks[-2].output.tool_info == [
        {"code_interpreter": {"code": "2**10"}, "type": "code_interpreter"}
    ]
    assert (chunks[-1].status_code, chunks[-1].code) == (500, "InternalError")
