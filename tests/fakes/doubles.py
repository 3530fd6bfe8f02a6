"""Tiny in-memory doubles of the *model* and the *sandbox* (not of the code under test).

Like httpx's MockTransport: plugged in through the public constructors (``create_app(models=…,
sandbox=…)``, ``Engine(...)``) to script what the model says or what an execution returns.
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from emulator.core.errors import EmulatorError
from emulator.models.base import StepCode, StepContext, StepOutput, StepReasoning, StepText, current_turn
from emulator.sandbox.base import ExecError, ExecResult


@dataclass
class ScriptedStep:
    reasoning: Sequence[str] = ()
    code: str | None = None
    text: Sequence[str] = ()
    raises: EmulatorError | None = None


class StepScriptModel:
    """Plays one ``ScriptedStep`` per inference of each turn (indexed by executions done so far)."""

    name = "step-script"

    def __init__(self, steps: Sequence[ScriptedStep], names: Sequence[str] = ("qwen3-max",)) -> None:
        self.steps = list(steps)
        self.names = set(names)
        self.contexts: list[StepContext] = []

    def serves(self, model: str) -> bool:
        return model in self.names

    async def step(self, ctx: StepContext) -> AsyncIterator[StepOutput]:
        self.contexts.append(ctx)
        _, exchanges = current_turn(ctx.transcript)
        step = self.steps[min(len(exchanges), len(self.steps) - 1)]
        if step.raises is not None:
            raise step.raises
        for piece in step.reasoning:
            yield StepReasoning(piece)
        if step.code is not None:
            yield StepCode(step.code)
            return
        for piece in step.text:
            yield StepText(piece)

    async def aclose(self) -> None:
        return None


def eval_code(code: str) -> ExecResult:
    """Evaluates a literal arithmetic expression; anything else is a NameError-like error result."""
    try:
        return ExecResult(
            result=repr(eval(compile(ast.parse(code, mode="eval"), "<cell>", "eval"), {"__builtins__": {}}))
        )
    except Exception as exc:  # the double reports errors the way a runner would
        return ExecResult(error=ExecError(type(exc).__name__, str(exc), f"{type(exc).__name__}: {exc}"))


@dataclass
class MemorySession:
    id: str
    runner: Callable[[str], ExecResult]
    ran: list[str] = field(default_factory=list)
    closed: bool = False

    async def run(self, code: str, timeout: float | None = None) -> ExecResult:
        self.ran.append(code)
        return self.runner(code)

    async def close(self) -> None:
        self.closed = True


class MemorySandbox:
    """A sandbox double: results come from ``runner`` (default: literal arithmetic)."""

    backend = "memory"
    isolation_tier = "none"

    def __init__(
        self, runner: Callable[[str], ExecResult] = eval_code, open_error: EmulatorError | None = None
    ):
        self.runner = runner
        self.open_error = open_error
        self.sessions: list[MemorySession] = []

    async def start(self) -> None:
        return None

    async def open(self, session_key: str) -> MemorySession:
        if self.open_error is not None:
            raise self.open_error
        session = MemorySession(f"cntr_mem{len(self.sessions)}", self.runner)
        self.sessions.append(session)
        return session

    async def aclose(self) -> None:
        for session in self.sessions:
            await session.close()

    def describe(self) -> dict[str, object]:
        return {"backend": self.backend, "isolation_tier": self.isolation_tier}
