"""The turn loop: event order, usage summing, max_rounds, errors before and after the first byte."""

from __future__ import annotations

import pytest

from emulator.core.errors import ModelNotFound, RateLimited, SandboxUnavailable
from emulator.core.events import CodeCall, CodeResult, Done, Failed, ReasoningDelta, TextDelta, Usage
from emulator.core.ids import IdFactory
from emulator.core.loop import Engine, TurnRequest
from emulator.core.session import ConversationStore
from emulator.models.base import Message, ToolExchange
from emulator.models.registry import ModelRegistry
from tests.fakes.doubles import MemorySandbox, ScriptedStep, StepScriptModel

TWO_STEPS = [
    ScriptedStep(reasoning=["first ", "think"], code="2**10"),
    ScriptedStep(reasoning=["second"], code="1/0"),
    ScriptedStep(reasoning=["done"], text=["It is ", "1024."]),
]


def make_engine(model: StepScriptModel, sandbox: MemorySandbox | None = None, max_rounds: int = 5) -> Engine:
    return Engine(
        models=ModelRegistry([model]),
        sandbox=sandbox or MemorySandbox(),
        conversations=ConversationStore(ttl=60, max_conversations=8),
        ids=IdFactory(seed=7),
        max_rounds=max_rounds,
        exec_timeout=5,
    )


def request(**kw: object) -> TurnRequest:
    base: dict = {
        "model": "qwen3-max",
        "messages": [Message("user", "go")],
        "thinking": True,
        "code_interpreter": True,
    }
    base.update(kw)
    return TurnRequest(**base)


async def collect(engine: Engine, req: TurnRequest) -> list:
    conversation = await engine.conversations.create("c1")
    turn = await engine.prepare(req, conversation)
    return [event async for event in turn.events()]


async def test_two_executions_then_answer_in_order_with_summed_usage() -> None:
    engine = make_engine(StepScriptModel(TWO_STEPS))
    events = await collect(engine, request())
    kinds = [type(e).__name__ for e in events if not isinstance(e, Usage)]
    assert kinds == [
        "ReasoningDelta", "ReasoningDelta", "CodeCall", "CodeResult",
        "ReasoningDelta", "CodeCall", "CodeResult",
        "ReasoningDelta", "TextDelta", "TextDelta", "Done",
    ]  # fmt: skip
    results = [e.result for e in events if isinstance(e, CodeResult)]
    assert results[0].result == "1024"
    assert results[1].error is not None and results[1].error.name == "ZeroDivisionError"
    usages = [e for e in events if isinstance(e, Usage)]
    assert usages[-1].code_interpreter_count == 2
    assert [u.input_tokens for u in usages] == sorted(u.input_tokens for u in usages)
    assert usages[-1].output_tokens > usages[0].output_tokens
    calls = [e for e in events if isinstance(e, CodeCall)]
    assert calls[0].container_id == calls[1].container_id == "cntr_mem0"


async def test_transcript_keeps_exchanges_and_answer_for_the_next_turn() -> None:
    engine = make_engine(StepScriptModel(TWO_STEPS))
    conversation = await engine.conversations.create("c1")
    turn = await engine.prepare(request(), conversation)
    _ = [e async for e in turn.events()]
    kinds = [type(e).__name__ for e in conversation.transcript]
    assert kinds == ["Message", "ToolExchange", "ToolExchange", "Message"]
    assert (
        isinstance(conversation.transcript[1], ToolExchange)
        and conversation.transcript[1].reasoning == "first think"
    )
    assert conversation.transcript[-1] == Message("assistant", "It is 1024.")
    assert not conversation.lock.locked()


async def test_thinking_off_drops_reasoning() -> None:
    engine = make_engine(StepScriptModel([ScriptedStep(reasoning=["x"], text=["hi"])]))
    events = await collect(engine, request(thinking=False, code_interpreter=False))
    assert not any(isinstance(e, ReasoningDelta) for e in events)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["hi"]


async def test_code_without_code_interpreter_is_not_run() -> None:
    sandbox = MemorySandbox()
    engine = make_engine(StepScriptModel([ScriptedStep(code="1+1")]), sandbox)
    events = await collect(engine, request(code_interpreter=False))
    assert not any(isinstance(e, CodeCall) for e in events)
    assert sandbox.sessions == []


async def test_never_ending_code_is_capped_by_max_rounds() -> None:
    engine = make_engine(StepScriptModel([ScriptedStep(code="1+1")]), max_rounds=3)
    events = await collect(engine, request())
    assert sum(isinstance(e, CodeCall) for e in events) == 3
    notice = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "more than 3 code executions" in notice
    assert isinstance(events[-1], Done)


async def test_model_error_at_first_step_raises_before_any_event() -> None:
    engine = make_engine(StepScriptModel([ScriptedStep(raises=RateLimited("slow down"))]))
    conversation = await engine.conversations.create("c1")
    with pytest.raises(RateLimited):
        await engine.prepare(request(), conversation)
    assert not conversation.lock.locked()


async def test_model_error_after_first_step_is_a_failed_event() -> None:
    steps = [ScriptedStep(reasoning=["a"], code="1"), ScriptedStep(raises=RateLimited("later"))]
    engine = make_engine(StepScriptModel(steps))
    events = await collect(engine, request())
    assert isinstance(events[-1], Failed) and isinstance(events[-1].error, RateLimited)


async def test_unknown_model_and_unavailable_sandbox_raise_in_prepare() -> None:
    engine = make_engine(
        StepScriptModel(TWO_STEPS), MemorySandbox(open_error=SandboxUnavailable("busy", retry_after=3))
    )
    conversation = await engine.conversations.create("c1")
    with pytest.raises(ModelNotFound):
        await engine.prepare(request(model="nope"), conversation)
    with pytest.raises(SandboxUnavailable):
        await engine.prepare(request(), conversation)
    assert not conversation.lock.locked()


async def test_prompt_tokens_are_counted_once_per_entry_and_match_a_recount() -> None:
    from emulator.core.loop import _entry_tokens
    from emulator.core.tokens import PROMPT_OVERHEAD_TOKENS

    engine = make_engine(StepScriptModel(TWO_STEPS))
    conversation = await engine.conversations.create("c1")
    for _ in range(3):
        turn = await engine.prepare(request(), conversation)
        events = [event async for event in turn.events()]
    assert len(conversation.token_counts) == len(conversation.transcript)
    recount = [_entry_tokens(entry) for entry in conversation.transcript]
    assert conversation.token_counts == recount
    # the last inference of the third turn saw the whole transcript but its final answer
    last_inputs = [e.input_tokens for e in events if isinstance(e, Usage)]
    assert last_inputs[-1] - last_inputs[-2] == PROMPT_OVERHEAD_TOKENS + sum(recount[:-1])
