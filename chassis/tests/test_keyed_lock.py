"""KeyedLock: holders of the same key take turns; locks are dropped when unused."""

import asyncio

from chassis.keyed_lock import KeyedLock


async def test_holders_of_one_key_never_overlap() -> None:
    locks = KeyedLock()
    inside = 0
    most_inside = 0

    async def worker() -> None:
        nonlocal inside, most_inside
        async with locks.hold(["a"]):
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(20)))
    assert most_inside == 1
    assert len(locks) == 0


async def test_overlapping_key_sets_in_opposite_order_do_not_deadlock() -> None:
    locks = KeyedLock()
    finished: list[str] = []

    async def worker(name: str, keys: list[str]) -> None:
        async with locks.hold(keys):
            await asyncio.sleep(0)
            finished.append(name)

    await asyncio.wait_for(
        asyncio.gather(*(worker(f"w{i}", ["x", "y"] if i % 2 else ["y", "x"]) for i in range(10))),
        timeout=5,
    )
    assert len(finished) == 10
    assert len(locks) == 0


async def test_different_keys_do_not_wait_for_each_other() -> None:
    locks = KeyedLock()
    async with locks.hold(["a"]):
        await asyncio.wait_for(_enter(locks, "b"), timeout=1)


async def _enter(locks: KeyedLock, key: str) -> None:
    async with locks.hold([key]):
        pass
