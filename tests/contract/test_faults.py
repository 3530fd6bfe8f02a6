"""Every fault kind, seen through a real client (openai SDK, dashscope SDK, raw httpx) as a user of the
hosted service would see it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dashscope
import httpx
import openai
import pytest
from dashscope import Generation
from openai import OpenAI

from emulator.config import Settings
from emulator.models.faults import CRASH_MESSAGE
from emulator.testing import RunningEmulator, run_emulator

CASSETTES = Path(__file__).parent.parent / "cassettes"
CI_TOOLS = [{"type": "code_interpreter"}]
THINK = {"enable_thinking": True}
ASK = "What is 123 to the power of 21?"
R21 = str(123**21)


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    settings = Settings(sandbox="restricted", exec_timeout=5, max_rounds=3, cassette_dir=CASSETTES)
    with run_emulator(settings) as running:
        yield running


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[OpenAI]:
    yield OpenAI(base_url=emulator.openai_base_url, api_key="sk-any", max_retries=0)
    httpx.delete(f"{emulator.base_url}/_emulator/faults").raise_for_status()


def ask(
    client: OpenAI, fault: str, model: str = "qwen3-max", **kw: object
) -> openai.types.responses.Response:
    return client.responses.create(
        model=model,
        input=ASK,
        tools=CI_TOOLS,
        extra_body=THINK,
        extra_headers={"x-emulator-fault": fault},
        **kw,
    )


def logs_of(response: openai.types.responses.Response) -> list[str]:
    return [item.outputs[0].logs for item in response.output if item.type == "code_interpreter_call"]  # type: ignore[union-attr,index]


# --- latency -----------------------------------------------------------------------------------------------


def test_latency_delays_the_first_byte(client: OpenAI) -> None:
    started = time.monotonic()
    with client.responses.stream(
        model="qwen3-max",
        input=ASK,
        tools=CI_TOOLS,
        extra_body=THINK,
        extra_headers={"x-emulator-fault": "latency=400ms"},
    ) as stream:
        first = next(iter(stream))
        first_byte = time.monotonic() - started
        final = stream.get_final_response()
    assert first.type == "response.created"
    assert 0.4 <= first_byte < 10
    assert R21 in final.output_text


def test_delta_latency_spaces_out_the_stream(emulator: RunningEmulator) -> None:
    started = time.monotonic()
    with httpx.stream(
        "POST",
        f"{emulator.openai_base_url}/responses",
        json={
            "model": "scripted:power-single-step",
            "input": ASK,
            "tools": CI_TOOLS,
            "stream": True,
            **THINK,
        },
        headers={"x-emulator-fault": "delta-latency=30ms"},
        timeout=30,
    ) as response:
        body = response.read().decode()
    # power-single-step streams 11 + 6 reasoning words, 3 answer pieces, 2 usages and 1 code: 23 outputs
    assert 22 * 0.03 <= time.monotonic() - started < 20
    assert "event: response.completed" in body


def test_cassette_faults_apply_to_every_replay(client: OpenAI) -> None:
    started = time.monotonic()
    response = client.responses.create(
        model="scripted:latency-slow-start", input="2+2?", tools=CI_TOOLS, extra_body=THINK
    )
    assert 0.3 <= time.monotonic() - started < 20
    assert logs_of(response) == ["4"] and response.output_text == "2 + 2 = 4."


# --- model errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exc_type", "code"),
    [
        (429, openai.RateLimitError, "limit_requests"),
        (500, openai.InternalServerError, "internal_error"),
        (503, openai.InternalServerError, "service_unavailable"),
        (504, openai.InternalServerError, "timeout"),
    ],
)
def test_model_error_before_the_first_byte_is_a_real_status(
    client: OpenAI, status: int, exc_type: type[openai.APIStatusError], code: str
) -> None:
    with pytest.raises(exc_type) as caught:
        ask(client, f"error={status}", stream=True)
    assert caught.value.status_code == status
    assert caught.value.body["code"] == code  # type: ignore[index]
    assert "(injected fault)" in caught.value.body["message"]  # type: ignore[index]
    assert caught.value.response.headers["x-should-retry"] == "true"


def test_sdk_retries_a_global_429_and_then_succeeds(emulator: RunningEmulator) -> None:
    added = httpx.post(f"{emulator.base_url}/_emulator/faults", json={"spec": "error=429", "times": 1})
    assert added.status_code == 201 and added.json()["times"] == 1
    client = OpenAI(base_url=emulator.openai_base_url, api_key="sk-any", max_retries=1)
    response = client.responses.create(model="qwen3-max", input=ASK, tools=CI_TOOLS, extra_body=THINK)
    assert R21 in response.output_text
    assert httpx.get(f"{emulator.base_url}/_emulator/faults").json()["data"] == []  # used up by the first try


def test_model_error_mid_stream_is_response_failed(client: OpenAI) -> None:
    with client.responses.stream(
        model="qwen3-max",
        input=ASK,
        tools=CI_TOOLS,
        extra_body=THINK,
        extra_headers={"x-emulator-fault": "error=503@1"},
    ) as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.error is not None and failed.error.code == "service_unavailable"
    assert [e.type for e in events].count("response.code_interpreter_call.completed") == 1


def test_model_error_mid_stream_on_chat_raises_api_error(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="qwen3-max",
        messages=[{"role": "user", "content": ASK}],
        stream=True,
        extra_body={"enable_thinking": True, "enable_code_interpreter": True},
        extra_headers={"x-emulator-fault": "error=500@1"},
    )
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert "injected fault" in caught.value.message


def test_model_error_on_dashscope_native_before_and_after_first_byte(emulator: RunningEmulator) -> None:
    dashscope.base_http_api_url = emulator.dashscope_base_url
    common = {
        "model": "qwen3-max",
        "api_key": "sk-any",
        "messages": [{"role": "user", "content": ASK}],
        "enable_code_interpreter": True,
        "enable_thinking": True,
        "result_format": "message",
    }
    before = Generation.call(**common, headers={"x-emulator-fault": "error=429"})
    assert (before.status_code, before.code) == (429, "Throttling.RateQuota")
    frames = list(Generation.call(**common, stream=True, headers={"x-emulator-fault": "error=503@1"}))
    assert frames[0].status_code == 200
    assert (frames[-1].status_code, frames[-1].code) == (503, "ServiceUnavailable")


# --- malformed model output --------------------------------------------------------------------------------


def test_malformed_code_gives_a_syntax_error_result_the_model_reads(client: OpenAI) -> None:
    response = ask(client, "malformed-code")
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    assert call.code == "123**21\n)"  # type: ignore[union-attr]
    assert "SyntaxError" in logs_of(response)[0]
    assert response.status == "completed" and response.output_text


def test_empty_step_completes_with_no_output(client: OpenAI) -> None:
    response = ask(client, "empty-step")
    assert response.status == "completed"
    assert response.output == [] and response.output_text == ""


def test_endless_model_is_stopped_at_max_rounds(client: OpenAI) -> None:
    response = ask(client, "endless")
    assert logs_of(response) == ["1", "2", "3"]
    assert response.output_text.endswith(
        "[Stopped: the model asked for more than 3 code executions in one turn.]"
    )


# --- sandbox faults ----------------------------------------------------------------------------------------


def test_sandbox_crash_loses_interpreter_state(client: OpenAI) -> None:
    response = ask(client, "sandbox-crash@1", model="scripted:analysis-two-steps")
    first, second = logs_of(response)
    assert first == f"SandboxCrashed: {CRASH_MESSAGE}"
    assert "NameError" in second and "numbers" in second  # the restarted interpreter never saw `numbers`


def test_sandbox_timeout_is_a_reset_result_and_the_turn_goes_on(client: OpenAI) -> None:
    started = time.monotonic()
    response = ask(client, "sandbox-timeout=0.3", model="scripted:power-single-step")
    assert 0.3 <= time.monotonic() - started < 20
    (logs,) = logs_of(response)
    assert logs.startswith("TimeoutError: Execution stopped after 0.3 s")  # the restricted sandbox's words
    assert response.status == "completed" and response.output_text == f"123^21 = {R21}."


# --- connection cut ----------------------------------------------------------------------------------------


def test_disconnect_cuts_the_responses_stream_without_the_final_event(client: OpenAI) -> None:
    seen: list[str] = []
    with (
        pytest.raises(openai.APIConnectionError, match="Connection error") as caught,
        client.responses.stream(
            model="qwen3-max",
            input=ASK,
            tools=CI_TOOLS,
            extra_body=THINK,
            extra_headers={"x-emulator-fault": "disconnect@3"},
        ) as stream,
    ):
        for event in stream:
            seen.append(event.type)
    # the SDK wraps the transport's error: the body ended without its last chunk
    assert "incomplete chunked read" in str(caught.value.__cause__)
    assert seen[:2] == ["response.created", "response.in_progress"]
    assert "response.completed" not in seen and "response.failed" not in seen


def test_disconnect_cuts_the_chat_stream_before_done(emulator: RunningEmulator) -> None:
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST",
            f"{emulator.openai_base_url}/chat/completions",
            json={
                "model": "qwen3-max",
                "messages": [{"role": "user", "content": ASK}],
                "stream": True,
                "enable_thinking": True,
                "enable_code_interpreter": True,
            },
            headers={"x-emulator-fault": "disconnect"},
            timeout=30,
        ) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            lines.append(line)
    assert lines[0].startswith("data: {")
    assert "data: [DONE]" not in lines


def test_disconnect_on_a_non_stream_request_is_a_bare_500(client: OpenAI) -> None:
    # Nothing was sent yet, so the server cannot drop the connection mid-body: uvicorn answers a plain 500.
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, "disconnect")
    assert caught.value.status_code == 500
    assert caught.value.response.text == "Internal Server Error"


def test_bad_fault_header_is_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "explode")
    assert caught.value.body["param"] == "x-emulator-fault"  # type: ignore[index]
