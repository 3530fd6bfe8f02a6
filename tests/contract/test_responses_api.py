"""The Responses API through the real openai SDK and as raw bytes, against a live emulator."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI

from emulator.testing import RunningEmulator

R21 = str(123**21)
R23 = str(123**23)
CI_TOOLS = [{"type": "code_interpreter"}]
THINK = {"enable_thinking": True}


@pytest.fixture
def client(server: RunningEmulator) -> OpenAI:
    return OpenAI(base_url=server.apps_base_url, api_key="sk-anything", max_retries=0)


def sse_frames(raw: bytes) -> list[tuple[str, dict]]:
    frames = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: "), block
        assert lines[1].startswith("data: "), block
        assert len(lines) == 2, block
        frames.append((lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])))
    return frames


def test_create_returns_reasoning_call_and_message_with_exact_result(client: OpenAI) -> None:
    response = client.responses.create(
        model="qwen3-max-2026-01-23", input="Berapa 123 pangkat 21?", tools=CI_TOOLS, extra_body=THINK
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "code_interpreter_call", "reasoning", "message"]
    call = response.output[1]
    assert call.type == "code_interpreter_call"
    assert call.code == "123**21"
    assert call.status == "completed"
    assert call.container_id.startswith("cntr_")
    assert call.outputs is not None and call.outputs[0].type == "logs"
    assert call.outputs[0].logs == R21
    assert R21 in response.output_text
    assert response.status == "completed"
    assert response.usage is not None
    assert response.usage.x_tools == {"code_interpreter": {"count": 1}}  # type: ignore[attr-defined]
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert 0 < response.usage.output_tokens_details.reasoning_tokens < response.usage.output_tokens


def test_two_step_prompt_runs_two_executions_second_uses_first_result(client: OpenAI) -> None:
    response = client.responses.create(
        model="qwen3-max",
        input="Run the code interpreter twice. First, calculate the value of 123 to the power of 23. "
        "Second, divide the result by 5.",
        tools=CI_TOOLS,
        extra_body=THINK,
    )
    calls = [item for item in response.output if item.type == "code_interpreter_call"]
    assert len(calls) == 2
    assert calls[0].outputs is not None and calls[0].outputs[0].logs == R23  # type: ignore[union-attr]
    assert R23 in (calls[1].code or "")
    second = str(int(R23) / 5)
    assert calls[1].outputs is not None and calls[1].outputs[0].logs == second  # type: ignore[union-attr]
    assert second in response.output_text
    assert response.usage.x_tools == {"code_interpreter": {"count": 2}}  # type: ignore[union-attr]
    kinds = [item.type for item in response.output]
    assert kinds == [
        "reasoning",
        "code_interpreter_call",
        "reasoning",
        "code_interpreter_call",
        "reasoning",
        "message",
    ]


def test_stream_helper_final_response_equals_non_stream_shape(client: OpenAI) -> None:
    with client.responses.stream(
        model="qwen3-max", input="12 to the power of 3", tools=CI_TOOLS, extra_body=THINK
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.code_interpreter_call_code.delta" in types
    assert "response.reasoning_summary_text.delta" in types
    assert "1728" in final.output_text
    assert [item.type for item in final.output] == [
        "reasoning",
        "code_interpreter_call",
        "reasoning",
        "message",
    ]


def test_strict_response_validation_accepts_body_and_stream(server: RunningEmulator) -> None:
    strict = OpenAI(
        base_url=server.apps_base_url, api_key="k", max_retries=0, _strict_response_validation=True
    )
    tools = [{"type": "code_interpreter"}, {"type": "web_search"}, {"type": "web_extractor"}]
    response = strict.responses.create(
        model="qwen3-max", input="Berapa 12 pangkat 3?", tools=tools, extra_body=THINK
    )
    assert "1728" in response.output_text
    with strict.responses.stream(
        model="qwen3-max", input="2 to the power of 10", tools=CI_TOOLS, extra_body=THINK
    ) as s:
        final = s.get_final_response()
    assert "1024" in final.output_text


def test_raw_sse_framing_sequence_numbers_and_item_lifecycle(server: RunningEmulator) -> None:
    body = {
        "model": "qwen3-max",
        "input": "12 to the power of 3",
        "tools": CI_TOOLS,
        "enable_thinking": True,
        "stream": True,
    }
    with httpx.stream("POST", server.openai_base_url + "/responses", json=body, timeout=60) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        raw = answer.read()
    assert b"id:" not in raw and b"[DONE]" not in raw
    frames = sse_frames(raw)
    for index, (name, payload) in enumerate(frames):
        assert payload["type"] == name
        assert payload["sequence_number"] == index
    names = [name for name, _ in frames]
    assert (
        names[0] == "response.created"
        and names[1] == "response.in_progress"
        and names[-1] == "response.completed"
    )
    assert frames[0][1]["response"]["status"] == "in_progress" and frames[0][1]["response"]["output"] == []
    # every item is added before any event about it, and done with the same id
    added: dict[int, str] = {}
    for name, payload in frames:
        if name == "response.output_item.added":
            added[payload["output_index"]] = payload["item"]["id"]
            assert payload["item"]["status"] == "in_progress"
        elif "item_id" in payload:
            assert added[payload["output_index"]] == payload["item_id"]
        if name == "response.output_item.done":
            assert added[payload["output_index"]] == payload["item"]["id"]
    code_events = [n for n in names if "code_interpreter" in n]
    assert code_events[0] == "response.code_interpreter_call.in_progress"
    assert code_events[-3:] == [
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    message_added = next(
        p for n, p in frames if n == "response.output_item.added" and p["item"]["type"] == "message"
    )
    assert message_added["item"]["content"] == []
    completed = frames[-1][1]["response"]
    assert completed["usage"]["x_tools"] == {"code_interpreter": {"count": 1}}
    assert len(completed["output"]) == 4


def test_previous_response_id_keeps_interpreter_state(client: OpenAI) -> None:
    first = client.responses.create(
        model="qwen3-max", input="```python\nsecret = 41\nprint('set')\n```", tools=CI_TOOLS, extra_body=THINK
    )
    assert "set" in first.output[1].outputs[0].logs  # type: ignore[union-attr]
    second = client.responses.create(
        model="qwen3-max",
        input="```python\nsecret + 1\n```",
        tools=CI_TOOLS,
        extra_body=THINK,
        previous_response_id=first.id,
    )
    call = next(item for item in second.output if item.type == "code_interpreter_call")
    assert call.outputs[0].logs == "42"  # type: ignore[union-attr,index]
    assert call.container_id == first.output[1].container_id  # type: ignore[union-attr]
    fetched = client.responses.retrieve(second.id)
    assert fetched.id == second.id and fetched.output_text == second.output_text


def test_fenced_blocks_run_verbatim_in_order(client: OpenAI) -> None:
    prompt = "Run these:\n```python\nxs = [1, 2, 3]\nsum(xs)\n```\nthen\n```python\nprint(max(xs) * 10)\n```"
    response = client.responses.create(model="qwen3-max", input=prompt, tools=CI_TOOLS, extra_body=THINK)
    calls = [item for item in response.output if item.type == "code_interpreter_call"]
    assert [c.code for c in calls] == ["xs = [1, 2, 3]\nsum(xs)", "print(max(xs) * 10)"]
    assert [c.outputs[0].logs for c in calls] == ["6", "30"]  # type: ignore[index,union-attr]


def test_failed_execution_is_completed_call_with_traceback(client: OpenAI) -> None:
    response = client.responses.create(
        model="qwen3-max", input="```python\n1/0\n```", tools=CI_TOOLS, extra_body=THINK
    )
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    assert call.status == "completed"
    assert "ZeroDivisionError" in call.outputs[0].logs  # type: ignore[index,union-attr]
    assert "ZeroDivisionError" in response.output_text


def test_matplotlib_figure_comes_back_as_png_image_output(client: OpenAI) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nprint('plotted')"
    response = client.responses.create(
        model="qwen3-max", input=f"```python\n{code}\n```", tools=CI_TOOLS, extra_body=THINK
    )
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    images = [o for o in call.outputs or [] if o.type == "image"]
    assert len(images) == 1
    assert images[0].url.startswith("data:image/png;base64,iVBORw0KGgo")  # type: ignore[union-attr]


def test_thinking_without_code_interpreter_gives_reasoning_and_answer(client: OpenAI) -> None:
    response = client.responses.create(model="qwen3-max", input="What is 6 times 7?", extra_body=THINK)
    kinds = [item.type for item in response.output]
    assert kinds[0] == "reasoning" and kinds[-1] == "message"
    assert "code_interpreter_call" not in kinds
    assert response.usage.x_tools == {"code_interpreter": {"count": 0}}  # type: ignore[union-attr]


def test_request_it_cannot_code_is_answered_plainly(client: OpenAI) -> None:
    response = client.responses.create(
        model="qwen3-max", input="Tell me about the weather in Jakarta", tools=CI_TOOLS, extra_body=THINK
    )
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text.strip()
    assert response.usage.x_tools == {"code_interpreter": {"count": 0}}  # type: ignore[union-attr]


def test_health_reports_sandbox_and_model(server: RunningEmulator) -> None:
    health = server.health()
    assert health["status"] == "ok"
    assert health["sandbox"]["backend"] == "restricted"
    assert health["sandbox"]["isolation_tier"] == "process"
    assert health["model"] == "builtin"


# --- errors -------------------------------------------------------------------------------------------------


def post(server: RunningEmulator, body: bytes | dict, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        server.openai_base_url + "/responses",
        content=content,
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"{not json", 400, "invalid_parameter_error", None),
        (b"[1, 2]", 400, "invalid_parameter_error", None),
        ({"input": "hi"}, 400, "invalid_parameter_error", "model"),
        ({"model": "qwen3-max", "input": 5}, 400, "invalid_parameter_error", "input"),
        ({"model": "qwen3-max", "input": ""}, 400, "invalid_parameter_error", "input"),
        (
            {"model": "qwen3-max", "input": "hi", "stream": "yes please"},
            400,
            "invalid_parameter_error",
            "stream",
        ),
        ({"model": "no-such-model", "input": "hi"}, 404, "model_not_found", "model"),
        (
            {"model": "qwen3-max", "input": "hi", "tools": [{"type": "code_interpreter"}]},
            400,
            "invalid_parameter_error",
            "enable_thinking",
        ),
        (
            {
                "model": "qwen3-max",
                "input": "hi",
                "enable_thinking": True,
                "tools": [{"type": "code_interpreter"}, {"type": "function", "name": "f", "parameters": {}}],
            },
            400,
            "invalid_parameter_error",
            "tools",
        ),
        (
            {"model": "qwen3-max", "input": "hi", "tools": [{"type": "file_search"}]},
            400,
            "invalid_parameter_error",
            "tools",
        ),
        (
            {"model": "qwen3-max", "input": "hi", "previous_response_id": "resp_nope"},
            404,
            "not_found",
            "previous_response_id",
        ),
    ],
)
def test_bad_requests_get_typed_errors(
    server: RunningEmulator, body: bytes | dict, status: int, code: str, param: str | None
) -> None:
    answer = post(server, body)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    assert answer.json()["request_id"]
    assert answer.headers["x-should-retry"] == "false"


def test_sdk_raises_typed_errors(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="qwen3-max", input="hi", tools=CI_TOOLS)
    assert bad.value.code == "invalid_parameter_error"
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="gpt-nothing", input="hi")
    assert missing.value.code == "model_not_found"


def test_api_key_is_enforced_when_configured(make_server) -> None:
    running = make_server(sandbox="restricted", api_key="sk-right")
    wrong = OpenAI(base_url=running.openai_base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        wrong.responses.create(model="qwen3-max", input="Berapa 12 pangkat 3?")
    assert denied.value.status_code == 401 and denied.value.code == "invalid_api_key"
    missing = httpx.post(running.openai_base_url + "/responses", json={"model": "qwen3-max", "input": "x"})
    assert missing.status_code == 401
    right = OpenAI(base_url=running.openai_base_url, api_key="sk-right", max_retries=0)
    assert "1728" in right.responses.create(model="qwen3-max", input="Berapa 12 pangkat 3?").output_text


def test_oversized_body_is_413(make_server) -> None:
    running = make_server(sandbox="restricted", max_request_bytes=2048)
    answer = httpx.post(
        running.openai_base_url + "/responses", json={"model": "qwen3-max", "input": "x" * 5000}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"


def test_every_answer_names_the_isolation_tier(server: RunningEmulator) -> None:
    assert httpx.get(server.base_url + "/health").headers["x-emulator-isolation-tier"] == "process"
    body = {"model": "qwen3-max", "input": "Berapa 12 pangkat 3?", "stream": True}
    with httpx.stream("POST", server.openai_base_url + "/responses", json=body, timeout=30) as answer:
        assert answer.headers["x-emulator-isolation-tier"] == "process"
        assert b"response.completed" in answer.read()


def test_a_caller_can_demand_a_minimum_isolation_tier(server: RunningEmulator) -> None:
    body = {"model": "qwen3-max", "input": "Berapa 12 pangkat 3?"}
    refused = post(server, body, **{"x-emulator-min-tier": "container"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "x-emulator-min-tier"
    assert "'process'" in refused.json()["error"]["message"]
    assert post(server, body, **{"x-emulator-min-tier": "kernel"}).status_code == 400
    accepted = post(server, body, **{"x-emulator-min-tier": "process"})
    assert accepted.status_code == 200 and "1728" in accepted.json()["output"][-1]["content"][0]["text"]
