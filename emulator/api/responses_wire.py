"""Wire models of the Responses API: output items, the response object, and one model per stream event.

Field sets follow the openai SDK's types (``openai/types/responses``) so the body also validates under the
SDK's opt-in strict mode; e.g. ``input_tokens_details.cache_write_tokens`` is required by current SDKs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- items ------------------------------------------------------------------------------------------------


class SummaryText(_Wire):
    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningItem(_Wire):
    id: str
    type: Literal["reasoning"] = "reasoning"
    summary: list[SummaryText] = Field(default_factory=list)
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


class LogsOutput(_Wire):
    type: Literal["logs"] = "logs"
    logs: str


class ImageOutput(_Wire):
    type: Literal["image"] = "image"
    url: str


class CodeInterpreterCall(_Wire):
    id: str
    type: Literal["code_interpreter_call"] = "code_interpreter_call"
    code: str
    container_id: str
    status: Literal["in_progress", "interpreting", "completed", "incomplete", "failed"] = "completed"
    outputs: list[LogsOutput | ImageOutput] | None = None


class OutputText(_Wire):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class MessageItem(_Wire):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    content: list[OutputText] = Field(default_factory=list)


OutputItem = ReasoningItem | CodeInterpreterCall | MessageItem


# --- response ---------------------------------------------------------------------------------------------


class InputTokensDetails(_Wire):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(_Wire):
    reasoning_tokens: int = 0


class ResponseUsage(_Wire):
    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int
    x_tools: dict[str, dict[str, int]] = Field(default_factory=dict)


class ResponseErrorBody(_Wire):
    code: str
    message: str


class ResponseObject(_Wire):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    model: str
    status: Literal["in_progress", "completed", "failed", "incomplete"]
    output: list[OutputItem] = Field(default_factory=list)
    error: ResponseErrorBody | None = None
    incomplete_details: dict[str, Any] | None = None
    instructions: str | None = None
    metadata: dict[str, str] | None = None
    max_output_tokens: int | None = None
    parallel_tool_calls: bool = False
    previous_response_id: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: str = "auto"
    tools: list[dict[str, Any]] = Field(default_factory=list)
    usage: ResponseUsage | None = None


# --- stream events ----------------------------------------------------------------------------------------


class _Event(_Wire):
    sequence_number: int = 0


class ResponseLifecycleEvent(_Event):
    type: Literal["response.created", "response.in_progress", "response.completed", "response.failed"]
    response: ResponseObject


class OutputItemEvent(_Event):
    type: Literal["response.output_item.added", "response.output_item.done"]
    output_index: int
    item: OutputItem


class ReasoningSummaryPartEvent(_Event):
    type: Literal["response.reasoning_summary_part.added", "response.reasoning_summary_part.done"]
    item_id: str
    output_index: int
    summary_index: int = 0
    part: SummaryText


class ReasoningSummaryTextDeltaEvent(_Event):
    type: Literal["response.reasoning_summary_text.delta"] = "response.reasoning_summary_text.delta"
    item_id: str
    output_index: int
    summary_index: int = 0
    delta: str


class ReasoningSummaryTextDoneEvent(_Event):
    type: Literal["response.reasoning_summary_text.done"] = "response.reasoning_summary_text.done"
    item_id: str
    output_index: int
    summary_index: int = 0
    text: str


class CodeInterpreterCallEvent(_Event):
    type: Literal[
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    item_id: str
    output_index: int


class CodeInterpreterCodeDeltaEvent(_Event):
    type: Literal["response.code_interpreter_call_code.delta"] = "response.code_interpreter_call_code.delta"
    item_id: str
    output_index: int
    delta: str


class CodeInterpreterCodeDoneEvent(_Event):
    type: Literal["response.code_interpreter_call_code.done"] = "response.code_interpreter_call_code.done"
    item_id: str
    output_index: int
    code: str


class ContentPartEvent(_Event):
    type: Literal["response.content_part.added", "response.content_part.done"]
    item_id: str
    output_index: int
    content_index: int = 0
    part: OutputText


class OutputTextDeltaEvent(_Event):
    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    item_id: str
    output_index: int
    content_index: int = 0
    delta: str
    logprobs: list[Any] = Field(default_factory=list)


class OutputTextDoneEvent(_Event):
    type: Literal["response.output_text.done"] = "response.output_text.done"
    item_id: str
    output_index: int
    content_index: int = 0
    text: str
    logprobs: list[Any] = Field(default_factory=list)


StreamEvent = (
    ResponseLifecycleEvent
    | OutputItemEvent
    | ReasoningSummaryPartEvent
    | ReasoningSummaryTextDeltaEvent
    | ReasoningSummaryTextDoneEvent
    | CodeInterpreterCallEvent
    | CodeInterpreterCodeDeltaEvent
    | CodeInterpreterCodeDoneEvent
    | ContentPartEvent
    | OutputTextDeltaEvent
    | OutputTextDoneEvent
)
