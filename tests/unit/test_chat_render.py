"""The Chat Completions composer: chunk shapes from hand-built event lists, checked with the SDK's types."""

from __future__ import annotations

from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from emulator.api.chat_render import ChatComposer, ChatErrorChunk
from emulator.core.errors import ModelFailed
from emulator.core.events import CodeCall, CodeResult, Done, Failed, ReasoningDelta, TextDelta, Usage
from emulator.sandbox.base import ExecError, ExecResult

EVENTS = [
    ReasoningDelta("Let me "),
    ReasoningDelta("compute."),
    CodeCall("ci_1", "x = 2**10\nx", "cntr_a"),
    Usage(300, 10, 4, 1),
    CodeResult("ci_1", ExecResult(result="1024")),
    ReasoningDelta("Now divide."),
    CodeCall("ci_2", "x/0", "cntr_a"),
    Usage(600, 20, 8, 2),
    CodeResult("ci_2", ExecResult(error=ExecError("ZeroDivisionError", "division by zero"))),
    ReasoningDelta("It failed."),
    TextDelta("2**10 is "),
    TextDelta("1024."),
    Usage(900, 40, 20, 2),
    Done(),
]


def composer(*, thinking: bool = True, include_usage: bool = True) -> ChatComposer:
    return ChatComposer(
        completion_id="chatcmpl-1",
        request_id="req-1",
        model="qwen3-max",
        created=1761899724,
        thinking=thinking,
        include_usage=include_usage,
    )


def wire(events: list, **kw: bool) -> tuple[ChatComposer, list[dict]]:
    c = composer(**kw)
    frames = c.start()
    for event in events:
        frames += c.feed(event)
    return c, [f.model_dump(mode="json") for f in frames]


def test_chunks_follow_the_seed_dump_shape_and_key_order() -> None:
    _, chunks = wire(EVENTS)
    assert chunks[0] == {
        "choices": [
            {
                "delta": {"content": None, "role": "assistant", "reasoning_content": ""},
                "index": 0,
                "logprobs": None,
                "finish_reason": None,
            }
        ],
        "object": "chat.completion.chunk",
        "usage": None,
        "created": 1761899724,
        "system_fingerprint": None,
        "model": "qwen3-max",
        "id": "chatcmpl-1",
    }
    assert list(chunks[0]) == ["choices", "object", "usage", "created", "system_fingerprint", "model", "id"]
    assert chunks[1]["choices"][0]["delta"] == {"content": None, "reasoning_content": "Let me "}
    assert chunks[-3]["choices"][0]["delta"] == {"content": "1024.", "reasoning_content": None}
    last = chunks[-2]["choices"][0]
    assert last["finish_reason"] == "stop" and last["delta"] == {"content": "", "reasoning_content": None}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 900,
        "completion_tokens": 40,
        "total_tokens": 940,
        "completion_tokens_details": {"reasoning_tokens": 20},
    }


def test_code_and_outputs_never_appear_and_reasoning_continues_after_execution() -> None:
    _, chunks = wire(EVENTS)
    text = repr(chunks)
    assert "2**10\\nx" not in text and "x/0" not in text and "ZeroDivisionError" not in text
    reasoning = "".join(
        c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"]
    )
    assert reasoning == "Let me compute.Now divide.It failed."


def test_every_chunk_validates_and_the_sdk_fold_equals_the_folded_body() -> None:
    c, chunks = wire(EVENTS)
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    folded = state.get_final_completion()
    body = ChatCompletion.model_validate(c.completion().model_dump(mode="json"))
    assert folded.choices[0].message.content == body.choices[0].message.content == "2**10 is 1024."
    assert folded.choices[0].finish_reason == body.choices[0].finish_reason == "stop"
    assert folded.usage is not None and body.usage is not None
    assert folded.usage.total_tokens == body.usage.total_tokens == 940
    message = c.completion().model_dump(mode="json")["choices"][0]["message"]
    assert message == {
        "content": "2**10 is 1024.",
        "role": "assistant",
        "reasoning_content": "Let me compute.Now divide.It failed.",
    }


def test_without_include_usage_the_stream_ends_with_the_stop_chunk() -> None:
    _, chunks = wire(EVENTS, include_usage=False)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(chunk["usage"] is None for chunk in chunks)


def test_without_thinking_deltas_carry_no_reasoning_key() -> None:
    c, chunks = wire([TextDelta("Hi"), Usage(10, 1, 0, 0), Done()], thinking=False)
    assert chunks[0]["choices"][0]["delta"] == {"content": "", "role": "assistant"}
    assert chunks[1]["choices"][0]["delta"] == {"content": "Hi"}
    assert chunks[2]["choices"][0]["delta"] == {"content": ""}
    assert c.completion().model_dump(mode="json")["choices"][0]["message"] == {
        "content": "Hi",
        "role": "assistant",
    }


def test_failure_after_start_is_one_error_chunk() -> None:
    c, chunks = wire([ReasoningDelta("hm"), Failed(ModelFailed("The model broke."))])
    assert chunks[-1] == {
        "error": {
            "code": "internal_error",
            "param": None,
            "message": "The model broke.",
            "type": "internal_error",
        },
        "id": "chatcmpl-1",
        "request_id": "req-1",
    }
    assert isinstance(c.error, ModelFailed)
    assert isinstance(c.feed(Failed(ModelFailed("x")))[0], ChatErrorChunk)
