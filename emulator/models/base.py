"""The model protocol: given the transcript so far, stream one step.

A step (one inference) is reasoning text, then either one code proposal or answer text. The loop runs the
code in the sandbox, appends a ``ToolExchange`` to the transcript and asks for the next step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from emulator.sandbox.base import ExecResult

# --- transcript -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message of the conversation (system instructions, user input, an earlier answer)."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class ToolExchange:
    """One execution the model asked for in this conversation, with the reasoning that led to it."""

    call_id: str
    code: str
    result: ExecResult
    reasoning: str = ""


TranscriptEntry: TypeAlias = Message | ToolExchange


def current_turn(transcript: Sequence[TranscriptEntry]) -> tuple[str, list[ToolExchange]]:
    """The last user message and the executions made since it (the turn in progress)."""
    exchanges: list[ToolExchange] = []
    for entry in reversed(transcript):
        if isinstance(entry, ToolExchange):
            exchanges.append(entry)
        elif entry.role == "user":
            return entry.content, list(reversed(exchanges))
    return "", list(reversed(exchanges))


# --- what a step yields -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepReasoning:
    text: str


@dataclass(frozen=True, slots=True)
class StepText:
    text: str


@dataclass(frozen=True, slots=True)
class StepCode:
    """The step ends by asking for this code to be run (at most one per step).

    ``result`` pins the execution's result (a cassette's ``output``): the loop reports it instead of running
    the sandbox.
    """

    code: str
    result: ExecResult | None = None


@dataclass(frozen=True, slots=True)
class StepUsage:
    """Real token counts of this inference, when the backend knows them (else the loop estimates)."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0


StepOutput: TypeAlias = StepReasoning | StepText | StepCode | StepUsage


@dataclass(frozen=True, slots=True)
class StepContext:
    """Everything a backend may use to produce the next step."""

    model: str  # the name the client asked for
    transcript: Sequence[TranscriptEntry]
    thinking: bool
    code_interpreter: bool
    round_index: int  # 0 for the first inference of the turn
    max_rounds: int
    request_id: str = ""
    options: dict[str, str] = field(default_factory=dict)  # surface hints (headers such as x-emulator-script)


@runtime_checkable
class Model(Protocol):
    """A model backend. ``step`` is an async generator of ``StepOutput``; errors are ``EmulatorError``s."""

    name: str

    def serves(self, model: str) -> bool:
        """Whether this backend answers requests for ``model``."""
        ...

    def step(self, ctx: StepContext) -> AsyncIterator[StepOutput]: ...

    async def aclose(self) -> None: ...
