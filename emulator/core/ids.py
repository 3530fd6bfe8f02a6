"""Ids and timestamps, random by default and pinned by a seed for recordings and replays."""

from __future__ import annotations

import random
import secrets
import time
import uuid


class IdFactory:
    """Makes ``resp_…``, ``rs_…``, ``ci_…``, ``msg_…`` ids, uuid4s and timestamps.

    With a ``seed`` every value is a pure function of the seed and the call order, so a replayed turn
    produces the same bytes; without one they are random and ``now()`` is the wall clock.
    """

    def __init__(self, seed: int | None = None, *, epoch: int = 1_760_000_000) -> None:
        self._seed = seed
        self._rng = random.Random(seed) if seed is not None else None
        self._epoch = epoch

    @property
    def pinned(self) -> bool:
        return self._rng is not None

    def fork(self, key: str) -> IdFactory:
        """A factory for one request: pinned factories derive a child seed from ``key`` (stable order)."""
        if self._seed is None:
            return self
        child = IdFactory(None, epoch=self._epoch)
        child._seed = self._seed
        child._rng = random.Random(f"{self._seed}:{key}")
        return child

    def hex(self, nbytes: int = 16) -> str:
        if self._rng is None:
            return secrets.token_hex(nbytes)
        return f"{self._rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"

    def new(self, prefix: str) -> str:
        """``<prefix>_<hex>``, e.g. ``resp_3f…``."""
        return f"{prefix}_{self.hex(24)}"

    def uuid4(self) -> str:
        if self._rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def now(self) -> int:
        """Unix seconds (the seed pins it to a fixed epoch)."""
        return self._epoch if self._rng is not None else int(time.time())
