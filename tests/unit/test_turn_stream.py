"""A streamed turn always releases its conversation, also when the client leaves before the first byte."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from starlette.requests import ClientDisconnect

from emulator.api.http import TurnStreamingResponse
from emulator.core.loop import Turn
from tests.fakes.doubles import MemorySandbox, ScriptedStep, StepScriptModel
from tests.unit.test_loop import make_engine, request


async def body(turn: Turn) -> AsyncGenerator[bytes, None]:
    async for event in turn.events():
        yield repr(event).encode()


async def gone_client(message: dict) -> None:
    raise OSError("client went away")  # what uvicorn's send does once the peer is gone


async def never_disconnects() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


SCOPE = {"type": "http", "asgi": {"spec_version": "2.4"}}


async def test_client_gone_before_the_first_byte_releases_a_one_shot_conversation() -> None:
    sandbox = MemorySandbox()
    engine = make_engine(StepScriptModel([ScriptedStep(reasoning=["x"], code="1+1")]), sandbox)
    conversation = await engine.conversations.create("once", persistent=False)
    turn = await engine.prepare(request(), conversation)
    assert conversation.lock.locked() and sandbox.sessions
    response = TurnStreamingResponse(body(turn), turn, {})
    with pytest.raises(ClientDisconnect):
        await response(SCOPE, never_disconnects, gone_client)
    assert not conversation.lock.locked()
    assert engine.conversations.get("once") is None
    assert sandbox.sessions[0].closed


async def test_turn_aclose_is_idempotent_after_a_full_run() -> None:
    engine = make_engine(StepScriptModel([ScriptedStep(reasoning=["x"], text=["done"])]))
    conversation = await engine.conversations.create("c")
    turn = await engine.prepare(request(), conversation)
    events = [event async for event in turn.events()]
    assert events
    await turn.aclose()
    assert not conversation.lock.locked()
    assert engine.conversations.get("c") is conversation
