"""Conversations expire after their TTL and close their interpreter; the store is bounded."""

from __future__ import annotations

from emulator.core.session import ConversationStore
from tests.fakes.doubles import MemorySandbox


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_idle_conversation_expires_and_closes_its_sandbox() -> None:
    clock = Clock()
    store = ConversationStore(ttl=10, max_conversations=4, clock=clock)
    sandbox = MemorySandbox()
    conversation = await store.create("a")
    await conversation.interpreter(sandbox)
    store.remember_response("resp_1", conversation, {"id": "resp_1"})
    clock.now = 5
    assert await store.expire() == 0
    clock.now = 20
    assert await store.expire() == 1
    assert sandbox.sessions[0].closed
    assert store.conversation_of("resp_1") is None and store.response("resp_1") is None


async def test_full_store_evicts_least_recently_used() -> None:
    clock = Clock()
    store = ConversationStore(ttl=100, max_conversations=2, clock=clock)
    await store.create("a")
    clock.now = 1
    await store.create("b")
    clock.now = 2
    store.get("a")
    await store.create("c")
    assert store.get("b") is None and store.get("a") is not None and store.get("c") is not None


async def test_aclose_closes_every_interpreter() -> None:
    store = ConversationStore(ttl=100, max_conversations=4)
    sandbox = MemorySandbox()
    for key in ("a", "b"):
        await (await store.create(key)).interpreter(sandbox)
    await store.aclose()
    assert all(s.closed for s in sandbox.sessions) and len(store) == 0


async def test_make_room_closes_least_recently_used_idle_interpreters_only() -> None:
    clock = Clock()
    store = ConversationStore(ttl=100, max_conversations=8, clock=clock)
    sandbox = MemorySandbox()
    conversations = []
    for index, key in enumerate(("a", "b", "c")):
        clock.now = index
        conversation = await store.create(key)
        await conversation.interpreter(sandbox)
        conversations.append(conversation)
    a, b, c = conversations
    await a.lock.acquire()  # a is busy: never evicted, although it is the oldest
    newcomer = await store.create("d")
    await store.make_room_for_interpreter(2, keep=newcomer)
    assert a.sandbox_session is not None
    assert b.sandbox_session is None and sandbox.sessions[1].closed
    assert c.sandbox_session is None
    assert store.get("b") is b and b.transcript == []  # the conversation itself survives
