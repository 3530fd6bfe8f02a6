"""Fault specs (header, cassette, admin) and what each does to a turn's event stream (loop + doubles)."""

from __future__ import annotations

import time

import pytest

from emulator.core.errors import InvalidParameter, ModelUnavailable, RateLimited
from emulator.core.events import CodeCall, CodeResult, Done, Failed, TextDelta, Usage
from emulator.core.ids import IdFactory
from emulator.core.loop import Engine, TurnRequest
from emulator.core.session import ConversationStore
from emulator.models.base import Message
from emulator.models.faults import ConnectionCut, Fault, FaultInjector, parse_faults
from emulator.models.registry import ModelRegistry
from tests.fakes.doubles import MemorySandbox, ScriptedStep, StepScriptModel

STEPS = [
    ScriptedStep(reasoning=["let ", "me ", "compute"], code="6*7"),
    ScriptedStep(reasoning=["done"], text=["It is ", "42."]),
]


def test_spec_items_parse_with_values_and_positions() -> None:
    assert parse_faults("latency=300ms; delta-latency=0.02s, error=503@1 ;sandbox-crash@2; endless") == (
        Fault("latency", seconds=0.3),
        Fault("delta-latency", seconds=0.02),
        Fault("error", status=503, at=1),
        Fault("sandbox-crash", at=2),
        Fault("endless"),
    )
    assert parse_faults("sandbox-timeout") == (Fault("sandbox-timeout", seconds=0.2),)
    assert parse_faults("sandbox-timeout=1.5@3, disconnect@4") == (
        Fault("sandbox-timeout", seconds=1.5, at=3),
        Fault("disconnect", at=4),
    )
    assert parse_faults(" ; ") == ()


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("explode", "known kinds: latency, delta-latency, error"),
        ("error=418", "error takes one of [429, 500, 503, 504]"),
        ("error", "error takes one of"),
        ("latency", "give a duration"),
        ("latency=soon", "durations look like 300ms"),
        ("endless=3", "endless takes no value"),
        ("disconnect@0", "counts start at 1"),
    ],
)
def test_malformed_spec_is_a_400_naming_the_header(spec: str, why: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_faults(spec)
    assert caught.value.param == "x-emulator-fault"
    assert why in caught.value.message


def test_global_fault_applies_times_then_disappears_and_header_comes_first() -> None:
    injector = FaultInjector()
    added = injector.add("error=503", times=2, model="qwen3-max")
    assert added.describe() == {"id": "fault_1", "spec": "error=503", "times": 2, "model": "qwen3-max"}
    assert injector.plan("qwen-plus", {}).faults == ()  # another model: untouched, not used up
    plan = injector.plan("qwen3-max", {"x-emulator-fault": "error=429"})
    assert [f.status for f in plan.faults] == [429, 503]
    assert injector.plan("qwen3-max", {}).faults == (Fault("error", status=503),)
    assert injector.list() == []
    with pytest.raises(InvalidParameter, match="times"):
        injector.add("endless", times=0)


def make_engine(sandbox: MemorySandbox, faults: FaultInjector, max_rounds: int = 5) -> Engine:
    return Engine(
        models=ModelRegistry([StepScriptModel(STEPS)]),
        sandbox=sandbox,
        conversations=ConversationStore(ttl=60, max_conversations=8),
        ids=IdFactory(seed=3),
        max_rounds=max_rounds,
        exec_timeout=5,
        faults=faults,
    )


async def run(spec: str, sandbox: MemorySandbox | None = None, max_rounds: int = 5) -> list[object]:
    engine = make_engine(sandbox or MemorySandbox(), FaultInjector(), max_rounds)
    request = TurnRequest(
        model="qwen3-max",
        messages=[Message("user", "6 times 7?")],
        thinking=True,
        code_interpreter=True,
        options={"x-emulator-fault": spec},
    )
    conversation = await engine.conversations.create("c1")
    turn = await engine.prepare(request, conversation)
    return [event async for event in turn.events()]


async def test_error_at_round_zero_raises_before_the_first_event() -> None:
    with pytest.raises(RateLimited, match="rate limit"):
        await run("error=429")


async def test_error_at_a_later_round_fails_mid_turn() -> None:
    events = await run("error=503@1")
    assert isinstance(events[-1], Failed) and isinstance(events[-1].error, ModelUnavailable)
    assert [type(e) for e in events if isinstance(e, CodeCall | CodeResult)] == [CodeCall, CodeResult]


async def test_malformed_code_is_run_and_reported_as_syntax_error() -> None:
    events = await run("malformed-code")
    call = next(e for e in events if isinstance(e, CodeCall))
    result = next(e for e in events if isinstance(e, CodeResult))
    assert call.code == "6*7\n)"
    assert result.result.error is not None and result.result.error.name == "SyntaxError"


async def test_empty_first_step_ends_the_turn_with_no_output() -> None:
    events = await run("empty-step")
    assert [type(e) for e in events] == [Usage, Done]


async def test_endless_model_is_stopped_at_max_rounds_with_a_notice() -> None:
    events = await run("endless", max_rounds=3)
    calls = [e.code for e in events if isinstance(e, CodeCall)]
    assert calls == ["print(1)", "print(2)", "print(3)"]
    notice = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "more than 3 code executions" in notice
    assert isinstance(events[-1], Done)


async def test_sandbox_crash_restarts_the_interpreter_and_reports_a_reset() -> None:
    sandbox = MemorySandbox()
    events = await run("sandbox-crash", sandbox)
    result = next(e for e in events if isinstance(e, CodeResult)).result
    assert result.reset and result.error is not None and result.error.name == "SandboxCrashed"
    assert len(sandbox.sessions) == 2 and sandbox.sessions[0].closed and not sandbox.sessions[1].closed


async def test_sandbox_timeout_runs_into_the_backends_deadline() -> None:
    sandbox = MemorySandbox()
    await run("sandbox-timeout=0.1", sandbox)
    assert sandbox.sessions[0].ran == ["while True:\n    pass\n"]


async def test_disconnect_raises_connection_cut_after_the_first_output() -> None:
    engine = make_engine(MemorySandbox(), FaultInjector())
    request = TurnRequest(
        model="qwen3-max",
        messages=[Message("user", "go")],
        thinking=True,
        code_interpreter=True,
        options={"x-emulator-fault": "disconnect@2"},
    )
    conversation = await engine.conversations.create("c1")
    turn = await engine.prepare(request, conversation)
    seen = []
    with pytest.raises(ConnectionCut):
        async for event in turn.events():
            seen.append(event)
    assert len(seen) == 2
    assert not conversation.lock.locked()


async def test_latency_delays_the_first_output() -> None:
    started = time.monotonic()
    events = await run("latency=150ms; delta-latency=10ms")
    assert 0.15 <= time.monotonic() - started < 5
    assert isinstance(events[-1], Done)
