"""The surface-agnostic turn loop: think → propose code → execute → integrate result (repeat) → answer.

``Engine.prepare`` does everything that can fail *before* a response starts (unknown model, no sandbox
within the wait budget, a conversation busy with another turn), so surfaces can still answer with a real
HTTP status. ``Turn.events`` then yields the event stream of ``core/events.py`` and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field

from emulator.core.errors import EmulatorError, InvalidParameter, ModelFailed
from emulator.core.events import CodeCall, CodeResult, Done, Event, Failed, ReasoningDelta, TextDelta, Usage
from emulator.core.ids import IdFactory
from emulator.core.session import Conversation, ConversationStore
from emulator.core.tokens import PROMPT_OVERHEAD_TOKENS, count_tokens
from emulator.models.base import (
    Message,
    Model,
    StepCode,
    StepContext,
    StepOutput,
    StepReasoning,
    StepText,
    StepUsage,
    ToolExchange,
    TranscriptEntry,
)
from emulator.models.faults import FaultInjector
from emulator.models.registry import ModelRegistry
from emulator.sandbox.base import ExecResult, Sandbox, SandboxSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnRequest:
    """One request of any surface, in the loop's terms."""

    model: str
    messages: Sequence[Message]  # what this request adds to the conversation (history included for chat)
    thinking: bool
    code_interpreter: bool
    request_id: str = ""
    options: dict[str, str] = field(default_factory=dict)


#: isolation tiers from weakest to strongest (``Sandbox.isolation_tier``)
TIERS = ("process", "container", "gvisor")
MIN_TIER_OPTION = "x-emulator-min-tier"


def check_min_tier(options: dict[str, str], tier: str) -> None:
    """A caller may demand a minimum isolation tier (header ``x-emulator-min-tier``)."""
    wanted = options.get(MIN_TIER_OPTION, "").strip().lower()
    if not wanted:
        return
    if wanted not in TIERS:
        raise InvalidParameter(
            f"Unknown isolation tier {wanted!r} in {MIN_TIER_OPTION}; use one of: {', '.join(TIERS)}.",
            param=MIN_TIER_OPTION,
        )
    if tier not in TIERS or TIERS.index(tier) < TIERS.index(wanted):
        raise InvalidParameter(
            f"This emulator's sandbox has isolation tier {tier!r}, lower than the {wanted!r} this request "
            f"demands ({MIN_TIER_OPTION}); start it with a Docker engine (--sandbox docker).",
            param=MIN_TIER_OPTION,
        )


def validate_service_rules(*, code_interpreter: bool, thinking: bool, function_tools: bool) -> None:
    """The hosted service's rules, the same on every surface."""
    if code_interpreter and not thinking:
        raise InvalidParameter(
            "The code interpreter requires thinking mode: set enable_thinking to true.",
            param="enable_thinking",
        )
    if code_interpreter and function_tools:
        raise InvalidParameter(
            "The code interpreter cannot be used together with function calling: "
            "remove the tools of type `function` or disable the code interpreter.",
            param="tools",
        )


@dataclass
class _Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    executions: int = 0

    def snapshot(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens, self.reasoning_tokens, self.executions)


def _entry_tokens(entry: TranscriptEntry) -> int:
    if isinstance(entry, Message):
        return count_tokens(entry.content) + 4
    return count_tokens(entry.reasoning) + count_tokens(entry.code) + count_tokens(entry.result.logs())


class _PromptMeter:
    """Prompt tokens of a growing transcript, each entry counted once.

    Recounting the whole history every inference made a long conversation's requests grow by ~3 ms per
    100 turns (benchmarks/e2e.py); the conversation keeps the per-entry counts between turns.
    """

    def __init__(self, known: Sequence[int], transcript: Sequence[TranscriptEntry]) -> None:
        self.counts = list(known[: len(transcript)])
        self.extend(transcript[len(self.counts) :])

    def extend(self, entries: Sequence[TranscriptEntry]) -> None:
        self.counts.extend(_entry_tokens(entry) for entry in entries)

    @property
    def total(self) -> int:
        return PROMPT_OVERHEAD_TOKENS + sum(self.counts)


