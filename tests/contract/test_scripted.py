"""The scripted backend through the real SDKs: cassettes replayed on all three surfaces, real executions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dashscope
import httpx
import openai
import pytest
from dashscope import Generation
from openai import OpenAI

from emulator.config import Settings
from emulator.testing import RunningEmulator, run_emulator

CASSETTES = Path(__file__).parent.parent / "cassettes"
R21 = str(123**21)
CI_TOOLS = [{"type": "code_interpreter"}]
THINK = {"enable_thinking": True}


@pytest.fixture(scope="module")
def scripted() -> Iterator[RunningEmulator]:
    settings = Settings(sandbox="restricted", exec_timeout=5, cassette_dir=CASSETTES)
    with run_emulator(settings) as running:
        yield running


@pytest.fixture
def client(scripted: RunningEmulator) -> OpenAI:
    return OpenAI(base_url=scripted.openai_base_url, api_key="sk-any", max_retries=0)


def test_model_name_selects_cassette_and_code_really_runs(client: OpenAI) -> None:
    response = client.responses.create(
        model="scripted:power-single-step", input="What is 123**21?", tools=CI_TOOLS, extra_body=THINK
    )
    assert [item.type for item in response.output] == [
        "reasoning",
        "code_interpreter_call",
        "reasoning",
        "message",
    ]
    call = response.output[1]
    assert call.type == "code_interpreter_call" and call.code == "123**21"
    assert call.outputs is not None and call.outputs[0].type == "logs" and call.outputs[0].logs == R21
    assert response.output_text == f"123^21 = {R21}."
    assert response.model == "scripted:power-single-step"
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (312 + 371, 28 + 31)  # the cassette's own usage
    assert usage.output_tokens_details.reasoning_tokens == 12 + 7
    assert usage.x_tools == {"code_interpreter": {"count": 1}}  # type: ignore[attr-defined]


def test_header_selects_cassette_for_any_model_and_pinned_output_skips_the_sandbox(client: OpenAI) -> None:
    response = client.responses.create(
        model="qwen3-max",
        input="What is this machine called?",
        tools=CI_TOOLS,
        extra_body=THINK,
        extra_headers={"x-emulator-script": "secret-pinned-output"},
    )
    assert response.model == "qwen3-max"
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    assert call.outputs is not None and call.outputs[0].logs == "build-agent-7"  # type: ignore[union-attr]
    assert response.output_text == "The machine is called build-agent-7."


def test_two_steps_share_interpreter_state(client: OpenAI) -> None:
    response = client.responses.create(
        model="scripted:analysis-two-steps", input="Sum 3, 5 and 8.", tools=CI_TOOLS, extra_body=THINK
    )
    logs = [item.outputs[0].logs for item in response.output if item.type == "code_interpreter_call"]  # type: ignore[union-attr,index]
    assert logs == ["3", "16"]


def test_two_turn_cassette_follows_previous_response_id(client: OpenAI) -> None:
    first = client.responses.create(
        model="scripted:conversation-two-turns", input="Remember x = 21.", tools=CI_TOOLS, extra_body=THINK
    )
    assert first.output_text == "Stored x = 21."
    second = client.responses.create(
        model="scripted:conversation-two-turns",
        input="Double it.",
        previous_response_id=first.id,
        tools=CI_TOOLS,
        extra_body=THINK,
    )
    call = next(item for item in second.output if item.type == "code_interpreter_call")
    assert call.code == "x * 2" and call.outputs[0].logs == "42"  # type: ignore[union-attr,index]
    assert second.output_text == "Twice x is 42."


def test_chat_stream_replays_reasoning_and_answer(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="scripted:analysis-two-steps",
        messages=[{"role": "user", "content": "Sum 3, 5 and 8."}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"enable_thinking": True, "enable_code_interpreter": True},
    )
    reasoning, content = [], []
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            content.append(choice.delta.content or "")
    assert "".join(content) == "The three numbers add up to 16."
    thought = "".join(reasoning)
    assert "First I store the numbers." in thought and "Both executions succeeded." in thought
    assert usage is not None and usage.total_tokens > 0


def test_dashscope_native_replays_tool_info_and_answer(scripted: RunningEmulator) -> None:
    dashscope.base_http_api_url = scripted.dashscope_base_url
    response = Generation.call(
        model="scripted:power-single-step",
        api_key="sk-any",
        messages=[{"role": "user", "content": "What is 123**21?"}],
        enable_code_interpreter=True,
        enable_thinking=True,
        result_format="message",
    )
    assert response.status_code == 200, response
    assert response.output.choices[0].message.content == f"123^21 = {R21}."
    assert response.output.tool_info == [
        {"code_interpreter": {"code": "123**21"}, "type": "code_interpreter"}
    ]


def test_replay_that_runs_out_of_steps_fails_loudly_without_retry(scripted: RunningEmulator) -> None:
    httpx.post(
        f"{scripted.base_url}/_emulator/scripts",
        json={"name": "never-answers", "steps": [{"reasoning": "run it", "code": "1 + 1"}]},
    ).raise_for_status()
    client = OpenAI(base_url=scripted.openai_base_url, api_key="sk-any")  # default retries: none happen
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="scripted:never-answers", input="go", tools=CI_TOOLS, extra_body=THINK)
    assert caught.value.status_code == 500
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert caught.value.body == {
        "code": "internal_error",
        "param": None,
        "message": "Cassette 'never-answers' ran out of steps: turn 1 has 1 and the model was asked for "
        "step 2.",
        "type": "internal_error",
    }


def test_unknown_cassette_is_a_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="scripted:no-such-tape", input="go", tools=CI_TOOLS, extra_body=THINK)
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert "No cassette named 'no-such-tape' is loaded" in caught.value.body["message"]  # type: ignore[index]


def test_admin_loads_lists_and_deletes_yaml_scripts(scripted: RunningEmulator, client: OpenAI) -> None:
    admin = f"{scripted.base_url}/_emulator/scripts"
    listed = httpx.get(admin).json()
    assert {"power-single-step", "analysis-two-steps"} <= {entry["name"] for entry in listed["data"]}
    text = "steps:\n  - reasoning: quick\n    code: 7 * 6\n  - answer: Forty-two.\n"
    loaded = httpx.post(
        f"{admin}?name=admin-yaml", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert loaded.status_code == 201
    assert loaded.json() == {
        "name": "admin-yaml",
        "description": "",
        "turns": 1,
        "steps": 2,
        "executions": 1,
        "faults": None,
    }
    answer = client.responses.create(model="scripted:admin-yaml", input="?", tools=CI_TOOLS, extra_body=THINK)
    assert answer.output_text == "Forty-two."
    assert httpx.get(f"{admin}/admin-yaml").json()["steps"][0]["code"] == "7 * 6"
    assert httpx.delete(f"{admin}/admin-yaml").json() == {"name": "admin-yaml", "deleted": True}
    assert httpx.delete(f"{admin}/admin-yaml").status_code == 404
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="scripted:admin-yaml", input="?", tools=CI_TOOLS, extra_body=THINK)


def test_admin_rejects_a_malformed_cassette_with_the_loader_message(scripted: RunningEmulator) -> None:
    answer = httpx.post(f"{scripted.base_url}/_emulator/scripts", json={"name": "typo", "stepz": []})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_parameter_error"
    assert "stepz: Extra inputs are not permitted" in error["message"]


def test_admin_needs_the_key_when_one_is_set() -> None:
    with run_emulator(Settings(sandbox="restricted", api_key="sk-admin")) as running:
        admin = f"{running.base_url}/_emulator/scripts"
        denied = httpx.get(admin)
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
        body = json.dumps({"name": "keyed", "steps": [{"answer": "ok"}]})
        allowed = httpx.post(admin, content=body, headers={"Authorization": "Bearer sk-admin"})
        assert allowed.status_code == 201
        assert httpx.get(f"{running.base_url}/_emulator/faults").status_code == 401
