"""The openai-compatible backend against a fake OpenAI-compatible server on 127.0.0.1 (the external model's
test double): tool calls run in our sandbox, results go back as tool messages, errors map to typed errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from emulator.models.openai_compat import TRANSPORT_ERRORS, error_for_status, error_for_transport
from emulator.testing import RunningEmulator, free_port
from tests.fakes.upstream import FakeUpstream, Reply, completion, error, run_fake_upstream

CI_TOOLS = [{"type": "code_interpreter"}]
THINK = {"enable_thinking": True}
R21 = str(123**21)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with run_fake_upstream() as fake:
        yield fake


@pytest.fixture
def emulator(upstream: FakeUpstream, make_server: Callable[..., RunningEmulator]) -> RunningEmulator:
    return make_server(
        sandbox="restricted",
        exec_timeout=5,
        model="openai-compatible",
        upstream_url=upstream.url,
        upstream_model="fake-model",
        upstream_key="sk-upstream",
        upstream_timeout=0.5,
    )


@pytest.fixture
def client(emulator: RunningEmulator) -> OpenAI:
    return OpenAI(base_url=emulator.openai_base_url, api_key="sk-any", max_retries=0)


def ask(client: OpenAI, **kw: object) -> openai.types.responses.Response:
    return client.responses.create(
        model="qwen3-max", input="What is 123**21?", tools=CI_TOOLS, extra_body=THINK, **kw
    )


def test_tool_call_split_across_chunks_runs_in_our_sandbox_and_result_goes_back(
    client: OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(
        completion(
            reasoning=["I should ", "compute it."],
            tool_args=['{"co', 'de": "123', '**21"}'],
            usage=(120, 30, 4),
        ),
        completion(reasoning=["Got it."], content=["123^21 is ", R21, "."], usage=(180, 25, 2)),
    )
    response = ask(client)
    assert [item.type for item in response.output] == [
        "reasoning",
        "code_interpreter_call",
        "reasoning",
        "message",
    ]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "I should compute it."
    call = response.output[1]
    assert call.type == "code_interpreter_call" and call.code == "123**21"
    assert call.outputs is not None and call.outputs[0].logs == R21  # type: ignore[union-attr]
    assert response.output_text == f"123^21 is {R21}."
    usage = response.usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (300, 55)
    assert usage.output_tokens_details.reasoning_tokens == 6

    first, second = upstream.requests
    assert first["model"] == "fake-model" and first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert [tool["function"]["name"] for tool in first["tools"]] == ["code_interpreter"]
    assert first["messages"][0]["role"] == "system" and first["messages"][1] == {
        "role": "user",
        "content": "What is 123**21?",
    }
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "code_interpreter",
        "arguments": '{"code": "123**21"}',
    }
    assert tool == {"role": "tool", "tool_call_id": call.id, "content": R21}


def test_reasoning_field_named_reasoning_is_accepted_too(client: OpenAI, upstream: FakeUpstream) -> None:
    reply = completion(content=["Hello."], usage=None)
    reply.chunks.insert(1, {"choices": [{"index": 0, "delta": {"reasoning": "vLLM style thought"}}]})
    upstream.queue(reply)
    response = client.responses.create(model="qwen3-max", input="hi", extra_body=THINK)
    assert response.output[0].type == "reasoning"
    assert response.output[0].summary[0].text == "vLLM style thought"  # type: ignore[union-attr]
    assert response.output_text == "Hello."
    assert "tools" not in upstream.requests[0]  # no code interpreter asked: no tool offered


def test_chat_surface_streams_upstream_reasoning_and_text(client: OpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(
        completion(reasoning=["plan"], tool_args=['{"code": "6*7"}']),
        completion(reasoning=["done"], content=["42"]),
    )
    stream = client.chat.completions.create(
        model="qwen3-max",
        messages=[{"role": "user", "content": "6*7?"}],
        stream=True,
        extra_body={"enable_thinking": True, "enable_code_interpreter": True},
    )
    reasoning, content = "", ""
    for chunk in stream:
        for choice in chunk.choices:
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            content += choice.delta.content or ""
    assert (reasoning, content) == ("plandone", "42")
    assert upstream.requests[1]["messages"][-1]["content"] == "42"


@pytest.mark.parametrize(
    ("status", "exc_type", "code"),
    [
        (429, openai.RateLimitError, "limit_requests"),
        (500, openai.InternalServerError, "internal_error"),
        (503, openai.InternalServerError, "service_unavailable"),
    ],
)
def test_upstream_error_status_maps_to_typed_error(
    client: OpenAI, upstream: FakeUpstream, status: int, exc_type: type[openai.APIStatusError], code: str
) -> None:
    upstream.queue(error(status, "upstream says no"))
    with pytest.raises(exc_type) as caught:
        ask(client)
    assert caught.value.status_code == status
    assert caught.value.body["code"] == code  # type: ignore[index]
    assert caught.value.body["message"] == f"The upstream model answered {status}: upstream says no"  # type: ignore[index]


def test_upstream_timeout_is_a_504(client: OpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(delay=1.2, chunks=completion(content=["late"]).chunks))
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "timeout"  # type: ignore[index]
    assert "did not answer in time (ReadTimeout)" in caught.value.body["message"]  # type: ignore[index]


def test_refused_connection_is_a_503(make_server: Callable[..., RunningEmulator]) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    running = make_server(sandbox="restricted", model="openai-compatible", upstream_url=closed)
    client = OpenAI(base_url=running.openai_base_url, api_key="sk-any", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)
    assert caught.value.status_code == 503
    assert caught.value.body["message"].startswith(
        f"The upstream model at {closed}/chat/completions cannot be reached"
    )  # type: ignore[index]


def test_upstream_error_mid_stream_fails_the_response(client: OpenAI, upstream: FakeUpstream) -> None:
    reply = completion(reasoning=["thinking"], usage=None)
    reply.chunks = reply.chunks[:2]
    reply.raw = [f"data: {json.dumps(c)}" for c in reply.chunks] + [
        'data: {"error": {"message": "GPU fell over"}}'
    ]
    upstream.queue(reply)
    with client.responses.stream(model="qwen3-max", input="hi", tools=CI_TOOLS, extra_body=THINK) as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.message == "The upstream model failed mid-stream: GPU fell over"  # type: ignore[union-attr]


def test_malformed_tool_call_is_reported_back_once_then_the_model_recovers(
    client: OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(
        completion(tool_args=['{"code": "123**21"']),  # unterminated JSON
        completion(tool_args=['{"code": "123**21"}']),
        completion(content=["Done."]),
    )
    response = ask(client)
    assert [item.code for item in response.output if item.type == "code_interpreter_call"] == ["123**21"]
    assert response.output_text == "Done."
    retry = upstream.requests[1]["messages"]
    assert retry[-2]["tool_calls"][0]["function"]["arguments"] == '{"code": "123**21"'
    assert retry[-1]["role"] == "tool" and retry[-1]["content"].startswith(
        "Error: the arguments are not valid JSON"
    )


def test_malformed_tool_call_twice_fails_cleanly(client: OpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(
        completion(tool_args=['{"script": "1"}']), completion(tool_name="python", tool_args=['{"code": "1"}'])
    )
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)
    assert caught.value.status_code == 500
    assert caught.value.body["message"] == (  # type: ignore[index]
        "The upstream model made a malformed code_interpreter call twice: unknown tool 'python'; "
        "the only tool is 'code_interpreter'."
    )
    assert upstream.requests[1]["messages"][-1]["content"].startswith(
        'Error: the arguments need a non-empty string field "code"'
    )


def test_every_httpx_request_error_is_mapped() -> None:
    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    request = httpx.Request("POST", "http://upstream/v1/chat/completions")
    for exc_type in subclasses(httpx.RequestError):
        if exc_type.__subclasses__() or exc_type.__module__.split(".")[0] != "httpx":
            continue  # leaves only, like httpx's own test_httpcore_all_exceptions_mapped
        specific = [m for m in TRANSPORT_ERRORS if issubclass(exc_type, m)]
        assert specific[0] not in (httpx.TransportError, httpx.RequestError), exc_type
        mapped = error_for_transport(exc_type("boom", request=request), "http://upstream")
        assert mapped.status in (500, 503, 504), exc_type
    assert error_for_status(429, "x").status == 429
    assert error_for_status(504, "x").status == 504
    assert error_for_status(400, "x").retryable is False