class Turn:
    """A prepared turn: the conversation is locked for it until ``events()`` ends."""

    def __init__(
        self,
        engine: Engine,
        request: TurnRequest,
        model: Model,
        conversation: Conversation,
        interpreter: SandboxSession | None,
    ) -> None:
        self._engine = engine
        self.request = request
        self.model = model
        self.conversation = conversation
        self.interpreter = interpreter
        self.ids = engine.ids
        self._primed: tuple[StepOutput | None, AsyncIterator[StepOutput]] | None = None
        self._finished = False

    async def events(self) -> AsyncGenerator[Event, None]:
        try:
            async for event in self._run():
                yield event
        finally:
            await self._finish()

    def _context(self, transcript: Sequence[TranscriptEntry], round_index: int) -> StepContext:
        return StepContext(
            model=self.request.model,
            transcript=tuple(transcript),
            thinking=self.request.thinking,
            code_interpreter=self.request.code_interpreter,
            round_index=round_index,
            max_rounds=self._engine.max_rounds,
            request_id=self.request.request_id,
            options=dict(self.request.options),
        )

    async def prime(self) -> None:
        """Start the first inference and wait for its first output.

        Done before a response starts, so that a model that fails at once (an upstream 429, a refused
        connection, an injected fault) is answered with a real HTTP status instead of a mid-stream error.
        """
        transcript = [*self.conversation.transcript, *self.request.messages]
        steps = self.model.step(self._context(transcript, 0))
        try:
            first = await anext(steps)
        except StopAsyncIteration:
            self._primed = (None, steps)
            return
        except EmulatorError:
            raise
        except Exception as exc:
            log.exception("model backend %s failed (request %s)", self.model.name, self.request.request_id)
            raise ModelFailed(f"The model failed while generating the response: {exc}") from exc
        self._primed = (first, steps)

    async def _step(
        self, transcript: Sequence[TranscriptEntry], round_index: int
    ) -> AsyncIterator[StepOutput]:
        if round_index == 0 and self._primed is not None:
            first, steps = self._primed
            self._primed = None
            if first is not None:
                yield first
        else:
            steps = self.model.step(self._context(transcript, round_index))
        async for out in steps:
            yield out

    async def _run(self) -> AsyncIterator[Event]:
        engine = self._engine
        transcript: list[TranscriptEntry] = [*self.conversation.transcript, *self.request.messages]
        meter = _PromptMeter(self.conversation.token_counts, transcript)
        totals = _Totals()
        answer: list[str] = []
        for round_index in range(engine.max_rounds + 1):
            reasoning: list[str] = []
            code: str | None = None
            pinned: ExecResult | None = None
            reported: StepUsage | None = None
            try:
                async for out in self._step(transcript, round_index):
                    if isinstance(out, StepReasoning):
                        if self.request.thinking and out.text:
                            reasoning.append(out.text)
                            yield ReasoningDelta(out.text)
                    elif isinstance(out, StepText):
                        if out.text:
                            answer.append(out.text)
                            yield TextDelta(out.text)
                    elif isinstance(out, StepCode):
                        code, pinned = out.code, out.result
                    else:
                        reported = out
            except EmulatorError as exc:
                yield Failed(exc)
                return
            except Exception as exc:  # a backend bug must not take the server down
                log.exception(
                    "model backend %s failed (request %s)", self.model.name, self.request.request_id
                )
                yield Failed(ModelFailed(f"The model failed while generating the response: {exc}"))
                return
            thought = "".join(reasoning)
            if reported is not None:
                totals.input_tokens += reported.input_tokens
                totals.output_tokens += reported.output_tokens
                totals.reasoning_tokens += reported.reasoning_tokens
            else:
                produced = count_tokens(thought) + count_tokens("".join(answer) if code is None else code)
                totals.input_tokens += meter.total
                totals.output_tokens += produced
                totals.reasoning_tokens += count_tokens(thought)
            if code is None or not self.request.code_interpreter:
                yield totals.snapshot()
                break
            if round_index >= engine.max_rounds:
                notice = (
                    f"\n\n[Stopped: the model asked for more than {engine.max_rounds} code executions "
                    "in one turn.]"
                )
                answer.append(notice)
                yield TextDelta(notice)
                yield totals.snapshot()
                break
            try:
                interpreter = await self._interpreter()
            except EmulatorError as exc:
                yield Failed(exc)
                return
            call_id = self.ids.new("ci")
            totals.executions += 1
            yield CodeCall(call_id, code, interpreter.id)
            yield totals.snapshot()
            # A pinned result (a cassette's `output`) stands for the execution: the sandbox is not run.
            result = pinned if pinned is not None else await interpreter.run(code, engine.exec_timeout)
            yield CodeResult(call_id, result)
            transcript.append(ToolExchange(call_id, code, result, thought))
            meter.extend(transcript[-1:])
        self.conversation.transcript = [*transcript, Message("assistant", "".join(answer))]
        meter.extend(self.conversation.transcript[-1:])
        self.conversation.token_counts = meter.counts
        yield Done("stop")

    async def _interpreter(self) -> SandboxSession:
        if self.interpreter is None:
            self.interpreter = await self.conversation.interpreter(self._engine.sandbox)
        return self.interpreter

    async def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._primed is not None:  # prepared but never run: close the first inference too
            _, steps = self._primed
            self._primed = None
            aclose = getattr(steps, "aclose", None)
            if aclose is not None:
                await aclose()
        self.conversation.lock.release()
        if not self.conversation.persistent:
            await self._engine.forget(self.conversation)

    async def aclose(self) -> None:
        """Release the conversation even if ``events()`` never ran (a client gone before the first byte).

        Idempotent: ``events()`` calls the same when it ends.
        """
        await self._finish()


