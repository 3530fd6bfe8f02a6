"""A warm pool of pre-started sandboxes, so a new conversation does not pay a container start.

``WarmPool`` knows nothing about docker: it is given ``start_one()`` (make one ready item) and
``dispose(item)`` (destroy it) and keeps ``size`` items ready while the total (ready + starting + in use)
stays within ``max_total``. ``acquire()`` pops a ready item, or waits for one (asking the refill loop for
one more) until ``acquire_timeout``, then raises ``SandboxUnavailable`` (503 + Retry-After). An item is
never handed out twice: whoever acquires it owns it and gives it back with ``release`` (which destroys it:
a used interpreter holds a conversation's state and is never pooled again).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from emulator.core.errors import SandboxUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: back-off after a failed start, doubled per consecutive failure up to the maximum (seconds)
START_BACKOFF = 0.5
START_BACKOFF_MAX = 5.0


class WarmPool(Generic[T]):
    """Keep ``size`` ready items; hand them out with ``acquire``; destroy them with ``release``."""

    def __init__(
        self,
        *,
        start_one: Callable[[], Awaitable[T]],
        dispose: Callable[[T], Awaitable[None]],
        size: int,
        max_total: int,
        acquire_timeout: float,
        is_alive: Callable[[T], bool] = lambda item: True,
        max_starting: int = 2,
        name: str = "pool",
    ) -> None:
        self._start_one = start_one
        self._dispose = dispose
        self._is_alive = is_alive
        self.size = size
        self.max_total = max_total
        self.acquire_timeout = acquire_timeout
        self.max_starting = max(1, max_starting)
        self.name = name
        self._ready: deque[T] = deque()
        self._starting = 0
        self._in_use = 0
        self._waiters = 0
        self._failures = 0
        self.last_error: BaseException | None = None
        self._available = asyncio.Condition()
        self._wake = asyncio.Event()
        self._refill_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background refill loop (it fills the pool to ``size`` at once)."""
        if self._refill_task is None:
            self._refill_task = asyncio.create_task(self._refill_loop(), name=f"{self.name}-refill")

    async def aclose(self) -> None:
        """Stop refilling, wait for starts in flight, destroy every ready item. Items in use stay with
        their owners, who ``release`` them."""
        self._closed = True
        if self._refill_task is not None:
            self._refill_task.cancel()
            await asyncio.gather(self._refill_task, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._ready:
            await self._dispose_logged(self._ready.popleft())
        async with self._available:
            self._available.notify_all()

    async def __aenter__(self) -> WarmPool[T]:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- hand-out ---------------------------------------------------------------------------------------

    async def acquire(self) -> T:
        """A ready item, now owned by the caller; ``SandboxUnavailable`` after ``acquire_timeout``."""
        deadline = time.monotonic() + self.acquire_timeout
        self._waiters += 1
        self._wake.set()
        try:
            async with self._available:
                while True:
                    item = self._pop_ready()
                    if item is not None:
                        return item
                    remaining = deadline - time.monotonic()
                    if self._closed or remaining <= 0:
                        raise self._unavailable()
                    try:
                        await asyncio.wait_for(self._available.wait(), remaining)
                    except asyncio.TimeoutError:
                        continue  # re-check once, then raise
        finally:
            self._waiters -= 1
            self._wake.set()

    async def release(self, item: T) -> None:
        """Destroy an item that ``acquire`` handed out; the refill loop replaces it."""
        self._in_use -= 1
        self._wake.set()
        await self._dispose_logged(item)

    def stats(self) -> dict[str, object]:
        return {
            "ready": len(self._ready),
            "starting": self._starting,
            "in_use": self._in_use,
            "size": self.size,
            "max_total": self.max_total,
            "last_error": None if self.last_error is None else str(self.last_error),
        }

    # --- internals --------------------------------------------------------------------------------------

    def _pop_ready(self) -> T | None:
        while self._ready:
            item = self._ready.popleft()
            if self._is_alive(item):
                self._in_use += 1
                self._wake.set()
                return item
            log.warning("%s: a ready sandbox died while idle; replacing it", self.name)
            self._spawn(self._dispose_logged(item))
        return None

    def _unavailable(self) -> SandboxUnavailable:
        retry_after = max(1, math.ceil(self.acquire_timeout))
        if self._closed:
            return SandboxUnavailable("the sandbox is shutting down", retry_after=retry_after)
        if self._in_use >= self.max_total:
            reason = f"all {self.max_total} sandbox containers are in use"
        elif self.last_error is not None:
            reason = f"starting a sandbox failed: {self.last_error}"
        else:
            reason = "no sandbox became ready in time"
        return SandboxUnavailable(
            f"{reason} (waited {self.acquire_timeout:g} s); retry later", retry_after=retry_after
        )

    def _wanted(self) -> int:
        """How many more starts to launch now."""
        target = min(self.size + self._waiters, self.max_total - self._in_use)
        missing = target - len(self._ready) - self._starting
        return max(0, min(missing, self.max_starting - self._starting))

    async def _refill_loop(self) -> None:
        while not self._closed:
            self._wake.clear()
            for _ in range(self._wanted()):
                self._starting += 1
                self._spawn(self._start_and_add())
            await self._wake.wait()

    async def _start_and_add(self) -> None:
        try:
            item = await self._start_one()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any start failure: keep it for the 503 message, back off, retry
            self.last_error = exc
            self._failures += 1
            delay = min(START_BACKOFF * 2 ** (self._failures - 1), START_BACKOFF_MAX)
            log.warning("%s: starting a sandbox failed (%s); retrying in %.1f s", self.name, exc, delay)
            await asyncio.sleep(delay)
            return
        finally:
            self._starting -= 1
            self._wake.set()
        self._failures = 0
        self.last_error = None
        if self._closed:
            await self._dispose_logged(item)
            return
        self._ready.append(item)
        async with self._available:
            self._available.notify()

    async def _dispose_logged(self, item: T) -> None:
        try:
            await self._dispose(item)
        except Exception:  # the reaper removes what could not be removed now
            log.exception("%s: disposing of a sandbox failed", self.name)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
