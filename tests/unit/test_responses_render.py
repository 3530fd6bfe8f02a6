"""The Responses composer, checked against the openai SDK's own stream fold."""

from __future__ import annotations

from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from emulator.api.responses_render import ResponsesComposer
from emulator.api.responses_wire import ResponseObject
from emulator.core.errors import ModelUnavailable
from emulator.core.events import CodeCall, CodeResult, Done, Failed, ReasoningDelta, TextDelta, Usage
from emulator.core.ids import IdFactory
from emulator.sandbox.base import ExecError, ExecResult

EVENTS = [
    ReasoningDelta("Let me "),
    ReasoningDelta("compute."),
    CodeCall("ci_1", "x = 2**10\nx", "cntr_a"),
    Usage(300, 10, 4, 1),
    CodeResult("ci_1", ExecResult(result="1024", images=("iVBORw0KGgo=",))),
    ReasoningDelta("Now divide."),
    CodeCall("ci_2", "x/0", "cntr_a"),
    CodeResult(
        "ci_2",
        ExecResult(
            error=ExecError("ZeroDivisionError", "division by zero", "ZeroDivisionError: division by zero")
        ),
    ),
    ReasoningDelta("It failed."),
    TextDelta("2**10 is "),
    TextDelta("1024."),
    Usage(900, 40, 20, 2),
    Done(),
]

ADAPTER: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def composer() -> ResponsesComposer:
    response = ResponseObject(id="resp_1", created_at=1, model="qwen3-max", status="in_progress")
    return ResponsesComposer(response, IdFactory(seed=1))


def frames_for(events: list) -> tuple[ResponsesComposer, list]:
    c = composer()
    frames = c.start()
    for event in events:
        frames += c.feed(event)
    return c, frames


def test_sdk_fold_of_the_stream_equals_the_folded_body() -> None:
    c, frames = frames_for(EVENTS)
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for frame in frames:
        state.handle_event(ADAPTER.validate_python(frame.model_dump(mode="json")))
    final = state._completed_response
    assert final is not None
    body = c.response.model_dump(mode="json")
    assert final.output_text == "2**10 is 1024."
    assert [item.type for item in final.output] == [item["type"] for item in body["output"]]
    assert final.usage is not None and final.usage.total_tokens == 940
    assert body["output"][1]["outputs"] == [
        {"type": "logs", "logs": "1024"},
        {"type": "image", "url": "data:image/png;base64,iVBORw0KGgo="},
    ]
    assert body["output"][3]["outputs"][0]["logs"] == "ZeroDivisionError: division by zero"
    assert body["output"][3]["status"] == "completed"
    assert body["output"][0]["summary"] == [{"type": "summary_text", "text": "Let me compute."}]


def test_sequence_numbers_count_from_zero_without_gaps() -> None:
    _, frames = frames_for(EVENTS)
    assert [f.sequence_number for f in frames] == list(range(len(frames)))


def test_failure_after_start_is_response_failed_with_error() -> None:
    c, frames = frames_for([ReasoningDelta("hm"), Failed(ModelUnavailable("upstream down"))])
    assert frames[-1].type == "response.failed"
    assert c.response.status == "failed"
    assert c.response.error is not None and c.response.error.code == "service_unavailable"
    assert [f.type for f in frames if f.type == "response.output_item.done"] == ["response.output_item.done"]
