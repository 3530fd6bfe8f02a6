"""Renders the internal event stream as Responses API stream events; the non-stream body is the fold.

``ResponsesComposer.feed(event) -> [StreamEvent]`` owns sequence numbers and output indexes and keeps the
folded ``response`` object up to date, so the streamed and the non-stream answers cannot disagree. The
event order is what ``client.responses.stream()`` (Python) and ``ResponseAccumulator`` (Node) check.
"""

from __future__ import annotations

from typing import Any

from emulator.api.openai_errors import openai_error
from emulator.api.responses_wire import (
    CodeInterpreterCall,
    CodeInterpreterCallEvent,
    CodeInterpreterCodeDeltaEvent,
    CodeInterpreterCodeDoneEvent,
    ContentPartEvent,
    ImageOutput,
    LogsOutput,
    MessageItem,
    OutputItem,
    OutputItemEvent,
    OutputText,
    OutputTextDeltaEvent,
    OutputTextDoneEvent,
    OutputTokensDetails,
    ReasoningItem,
    ReasoningSummaryPartEvent,
    ReasoningSummaryTextDeltaEvent,
    ReasoningSummaryTextDoneEvent,
    ResponseErrorBody,
    ResponseLifecycleEvent,
    ResponseObject,
    ResponseUsage,
    StreamEvent,
    SummaryText,
)
from emulator.core.events import (
    CodeCall,
    CodeResult,
    Done,
    Event,
    Failed,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from emulator.core.ids import IdFactory

#: code is streamed in pieces of at most this many characters (the hosted service streams it token-wise)
CODE_DELTA_CHARS = 32


def code_pieces(code: str) -> list[str]:
    return [code[i : i + CODE_DELTA_CHARS] for i in range(0, len(code), CODE_DELTA_CHARS)] or [""]


def render_usage(usage: Usage) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=usage.reasoning_tokens),
        total_tokens=usage.total_tokens,
        x_tools={"code_interpreter": {"count": usage.code_interpreter_count}},
    )


