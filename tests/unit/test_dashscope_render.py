"""The DashScope native composer: frames from hand-built event lists, checked with the SDK's own types."""

from __future__ import annotations

from http import HTTPStatus

from dashscope.api_entities.dashscope_response import DashScopeAPIResponse, GenerationResponse

from emulator.api.dashscope_render import NativeComposer, dump, native_error
from emulator.core.errors import AuthenticationFailed, InvalidParameter, SandboxUnavailable
from emulator.core.events import CodeCall, CodeResult, Done, Failed, ReasoningDelta, TextDelta, Usage
from emulator.sandbox.base import ExecError, ExecResult

TWO_STEP = [
    ReasoningDelta("First 123**23."),
    CodeCall("ci_1", "123**23", "cntr_a"),
    Usage(300, 10, 4, 1),
    CodeResult("ci_1", ExecResult(result=str(123**23))),
    ReasoningDelta("Now divide."),
    CodeCall("ci_2", "_ / 5", "cntr_a"),
    Usage(700, 20, 8, 2),
    CodeResult("ci_2", ExecResult(error=ExecError("NameError", "name '_' is not defined"))),
    ReasoningDelta("Done."),
    TextDelta("It is "),
    TextDelta("big."),
    Usage(1200, 40, 20, 2),
    Done(),
]


def frames(events: list, **kw: object) -> tuple[NativeComposer, list]:
    options: dict = {"request_id": "req-1", "thinking": True, "prompt_tokens": 250, **kw}
    c = NativeComposer(**options)
    out = []
    for event in events:
        out += c.feed(event)
    return c, out


def test_ids_count_from_one_and_finish_reason_is_the_string_null_until_stop() -> None:
    _, out = frames(TWO_STEP)
    assert [f.seq for f in out] == list(range(1, len(out) + 1))
    reasons = [dump(f.payload)["output"]["choices"][0]["finish_reason"] for f in out]
    assert reasons == ["null"] * (len(out) - 1) + ["stop"]
    assert {dump(f.payload)["request_id"] for f in out} == {"req-1"}
    assert all(dump(f.payload)["output"]["choices"][0]["message"]["role"] == "assistant" for f in out)


def test_first_frame_matches_the_curl_dump_key_order() -> None:
    _, out = frames(TWO_STEP)
    first = dump(out[0].payload)
    assert list(first) == ["output", "usage", "request_id"]
    assert first["output"] == {
        "choices": [
            {
                "message": {"content": "", "reasoning_content": "First 123**23.", "role": "assistant"},
                "finish_reason": "null",
            }
        ]
    }
    assert list(first["usage"]) == ["total_tokens", "output_tokens", "input_tokens", "output_tokens_details"]
    assert first["usage"]["input_tokens"] == 250


def test_tool_info_grows_and_a_later_execution_first_appears_with_empty_code() -> None:
    _, out = frames(TWO_STEP)
    infos = [dump(f.payload)["output"].get("tool_info") for f in out]
    ci = [[t["code_interpreter"]["code"] for t in info] if info else None for info in infos]
    assert ci[:5] == [None, ["123**23"], ["123**23"], ["123**23", ""], ["123**23", "_ / 5"]]
    assert ci[-1] == ["123**23", "_ / 5"]
    assert dump(out[1].payload)["output"]["tool_info"][0] == {
        "code_interpreter": {"code": "123**23"},
        "type": "code_interpreter",
    }
    counts = [
        dump(f.payload)["usage"].get("plugins", {}).get("code_interpreter", {}).get("count") for f in out
    ]
    assert counts == [None, 1, 1, 2, 2, 2, 2, 2, 2]


def test_usage_is_cumulative_and_the_last_frame_carries_the_turns_total() -> None:
    c, out = frames(TWO_STEP)
    usages = [dump(f.payload)["usage"] for f in out]
    assert [u["output_tokens"] for u in usages] == sorted(u["output_tokens"] for u in usages)
    assert usages[-1] == {
        "total_tokens": 1240,
        "output_tokens": 40,
        "input_tokens": 1200,
        "output_tokens_details": {"reasoning_tokens": 20},
        "plugins": {"code_interpreter": {"count": 2}},
    }
    assert dump(c.final())["usage"] == usages[-1]


def test_cumulative_mode_repeats_the_text_so_far() -> None:
    _, out = frames(TWO_STEP, incremental=False)
    messages = [dump(f.payload)["output"]["choices"][0]["message"] for f in out]
    assert messages[-2]["content"] == "It is big."
    assert messages[-1] == {
        "content": "It is big.",
        "reasoning_content": "First 123**23.Now divide.Done.",
        "role": "assistant",
    }


def test_final_body_is_the_last_frame_with_full_texts_and_parses_in_the_sdk() -> None:
    c, _ = frames(TWO_STEP)
    body = dump(c.final())
    assert body["output"]["choices"][0] == {
        "message": {
            "content": "It is big.",
            "reasoning_content": "First 123**23.Now divide.Done.",
            "role": "assistant",
        },
        "finish_reason": "stop",
    }
    api = DashScopeAPIResponse(
        request_id=body["request_id"], status_code=HTTPStatus.OK, output=body["output"], usage=body["usage"]
    )
    parsed = GenerationResponse.from_api_response(api)
    assert parsed.output.choices[0].message.content == "It is big."
    assert parsed.output.tool_info[1]["code_interpreter"]["code"] == "_ / 5"
    assert parsed.usage.plugins == {"code_interpreter": {"count": 2}}


def test_text_format_puts_the_answer_into_output_text_without_reasoning() -> None:
    c, out = frames(
        [ReasoningDelta("hm"), TextDelta("Hello"), Usage(10, 2, 1, 0), Done()], result_format="text"
    )
    assert [dump(f.payload)["output"] for f in out] == [
        {"text": "Hello", "finish_reason": "null"},
        {"text": "", "finish_reason": "stop"},
    ]
    assert dump(c.final())["output"] == {"text": "Hello", "finish_reason": "stop"}


def test_without_thinking_there_is_no_reasoning_key() -> None:
    _, out = frames([TextDelta("Hi"), Usage(10, 1, 0, 0), Done()], thinking=False)
    assert dump(out[0].payload)["output"]["choices"][0]["message"] == {"content": "Hi", "role": "assistant"}
    assert "output_tokens_details" not in dump(out[0].payload)["usage"]


def test_failure_after_start_is_one_error_frame_with_its_status() -> None:
    _, out = frames([ReasoningDelta("hm"), Failed(SandboxUnavailable("No sandbox.", retry_after=3))])
    error = out[-1]
    assert (error.seq, error.status) == (2, 503)
    assert dump(error.payload) == {
        "code": "ServiceUnavailable",
        "message": "No sandbox.",
        "request_id": "req-1",
    }


def test_native_error_bodies() -> None:
    assert dump(native_error(InvalidParameter("Bad thing."), "r")) == {
        "code": "InvalidParameter",
        "message": "<400> InternalError.Algo.InvalidParameter: Bad thing.",
        "request_id": "r",
    }
    assert dump(native_error(AuthenticationFailed("Invalid API-key provided."), "r")) == {
        "code": "InvalidApiKey",
        "message": "Invalid API-key provided.",
        "request_id": "r",
    }
