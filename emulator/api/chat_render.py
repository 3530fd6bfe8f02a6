"""Renders the internal event stream as Chat Completions chunks; the non-stream body is the fold.

``ChatComposer.feed(event) -> [chunk]`` mirrors the hosted compatible mode (seed dumps): a first chunk with
``role`` and an empty ``reasoning_content``, reasoning chunks, answer chunks, a last chunk with
``finish_reason:"stop"`` and empty content, and with ``include_usage`` a usage chunk whose ``choices`` is
empty. The code and its output never appear on this surface: reasoning before and after an execution both
arrive as ``reasoning_content``. ``completion()`` folds the same events into a ``chat.completion``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from emulator.api.openai_errors import openai_error
from emulator.core.errors import EmulatorError
from emulator.core.events import CodeCall, CodeResult, Done, Event, Failed, ReasoningDelta, TextDelta, Usage


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChunkDelta(_Wire):
    """Only the keys that were set go on the wire: the hosted deltas differ in which keys they carry
    (``role`` only in the first chunk, ``reasoning_content`` only when thinking)."""

    content: str | None = None
    role: Literal["assistant"] | None = None
    reasoning_content: str | None = None

    @model_serializer(mode="wrap")
    def _only_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class ChunkChoice(_Wire):
    delta: ChunkDelta
    index: int = 0
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None = None


class CompletionTokensDetails(_Wire):
    reasoning_tokens: int = 0


class ChatUsage(_Wire):
    # ``prompt_tokens_details`` is left out: the hosted usage has none (the SDK shows None).
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails


class ChatChunk(_Wire):
    choices: list[ChunkChoice]
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    usage: ChatUsage | None = None
    created: int
    system_fingerprint: None = None
    model: str
    id: str


class ChatErrorChunk(_Wire):
    """A failure after the stream started: the openai SDK raises ``APIError`` on a chunk with ``error``."""

    error: dict[str, Any]
    id: str
    request_id: str


class CompletionMessage(ChunkDelta):
    """The non-stream message: ``reasoning_content`` only when thinking (same only-set rule)."""


class CompletionChoice(_Wire):
    message: CompletionMessage
    finish_reason: Literal["stop", "length"]
    index: int = 0
    logprobs: None = None


class ChatCompletion(_Wire):
    choices: list[CompletionChoice]
    object: Literal["chat.completion"] = "chat.completion"
    usage: ChatUsage
    created: int
    system_fingerprint: None = None
    model: str
    id: str


ChatFrame = ChatChunk | ChatErrorChunk


def render_usage(usage: Usage) -> ChatUsage:
    return ChatUsage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.reasoning_tokens),
    )


class ChatComposer:
    """Feeds events in, gets chunks out; ``completion()`` is the folded non-stream body."""

    def __init__(
        self,
        *,
        completion_id: str,
        request_id: str,
        model: str,
        created: int,
        thinking: bool,
        include_usage: bool = False,
    ) -> None:
        self.completion_id = completion_id
        self.request_id = request_id
        self.model = model
        self.created = created
        self.thinking = thinking
        self.include_usage = include_usage
        self.reasoning: list[str] = []
        self.answer: list[str] = []
        self.usage = Usage(0, 0, 0, 0)
        self.finish_reason: Literal["stop", "length"] | None = None
        self.error: EmulatorError | None = None

    def start(self) -> list[ChatFrame]:
        if self.thinking:
            delta = ChunkDelta(content=None, role="assistant", reasoning_content="")
        else:
            delta = ChunkDelta(content="", role="assistant")
        return [self._chunk(delta)]

    def feed(self, event: Event) -> list[ChatFrame]:
        if isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
            return [self._chunk(ChunkDelta(content=None, reasoning_content=event.text))]
        if isinstance(event, TextDelta):
            self.answer.append(event.text)
            return [self._chunk(self._content(event.text))]
        if isinstance(event, CodeCall | CodeResult):
            return []  # the hosted compatible mode does not return the code or its output
        if isinstance(event, Usage):
            self.usage = event
            return []
        if isinstance(event, Done):
            self.finish_reason = "length" if event.finish_reason == "length" else "stop"
            frames: list[ChatFrame] = [self._chunk(self._content(""), finish_reason=self.finish_reason)]
            if self.include_usage:
                frames.append(self._usage_chunk())
            return frames
        return self._failed(event)

    def completion(self) -> ChatCompletion:
        if self.thinking:
            message = CompletionMessage(
                role="assistant", content="".join(self.answer), reasoning_content="".join(self.reasoning)
            )
        else:
            message = CompletionMessage(role="assistant", content="".join(self.answer))
        return ChatCompletion(
            choices=[CompletionChoice(message=message, finish_reason=self.finish_reason or "stop")],
            usage=render_usage(self.usage),
            created=self.created,
            model=self.model,
            id=self.completion_id,
        )

    # -- chunks ---------------------------------------------------------------------------------------------

    def _content(self, text: str) -> ChunkDelta:
        if self.thinking:
            return ChunkDelta(content=text, reasoning_content=None)
        return ChunkDelta(content=text)

    def _chunk(
        self, delta: ChunkDelta, *, finish_reason: Literal["stop", "length"] | None = None
    ) -> ChatChunk:
        return ChatChunk(
            choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)],
            created=self.created,
            model=self.model,
            id=self.completion_id,
        )

    def _usage_chunk(self) -> ChatChunk:
        return ChatChunk(
            choices=[],
            usage=render_usage(self.usage),
            created=self.created,
            model=self.model,
            id=self.completion_id,
        )

    def _failed(self, event: Failed) -> list[ChatFrame]:
        self.error = event.error
        return [
            ChatErrorChunk(error=openai_error(event.error), id=self.completion_id, request_id=self.request_id)
        ]