class ResponsesComposer:
    """Feeds events in, gets Responses stream events out; ``response`` is the folded final object."""

    def __init__(self, response: ResponseObject, ids: IdFactory) -> None:
        self.response = response
        self._ids = ids
        self._seq = 0
        self._open: OutputItem | None = None
        self._text: list[str] = []

    # -- public ---------------------------------------------------------------------------------------------

    def start(self) -> list[StreamEvent]:
        return [
            self._lifecycle("response.created"),
            self._lifecycle("response.in_progress"),
        ]

    def feed(self, event: Event) -> list[StreamEvent]:
        if isinstance(event, ReasoningDelta):
            return self._reasoning_delta(event.text)
        if isinstance(event, TextDelta):
            return self._text_delta(event.text)
        if isinstance(event, CodeCall):
            return self._code_call(event)
        if isinstance(event, CodeResult):
            return self._code_result(event)
        if isinstance(event, Usage):
            self.response.usage = render_usage(event)
            return []
        if isinstance(event, Done):
            frames = self._close()
            self.response.status = "completed"
            return [*frames, self._lifecycle("response.completed")]
        return self._failed(event)

    # -- items ----------------------------------------------------------------------------------------------

    def _stamp(self, event: StreamEvent) -> StreamEvent:
        event.sequence_number = self._seq
        self._seq += 1
        return event

    def _lifecycle(self, kind: str) -> StreamEvent:
        snapshot = self.response.model_copy(deep=True)
        if kind in ("response.created", "response.in_progress"):
            snapshot.status = "in_progress"
        return self._stamp(ResponseLifecycleEvent(type=kind, response=snapshot))  # type: ignore[arg-type]

    def _add(self, item: OutputItem) -> StreamEvent:
        self._open = item
        self.response.output.append(item)
        index = len(self.response.output) - 1
        return self._stamp(
            OutputItemEvent(
                type="response.output_item.added", output_index=index, item=item.model_copy(deep=True)
            )
        )

    @property
    def _index(self) -> int:
        return len(self.response.output) - 1

    def _reasoning_delta(self, text: str) -> list[StreamEvent]:
        frames: list[StreamEvent] = []
        if not isinstance(self._open, ReasoningItem):
            frames += self._close()
            item = ReasoningItem(id=self._ids.new("rs"), status="in_progress")
            frames.append(self._add(item))
            frames.append(
                self._stamp(
                    ReasoningSummaryPartEvent(
                        type="response.reasoning_summary_part.added",
                        item_id=item.id,
                        output_index=self._index,
                        part=SummaryText(text=""),
                    )
                )
            )
            self._text = []
        assert isinstance(self._open, ReasoningItem)
        self._text.append(text)
        frames.append(
            self._stamp(
                ReasoningSummaryTextDeltaEvent(item_id=self._open.id, output_index=self._index, delta=text)
            )
        )
        return frames

    def _text_delta(self, text: str) -> list[StreamEvent]:
        frames: list[StreamEvent] = []
        if not isinstance(self._open, MessageItem):
            frames += self._close()
            item = MessageItem(id=self._ids.new("msg"), status="in_progress")
            frames.append(self._add(item))
            frames.append(
                self._stamp(
                    ContentPartEvent(
                        type="response.content_part.added",
                        item_id=item.id,
                        output_index=self._index,
                        part=OutputText(text=""),
                    )
                )
            )
            self._text = []
        assert isinstance(self._open, MessageItem)
        self._text.append(text)
        frames.append(
            self._stamp(OutputTextDeltaEvent(item_id=self._open.id, output_index=self._index, delta=text))
        )
        return frames

    def _code_call(self, event: CodeCall) -> list[StreamEvent]:
        frames = self._close()
        item = CodeInterpreterCall(
            id=event.call_id, code="", container_id=event.container_id, status="in_progress"
        )
        frames.append(self._add(item))
        common: dict[str, Any] = {"item_id": item.id, "output_index": self._index}
        frames.append(
            self._stamp(CodeInterpreterCallEvent(type="response.code_interpreter_call.in_progress", **common))
        )
        for piece in code_pieces(event.code):
            frames.append(self._stamp(CodeInterpreterCodeDeltaEvent(delta=piece, **common)))
        item.code = event.code
        frames.append(self._stamp(CodeInterpreterCodeDoneEvent(code=event.code, **common)))
        item.status = "interpreting"
        frames.append(
            self._stamp(
                CodeInterpreterCallEvent(type="response.code_interpreter_call.interpreting", **common)
            )
        )
        return frames

    def _code_result(self, event: CodeResult) -> list[StreamEvent]:
        item = self._open
        if not isinstance(item, CodeInterpreterCall) or item.id != event.call_id:
            return []
        outputs: list[LogsOutput | ImageOutput] = [LogsOutput(logs=event.result.logs())]
        outputs += [ImageOutput(url=f"data:image/png;base64,{png}") for png in event.result.images]
        item.outputs = outputs
        # A failed execution is still a completed call: the model reads the traceback and goes on.
        item.status = "completed"
        common: dict[str, Any] = {"item_id": item.id, "output_index": self._index}
        frames = [
            self._stamp(CodeInterpreterCallEvent(type="response.code_interpreter_call.completed", **common))
        ]
        return frames + self._close()

    def _close(self) -> list[StreamEvent]:
        item, self._open = self._open, None
        if item is None:
            return []
        index = self.response.output.index(item)
        frames: list[StreamEvent] = []
        text = "".join(self._text)
        if isinstance(item, ReasoningItem):
            part = SummaryText(text=text)
            frames.append(
                self._stamp(ReasoningSummaryTextDoneEvent(item_id=item.id, output_index=index, text=text))
            )
            frames.append(
                self._stamp(
                    ReasoningSummaryPartEvent(
                        type="response.reasoning_summary_part.done",
                        item_id=item.id,
                        output_index=index,
                        part=part,
                    )
                )
            )
            item.summary = [part]
        elif isinstance(item, MessageItem):
            part_text = OutputText(text=text)
            frames.append(self._stamp(OutputTextDoneEvent(item_id=item.id, output_index=index, text=text)))
            frames.append(
                self._stamp(
                    ContentPartEvent(
                        type="response.content_part.done", item_id=item.id, output_index=index, part=part_text
                    )
                )
            )
            item.content = [part_text]
        elif item.status != "completed":
            item.status = "incomplete"
        if not isinstance(item, CodeInterpreterCall):
            item.status = "completed"
        frames.append(
            self._stamp(
                OutputItemEvent(
                    type="response.output_item.done", output_index=index, item=item.model_copy(deep=True)
                )
            )
        )
        self._text = []
        return frames

    def _failed(self, event: Failed) -> list[StreamEvent]:
        frames = self._close()
        error = openai_error(event.error)
        self.response.status = "failed"
        self.response.error = ResponseErrorBody(code=error["code"], message=error["message"])
        return [*frames, self._lifecycle("response.failed")]
