"""Chat Completions through the real openai SDK and as raw bytes, against a live emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import openai
import pytest
from openai import OpenAI

from emulator.core.errors import ModelFailed
from emulator.models.registry import ModelRegistry
from emulator.testing import RunningEmulator
from tests.fakes.doubles import MemorySandbox, ScriptedStep, StepScriptModel

R21 = str(123**21)
CI = {"enable_thinking": True, "enable_code_interpreter": True}
ASK = [{"role": "user", "content": "Berapa 123 pangkat 21?"}]


@pytest.fixture
def client(server: RunningEmulator) -> OpenAI:
    return OpenAI(base_url=server.openai_base_url, api_key="sk-anything", max_retries=0)


def data_lines(raw: str) -> list[str]:
    blocks = [block for block in raw.split("\n\n") if block.strip()]
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks), raw[:500]
    return [block[len("data: ") :] for block in blocks]


def test_code_interpreter_stream_answers_with_the_exact_result_and_no_code(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="qwen3-max-2026-01-23",
        messages=ASK,  # type: ignore[arg-type]
        extra_body=CI,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.model_extra == {"reasoning_content": ""}
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert R21 in answer
    assert R21 in reasoning  # the reasoning after the execution integrates its result
    assert "123**21" not in answer
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details is not None
    assert 0 < usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_raw_stream_has_data_lines_only_and_ends_with_done(server: RunningEmulator) -> None:
    body = {"model": "qwen3-max", "messages": ASK, "stream": True, **CI}
    response = httpx.post(f"{server.openai_base_url}/chat/completions", json=body, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = data_lines(response.text)
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert all(chunk["usage"] is None for chunk in chunks)  # no include_usage: no usage chunk
    assert chunks[-1]["choices"][0] == {
        "delta": {"content": "", "reasoning_content": None},
        "index": 0,
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_plain_chat_non_stream_with_thinking_has_reasoning_content(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=ASK,
        extra_body={"enable_thinking": True},  # type: ignore[arg-type]
    )
    assert completion.object == "chat.completion"
    message = completion.choices[0].message
    assert message.role == "assistant" and message.content
    assert (message.model_extra or {}).get("reasoning_content")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0


def test_plain_chat_without_thinking_streams_and_returns_no_reasoning(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": [{"type": "text", "text": "Hello!"}]}]
    )
    assert completion.choices[0].message.content
    assert "reasoning_content" not in (completion.choices[0].message.model_extra or {})
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}],
            stream=True,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all("reasoning_content" not in (c.choices[0].delta.model_extra or {}) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == completion.choices[0].message.content


def test_apps_prefix_serves_chat_too(server: RunningEmulator) -> None:
    client = OpenAI(base_url=server.apps_base_url, api_key="sk-anything", max_retries=0)
    chunks = list(client.chat.completions.create(model="qwen3-max", messages=ASK, extra_body=CI, stream=True))  # type: ignore[arg-type]
    assert R21 in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_models_lists_the_served_names_in_openai_list_shape(client: OpenAI, server: RunningEmulator) -> None:
    names = [model.id for model in client.models.list()]
    assert "qwen3-max-2026-01-23" in names and "qwen3.5-plus" in names
    assert client.models.retrieve("qwen3-max").id == "qwen3-max"
    raw = httpx.get(f"{server.apps_base_url}/models").json()
    assert raw["object"] == "list" and raw["data"][0]["object"] == "model"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-nope")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_session_header_keeps_interpreter_state_between_requests(client: OpenAI) -> None:
    def run(code: str, session: str | None) -> str:
        headers = {"x-emulator-session-id": session} if session else {}
        stream = client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": f"```python\n{code}\n```"}],
            extra_body=CI,
            stream=True,
            extra_headers=headers,
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    run("secret = 41", "chat-session-1")
    assert "42" in run("secret + 1", "chat-session-1")
    assert "NameError" in run("secret + 1", None)  # no header: a fresh interpreter per request


def test_failure_after_the_stream_started_is_one_error_chunk(
    make_server: Callable[..., RunningEmulator],
) -> None:
    steps = [
        ScriptedStep(reasoning=["Let me ", "compute."], code="2**10"),
        ScriptedStep(raises=ModelFailed("The model stopped answering.")),
    ]
    server = make_server(models=ModelRegistry([StepScriptModel(steps)]), sandbox_backend=MemorySandbox())
    client = OpenAI(base_url=server.openai_base_url, api_key="sk-anything", max_retries=0)
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(
            model="qwen3-max", messages=ASK, extra_body=CI, stream=True
        ):  # type: ignore[arg-type]
            seen.append((chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or "")
    assert "".join(seen) == "Let me compute."
    assert caught.value.body == {
        "code": "internal_error",
        "param": None,
        "message": "The model stopped answering.",
        "type": "internal_error",
    }
    raw = httpx.post(
        f"{server.openai_base_url}/chat/completions",
        json={"model": "qwen3-max", "messages": ASK, "stream": True, **CI},
    )
    lines = data_lines(raw.text)
    assert json.loads(lines[-1])["error"]["message"] == "The model stopped answering."
    assert "[DONE]" not in lines


def test_client_leaving_mid_stream_releases_the_conversation_and_its_sandbox(server: RunningEmulator) -> None:
    body = {
        "model": "qwen3-max",
        "messages": [{"role": "user", "content": "Berapa 123 pangkat 21?"}],
        "enable_code_interpreter": True,
        "enable_thinking": True,
        "stream": True,
    }
    headers = {"x-emulator-fault": "delta-latency=200ms"}
    before = server.health()["conversations"]
    with httpx.stream(
        "POST", server.openai_base_url + "/chat/completions", json=body, headers=headers
    ) as answer:
        first = next(answer.iter_lines())
        assert first.startswith("data: ")
    # the client is gone after one chunk: the one-shot conversation (and its interpreter) must be dropped
    deadline = time.monotonic() + 10
    while server.health()["conversations"] > before:
        assert time.monotonic() < deadline, "the abandoned conversation was not released"
        time.sleep(0.05)