class Engine:
    """Owns the model registry, the sandbox backend and the conversations; makes ``Turn``s."""

    def __init__(
        self,
        *,
        models: ModelRegistry,
        sandbox: Sandbox,
        conversations: ConversationStore,
        ids: IdFactory,
        max_rounds: int,
        exec_timeout: float,
        faults: FaultInjector | None = None,
        max_interpreters: int | None = None,
    ) -> None:
        self.models = models
        self.faults = faults if faults is not None else FaultInjector()
        self.sandbox = sandbox
        self.conversations = conversations
        self.ids = ids
        self.max_rounds = max_rounds
        self.exec_timeout = exec_timeout
        self.max_interpreters = max_interpreters  # the sandbox's budget of concurrently open interpreters

    async def prepare(self, request: TurnRequest, conversation: Conversation) -> Turn:
        """Resolve the model, lock the conversation and, with the code interpreter, bind an interpreter.

        Raises before any byte is sent: ``ModelNotFound``, ``SandboxUnavailable``, ``InvalidParameter``.
        """
        check_min_tier(request.options, self.sandbox.isolation_tier)
        model = self.models.resolve(request.model, request.options)
        faults = self.faults.plan(request.model, request.options)  # raises on a malformed fault header
        model = faults.wrap_model(model)
        try:
            await asyncio.wait_for(conversation.lock.acquire(), timeout=30)
        except TimeoutError:
            raise InvalidParameter(
                "Another request of this conversation is still running; wait for it to finish."
            ) from None
        try:
            if request.code_interpreter and conversation.sandbox_session is None and self.max_interpreters:
                await self.conversations.make_room_for_interpreter(self.max_interpreters, keep=conversation)
            interpreter = await conversation.interpreter(self.sandbox) if request.code_interpreter else None
            if interpreter is not None:
                interpreter = faults.wrap_session(interpreter, lambda: self._reopen(conversation))
        except BaseException:
            conversation.lock.release()
            if not conversation.persistent:
                await self.forget(conversation)
            raise
        turn = Turn(self, request, model, conversation, interpreter)
        try:
            await turn.prime()
        except BaseException:
            await turn._finish()
            raise
        return turn

    async def _reopen(self, conversation: Conversation) -> SandboxSession:
        """A fresh interpreter for the conversation (after an injected sandbox crash)."""
        await conversation.close()
        return await conversation.interpreter(self.sandbox)

    async def forget(self, conversation: Conversation) -> None:
        await self.conversations.drop(conversation.key)
