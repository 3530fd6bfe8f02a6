"""Conversations: the transcript and the interpreter that outlive one request.

A Responses ``previous_response_id`` continues a conversation (its transcript and its interpreter, so
variables survive). Other surfaces get a fresh conversation per request unless the caller names one with
the ``x-emulator-session-id`` header. Idle conversations expire after ``ttl`` seconds and close their sandbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.core.errors import SandboxUnavailable
from emulator.models.base import TranscriptEntry
from emulator.sandbox.base import Sandbox, SandboxSession

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Conversation:
    """One conversation: its transcript, its (lazily opened) interpreter and a lock (one turn at a time)."""

    key: str
    transcript: list[TranscriptEntry] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)  # prompt tokens per transcript entry (core/loop.py)
    sandbox_session: SandboxSession | None = None
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    persistent: bool = True  # False: closed right after its only turn

    async def interpreter(self, sandbox: Sandbox) -> SandboxSession:
        """The conversation's interpreter, opened on first use."""
        if self.sandbox_session is None:
            self.sandbox_session = await sandbox.open(self.key)
        return self.sandbox_session

    async def close(self) -> None:
        session, self.sandbox_session = self.sandbox_session, None
        if session is not None:
            await session.close()


class ConversationStore:
    """Conversations by key, plus an index from response ids to the conversation they belong to."""

    def __init__(self, *, ttl: float, max_conversations: int, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._max = max_conversations
        self._clock = clock
        self._conversations: dict[str, Conversation] = {}
        self._by_response: dict[str, str] = {}
        self._responses: dict[str, dict[str, object]] = {}
        self._reaper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._conversations)

    def get(self, key: str) -> Conversation | None:
        conversation = self._conversations.get(key)
        if conversation is not None:
            conversation.last_used = self._clock()
        return conversation

    async def create(self, key: str, *, persistent: bool = True) -> Conversation:
        """A new conversation; evicts the least recently used one when the store is full."""
        await self.expire()
        if len(self._conversations) >= self._max:
            oldest = min(self._conversations.values(), key=lambda c: c.last_used)
            if oldest.lock.locked():
                raise SandboxUnavailable(
                    "Too many conversations are running at once; try again shortly.", retry_after=2
                )
            await self.drop(oldest.key)
        conversation = Conversation(key=key, persistent=persistent, last_used=self._clock())
        self._conversations[key] = conversation
        return conversation

    async def get_or_create(self, key: str) -> Conversation:
        return self.get(key) or await self.create(key)

    def remember_response(
        self, response_id: str, conversation: Conversation, body: dict[str, object]
    ) -> None:
        """Index a finished response (for ``previous_response_id`` and ``GET /responses/{id}``)."""
        self._by_response[response_id] = conversation.key
        self._responses[response_id] = body

    def conversation_of(self, response_id: str) -> Conversation | None:
        key = self._by_response.get(response_id)
        return self.get(key) if key is not None else None

    def response(self, response_id: str) -> dict[str, object] | None:
        return self._responses.get(response_id)

    async def make_room_for_interpreter(self, limit: int, *, keep: Conversation) -> None:
        """Before ``keep`` opens an interpreter: close least recently used idle ones while ``limit`` are open.

        Like a notebook server culling idle kernels: the evicted conversation keeps its transcript, and its
        next execution starts in a fresh interpreter. Without this, once the sandbox's container budget is
        held by idle conversations every new one would wait out the acquire budget and get a 503.
        """
        holding = [c for c in self._conversations.values() if c.sandbox_session is not None and c is not keep]
        idle = sorted((c for c in holding if not c.lock.locked()), key=lambda c: c.last_used)
        while len(holding) >= limit and idle:
            oldest = idle.pop(0)
            log.info(
                "conversation %s: interpreter closed to make room (%d open, limit %d)",
                oldest.key,
                len(holding),
                limit,
            )
            await oldest.close()
            holding.remove(oldest)

    async def drop(self, key: str) -> None:
        conversation = self._conversations.pop(key, None)
        if conversation is None:
            return
        for rid in [rid for rid, k in self._by_response.items() if k == key]:
            del self._by_response[rid]
            self._responses.pop(rid, None)
        await conversation.close()

    async def expire(self) -> int:
        """Close conversations idle for longer than the TTL; returns how many were closed."""
        now = self._clock()
        stale = [
            c.key
            for c in self._conversations.values()
            if now - c.last_used > self._ttl and not c.lock.locked()
        ]
        for key in stale:
            log.info("conversation %s expired after %.0f s idle", key, self._ttl)
            await self.drop(key)
        return len(stale)

    def start_reaper(self, interval: float) -> None:
        async def reap_forever() -> None:
            while True:
                await asyncio.sleep(interval)
                await self.expire()

        self._reaper = asyncio.create_task(reap_forever(), name="conversation-reaper")

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for key in list(self._conversations):
            await self.drop(key)
