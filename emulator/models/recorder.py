"""Record what a model backend said, turn by turn, as cassettes the ``scripted`` backend replays.

``RecordingModel`` wraps a backend (the upstream one under ``--record DIR``) and passes every output through
unchanged; when a turn ends (a step without code, or the ``max_rounds`` cap) it writes the turn to
``DIR/<name>.yaml``. The name is the request header ``x-emulator-record-as`` (turns of several requests with
the same name become one multi-turn cassette) or ``recorded-NNN``. Deltas keep the model's chunking and
usage is the model's own, so a replay with the same seed reproduces the same wire output.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import anyio

from emulator.models.base import (
    Model,
    StepCode,
    StepContext,
    StepOutput,
    StepReasoning,
    StepText,
    StepUsage,
    current_turn,
)
from emulator.models.cassette import (
    Cassette,
    PinnedError,
    PinnedOutput,
    Step,
    TokenUsage,
    Turn,
    dump_cassette,
)
from emulator.models.scripted import stream_pieces

log = logging.getLogger(__name__)

RECORD_HEADER = "x-emulator-record-as"


def _text(chunks: list[str]) -> str | list[str]:
    """A plain string when replaying it gives the same deltas (readable), else the list of deltas."""
    joined = "".join(chunks)
    return joined if stream_pieces(joined) == chunks else list(chunks)


@dataclass
class _StepRecord:
    reasoning: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    code: StepCode | None = None
    usage: StepUsage | None = None

    def add(self, out: StepOutput) -> None:
        if isinstance(out, StepReasoning):
            self.reasoning.append(out.text)
        elif isinstance(out, StepText):
            self.text.append(out.text)
        elif isinstance(out, StepCode):
            self.code = out
        else:
            self.usage = out

    def to_step(self) -> Step:
        usage = None
        if self.usage is not None:
            usage = TokenUsage(
                input_tokens=self.usage.input_tokens,
                output_tokens=self.usage.output_tokens,
                reasoning_tokens=self.usage.reasoning_tokens,
            )
        if self.code is None:
            return Step(reasoning=_text(self.reasoning), answer=_text(self.text), usage=usage)
        output = None
        pinned = self.code.result
        if pinned is not None:
            error = None
            if pinned.error is not None:
                error = PinnedError(
                    name=pinned.error.name, message=pinned.error.message, traceback=pinned.error.traceback
                )
            output = PinnedOutput(
                stdout=pinned.stdout,
                stderr=pinned.stderr,
                result=pinned.result,
                images=list(pinned.images),
                error=error,
                reset=pinned.reset,
            )
        answer = _text(self.text) if self.text else None  # text some models write before a tool call
        return Step(
            reasoning=_text(self.reasoning), answer=answer, code=self.code.code, output=output, usage=usage
        )


@dataclass
class _TurnRecord:
    name: str | None
    model: str
    prompt: str
    steps: list[Step] = field(default_factory=list)


class CassetteRecorder:
    """Writes recorded turns into a directory, one cassette per name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._turns: dict[str, list[Turn]] = {}
        self._counter = 0

    def _fresh_name(self) -> str:
        while True:
            self._counter += 1
            name = f"recorded-{self._counter:03d}"
            if name not in self._turns and not (self.directory / f"{name}.yaml").exists():
                return name

    async def write(self, turn: _TurnRecord) -> Path:
        name = turn.name or self._fresh_name()
        turns = self._turns.setdefault(name, [])
        turns.append(Turn(prompt=turn.prompt or None, steps=turn.steps))
        many = len(turns) > 1
        cassette = Cassette(
            name=name,
            description=f"Recorded from {turn.model}",
            model=turn.model,
            steps=None if many else turns[0].steps,
            turns=turns if many else None,
        )
        path = self.directory / f"{name}.yaml"
        await anyio.to_thread.run_sync(_write_atomically, path, dump_cassette(cassette))
        log.info("recorded turn %d of cassette %s", len(turns), path)
        return path


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".yaml.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


class RecordingModel:
    """Passes a backend's outputs through and records each finished turn as a cassette."""

    def __init__(self, inner: Model, recorder: CassetteRecorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.name = inner.name
        self._open: dict[str, _TurnRecord] = {}

    def serves(self, model: str) -> bool:
        return self.inner.serves(model)

    async def step(self, ctx: StepContext) -> AsyncIterator[StepOutput]:
        key = ctx.request_id or "-"
        turn = self._open.get(key)
        if turn is None or ctx.round_index == 0:
            prompt, _ = current_turn(ctx.transcript)
            turn = _TurnRecord(ctx.options.get(RECORD_HEADER), ctx.model, prompt)
            self._open[key] = turn
        record = _StepRecord()
        finished = False
        try:
            async with aclosing(cast("AsyncGenerator[StepOutput, None]", self.inner.step(ctx))) as outputs:
                async for out in outputs:
                    record.add(out)
                    yield out
            finished = True
        finally:
            if not finished:  # the step failed or was abandoned: the turn is not worth replaying
                self._open.pop(key, None)
        turn.steps.append(record.to_step())
        if record.code is None or ctx.round_index >= ctx.max_rounds:
            self._open.pop(key, None)
            await self.recorder.write(turn)

    async def aclose(self) -> None:
        await self.inner.aclose()
