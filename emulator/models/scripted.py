"""The ``scripted`` backend: replays cassettes (``models/cassette.py``), our ``MockTransport``.

Selected by the model name ``scripted:<cassette>`` or, for any model name, the request header
``x-emulator-script: <cassette>`` (then the response still echoes the model the client asked for). Step
``n`` of a turn is the cassette's ``n``-th step; the turn is the ``n``-th user message of the transcript.
Code steps are executed for real by the loop unless the cassette pins their output.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence

from emulator.core.errors import ModelNotFound
from emulator.models.base import (
    Message,
    StepCode,
    StepContext,
    StepOutput,
    StepReasoning,
    StepText,
    StepUsage,
    TranscriptEntry,
)
from emulator.models.cassette import Cassette, CassetteLibrary

MODEL_PREFIX = "scripted:"
SCRIPT_HEADER = "x-emulator-script"

#: how a string ``reasoning``/``answer`` is streamed: word by word, each with its trailing space
_PIECE = re.compile(r"\s*\S+\s*|\s+")


def stream_pieces(text: str | list[str]) -> list[str]:
    """The deltas of a cassette text: a list is kept as recorded, a string is split into words."""
    if isinstance(text, list):
        return [piece for piece in text if piece]
    return _PIECE.findall(text)


def turn_index(transcript: Sequence[TranscriptEntry]) -> int:
    """0 for the first user message of the conversation, 1 for the second, …"""
    users = sum(1 for entry in transcript if isinstance(entry, Message) and entry.role == "user")
    return max(users - 1, 0)


class ScriptedModel:
    """Replays the cassettes of a ``CassetteLibrary``; fails loudly when a replay runs out of steps."""

    name = "scripted"

    def __init__(self, library: CassetteLibrary | None = None) -> None:
        self.library = library if library is not None else CassetteLibrary()

    def serves(self, model: str) -> bool:
        return model.startswith(MODEL_PREFIX)

    def claims(self, options: Mapping[str, str]) -> bool:
        """Requests naming a script in the header are ours whatever their model name."""
        return bool(options.get(SCRIPT_HEADER))

    def cassette_for(self, model: str, options: Mapping[str, str]) -> Cassette:
        name = options.get(SCRIPT_HEADER) or model.removeprefix(MODEL_PREFIX)
        cassette = self.library.get(name)
        if cassette is None:
            loaded = ", ".join(self.library.names()) or "none"
            raise ModelNotFound(
                f"No cassette named '{name}' is loaded (loaded: {loaded}). Load it with "
                "POST /_emulator/scripts or put it in the cassette directory.",
                param="model",
            )
        return cassette

    def fault_spec(self, model: str, options: Mapping[str, str]) -> str | None:
        """The cassette's ``faults`` (a fault source for ``FaultInjector``)."""
        if not (self.serves(model) or self.claims(options)):
            return None
        name = options.get(SCRIPT_HEADER) or model.removeprefix(MODEL_PREFIX)
        cassette = self.library.get(name)
        return cassette.faults if cassette is not None else None

    async def step(self, ctx: StepContext) -> AsyncIterator[StepOutput]:
        cassette = self.cassette_for(ctx.model, ctx.options)
        step = cassette.step_for(turn_index(ctx.transcript), ctx.round_index)
        if step.latency_ms:
            await asyncio.sleep(step.latency_ms / 1000)
        gap = step.delta_ms / 1000
        first = True
        deltas: list[StepOutput] = [StepReasoning(p) for p in stream_pieces(step.reasoning)]
        if step.answer is not None:
            deltas += [StepText(p) for p in stream_pieces(step.answer)]
        for out in deltas:
            if gap and not first:
                await asyncio.sleep(gap)
            first = False
            yield out
        if step.usage is not None:
            yield StepUsage(step.usage.input_tokens, step.usage.output_tokens, step.usage.reasoning_tokens)
        if step.code is not None:
            pinned = step.output.to_exec_result() if step.output is not None else None
            yield StepCode(step.code, result=pinned)

    async def aclose(self) -> None:
        return None
