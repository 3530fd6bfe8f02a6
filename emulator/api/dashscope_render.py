"""Renders the internal event stream as DashScope native frames; the non-stream body is the fold.

What the hosted service does (seed dumps, curl and SDK examples), and so what this reproduces:
- every frame carries ``output`` with the message ``role`` and the same ``request_id``;
- ``finish_reason`` is the *string* ``"null"`` until the last frame, which says ``"stop"`` with empty
  content (incremental mode);
- from the frame where the code exists on, ``output.tool_info`` lists every execution so far and
  ``usage.plugins.code_interpreter.count`` counts them; an execution after the first appears first with
  ``"code":""`` and then, in the next frame, with its code (the two-step example's dump);
- ``usage`` is cumulative over the turn (and grows while text streams);
- ``incremental_output`` true (or absent) sends only the new text per frame; false the text so far;
- ``result_format:"text"`` puts the answer into ``output.text`` + ``output.finish_reason`` (no reasoning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from emulator.core.errors import EmulatorError
from emulator.core.events import CodeCall, CodeResult, Done, Event, Failed, ReasoningDelta, TextDelta, Usage
from emulator.core.tokens import count_tokens

#: error kind -> DashScope ``code``; test_error_maps_cover_every_error_kind keeps this total
DASHSCOPE_ERROR_CODES: dict[str, str] = {
    "invalid_parameter": "InvalidParameter",
    "invalid_api_key": "InvalidApiKey",
    "model_not_found": "ModelNotFound",
    "not_found": "NotFound",
    "request_too_large": "RequestTooLarge",
    "rate_limited": "Throttling.RateQuota",
    "service_unavailable": "ServiceUnavailable",
    "internal_error": "InternalError",
    "timeout": "RequestTimeOut",
}


class _Wire(BaseModel):
    """Native frames are dumped with ``exclude_none``: absent keys are absent on the hosted wire too."""

    model_config = ConfigDict(extra="forbid")


class NativeMessage(_Wire):
    content: str
    reasoning_content: str | None = None  # only when thinking
    role: Literal["assistant"] = "assistant"


class NativeChoice(_Wire):
    message: NativeMessage
    finish_reason: str  # "null" (a string, on purpose) until the last frame


class CodeInterpreterInfo(_Wire):
    code: str


class ToolInfo(_Wire):
    code_interpreter: CodeInterpreterInfo
    type: Literal["code_interpreter"] = "code_interpreter"


class NativeOutput(_Wire):
    text: str | None = None  # result_format "text"
    finish_reason: str | None = None  # result_format "text"
    choices: list[NativeChoice] | None = None  # result_format "message"
    tool_info: list[ToolInfo] | None = None


class OutputTokensDetails(_Wire):
    reasoning_tokens: int


class PluginCount(_Wire):
    count: int


class Plugins(_Wire):
    code_interpreter: PluginCount


class NativeUsage(_Wire):
    total_tokens: int
    output_tokens: int
    input_tokens: int
    output_tokens_details: OutputTokensDetails | None = None
    plugins: Plugins | None = None


class NativeResult(_Wire):
    output: NativeOutput
    usage: NativeUsage
    request_id: str


class NativeError(_Wire):
    code: str
    message: str
    request_id: str


@dataclass(frozen=True)
class NativeFrame:
    """One SSE frame: ``id:<seq>`` and a result, or (``status`` set) an ``event:error`` frame."""

    seq: int
    payload: NativeResult | NativeError
    status: int = 200


def native_error(exc: EmulatorError, request_id: str) -> NativeError:
    """The native error body; invalid parameters carry the hosted ``<400> InternalError.Algo…`` prefix."""
    code = DASHSCOPE_ERROR_CODES[exc.kind]
    message = exc.message
    if exc.kind == "invalid_parameter":
        message = f"<{exc.status}> InternalError.Algo.InvalidParameter: {message}"
    return NativeError(code=code, message=message, request_id=request_id)


class NativeComposer:
    """Feeds events in, gets native frames out; ``final()`` is the folded non-stream body."""

    def __init__(
        self,
        *,
        request_id: str,
        thinking: bool,
        result_format: Literal["message", "text"] = "message",
        incremental: bool = True,
        prompt_tokens: int = 0,
    ) -> None:
        self.request_id = request_id
        self.thinking = thinking
        self.result_format = result_format
        self.incremental = incremental
        self.reasoning: list[str] = []
        self.answer: list[str] = []
        self.tool_info: list[ToolInfo] = []
        self.error: EmulatorError | None = None
        self._seq = 0
        # usage so far: the last Usage of the loop plus an estimate of what streamed since it, counted the
        # way the loop counts an inference (whole texts, not pieces) so frames never run ahead of it
        self._usage = Usage(prompt_tokens, 0, 0, 0)
        self._reasoning_since = ""
        self._answer_since = ""

    def feed(self, event: Event) -> list[NativeFrame]:
        if isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
            self._reasoning_since += event.text
            if self.result_format == "text" or not self.thinking:
                return []  # the text format has no place for reasoning
            return [self._frame(reasoning=event.text)]
        if isinstance(event, TextDelta):
            self.answer.append(event.text)
            self._answer_since += event.text
            return [self._frame(content=event.text)]
        if isinstance(event, CodeCall):
            return self._code_call(event)
        if isinstance(event, CodeResult):
            return []  # the native surface returns the code (tool_info), not its output
        if isinstance(event, Usage):
            self._usage = event
            self._reasoning_since = self._answer_since = ""
            return []
        if isinstance(event, Done):
            return [self._frame(finish_reason=event.finish_reason)]
        return self._failed(event)

    def final(self) -> NativeResult:
        """The non-stream body: the last frame with the full texts."""
        return self._result(
            content="".join(self.answer), reasoning="".join(self.reasoning), finish_reason="stop"
        )

    # -- frames ---------------------------------------------------------------------------------------------

    def _code_call(self, event: CodeCall) -> list[NativeFrame]:
        frames: list[NativeFrame] = []
        if self.tool_info:
            # The hosted stream announces a later execution with an empty code first.
            self.tool_info.append(ToolInfo(code_interpreter=CodeInterpreterInfo(code="")))
            frames.append(self._frame())
            self.tool_info[-1] = ToolInfo(code_interpreter=CodeInterpreterInfo(code=event.code))
        else:
            self.tool_info.append(ToolInfo(code_interpreter=CodeInterpreterInfo(code=event.code)))
        frames.append(self._frame())
        return frames

    def _frame(self, *, content: str = "", reasoning: str = "", finish_reason: str = "null") -> NativeFrame:
        if not self.incremental:
            content, reasoning = "".join(self.answer), "".join(self.reasoning)
        self._seq += 1
        return NativeFrame(self._seq, self._result(content, reasoning, finish_reason))

    def _result(self, content: str, reasoning: str, finish_reason: str) -> NativeResult:
        tool_info = [t.model_copy(deep=True) for t in self.tool_info] or None
        if self.result_format == "text":
            output = NativeOutput(text=content, finish_reason=finish_reason, tool_info=tool_info)
        else:
            message = NativeMessage(content=content, reasoning_content=reasoning if self.thinking else None)
            output = NativeOutput(
                choices=[NativeChoice(message=message, finish_reason=finish_reason)], tool_info=tool_info
            )
        return NativeResult(output=output, usage=self._render_usage(), request_id=self.request_id)

    def _render_usage(self) -> NativeUsage:
        usage = self._usage
        since_reasoning = count_tokens(self._reasoning_since)
        output_tokens = usage.output_tokens + since_reasoning + count_tokens(self._answer_since)
        count = len(self.tool_info)
        return NativeUsage(
            total_tokens=usage.input_tokens + output_tokens,
            output_tokens=output_tokens,
            input_tokens=usage.input_tokens,
            output_tokens_details=(
                OutputTokensDetails(reasoning_tokens=usage.reasoning_tokens + since_reasoning)
                if self.thinking
                else None
            ),
            plugins=Plugins(code_interpreter=PluginCount(count=count)) if count else None,
        )

    def _failed(self, event: Failed) -> list[NativeFrame]:
        self.error = event.error
        self._seq += 1
        return [NativeFrame(self._seq, native_error(event.error, self.request_id), status=event.error.status)]


def dump(payload: NativeResult | NativeError) -> dict[str, Any]:
    return payload.model_dump(mode="json", exclude_none=True)
