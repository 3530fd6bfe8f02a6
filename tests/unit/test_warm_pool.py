"""WarmPool without docker: items are plain objects made by a counting factory."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from emulator.core.errors import SandboxUnavailable
from emulator.sandbox.pool import WarmPool


class Factory:
    def __init__(self, *, fail: bool = False, delay: float = 0.0) -> None:
        self.counter = itertools.count(1)
        self.disposed: list[int] = []
        self.fail = fail
        self.delay = delay
        self.dead: set[int] = set()

    async def start_one(self) -> int:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("engine says no")
        return next(self.counter)

    async def dispose(self, item: int) -> None:
        self.disposed.append(item)

    def pool(self, **overrides: object) -> WarmPool[int]:
        options: dict[object, object] = {"size": 2, "max_total": 4, "acquire_timeout": 1.0}
        options.update(overrides)
        return WarmPool(
            start_one=self.start_one,
            dispose=self.dispose,
            is_alive=lambda item: item not in self.dead,
            **options,  # type: ignore[arg-type]
        )


async def wait_until(predicate: object, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_pool_fills_to_size_then_refills_after_acquire() -> None:
    factory = Factory()
    async with factory.pool() as pool:
        await wait_until(lambda: pool.stats()["ready"] == 2)
        item = await pool.acquire()
        assert item in (1, 2)
        await wait_until(lambda: pool.stats()["ready"] == 2)
        assert pool.stats()["in_use"] == 1


async def test_release_disposes_and_items_are_never_handed_out_twice() -> None:
    factory = Factory()
    async with factory.pool() as pool:
        first, second = await pool.acquire(), await pool.acquire()
        assert first != second
        await pool.release(first)
        assert factory.disposed == [first]
        assert pool.stats()["in_use"] == 1


async def test_size_zero_starts_on_demand() -> None:
    factory = Factory()
    async with factory.pool(size=0) as pool:
        assert await pool.acquire() == 1
        await asyncio.sleep(0.05)
        assert pool.stats()["ready"] == 0


async def test_exhausted_pool_raises_sandbox_unavailable_with_retry_after() -> None:
    factory = Factory()
    async with factory.pool(size=1, max_total=1, acquire_timeout=0.2) as pool:
        await pool.acquire()
        with pytest.raises(SandboxUnavailable) as caught:
            await pool.acquire()
    assert "all 1 sandbox containers are in use" in caught.value.message
    assert caught.value.retry_after >= 1
    assert caught.value.status == 503


async def test_waiting_acquire_gets_the_replacement_of_a_released_item() -> None:
    factory = Factory()
    async with factory.pool(size=1, max_total=1, acquire_timeout=2.0) as pool:
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await pool.release(held)
        assert await asyncio.wait_for(waiter, 1.0) == 2


async def test_failing_starts_surface_in_the_503_message() -> None:
    factory = Factory(fail=True)
    async with factory.pool(acquire_timeout=0.3) as pool:
        with pytest.raises(SandboxUnavailable, match="engine says no"):
            await pool.acquire()


async def test_dead_ready_item_is_replaced_not_handed_out() -> None:
    factory = Factory()
    async with factory.pool(size=1) as pool:
        await wait_until(lambda: pool.stats()["ready"] == 1)
        factory.dead.add(1)
        assert await pool.acquire() == 2
        await wait_until(lambda: 1 in factory.disposed)


async def test_aclose_disposes_ready_items_and_refuses_new_acquires() -> None:
    factory = Factory()
    pool = factory.pool()
    await pool.start()
    await wait_until(lambda: pool.stats()["ready"] == 2)
    await pool.aclose()
    assert sorted(factory.disposed) == [1, 2]
    with pytest.raises(SandboxUnavailable, match="shutting down"):
        await pool.acquire()


async def test_starts_finishing_after_close_are_disposed() -> None:
    factory = Factory(delay=0.1)
    pool = factory.pool()
    await pool.start()
    await asyncio.sleep(0.01)
    await pool.aclose()
    await asyncio.sleep(0.2)
    assert pool.stats()["ready"] == 0
