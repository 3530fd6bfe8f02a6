"""The internal event stream of one turn.

The loop (``core/loop.py``) yields these and nothing else; every surface renders the same stream into its own
wire format, and a non-stream body is the fold of the same events. Events are frozen, slotted dataclasses,
kept apart from the wire models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from emulator.core.errors import EmulatorError
from emulator.sandbox.base import ExecResult


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking. Consecutive deltas form one reasoning block."""

    text: str


@dataclass(frozen=True, slots=True)
class CodeCall:
    """The model proposed code; the loop is about to run it in ``container_id``."""

    call_id: str
    code: str
    container_id: str


@dataclass(frozen=True, slots=True)
class CodeResult:
    """The execution of ``call_id`` finished (successfully or with an error result)."""

    call_id: str
    result: ExecResult


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of the turn so far, summed over every inference (cumulative, not a delta)."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    code_interpreter_count: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Done:
    """The turn ended normally."""

    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class Failed:
    """The turn failed after it started; surfaces render it in their mid-stream error shape."""

    error: EmulatorError


Event: TypeAlias = ReasoningDelta | CodeCall | CodeResult | TextDelta | Usage | Done | Failed
