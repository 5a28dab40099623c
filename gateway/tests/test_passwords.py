"""Login password hashing is bounded: an unauthenticated flood gets 503 + Retry-After."""

from __future__ import annotations

import asyncio

import argon2
import pytest

from chassis.errors import Unavailable
from gateway.edge.passwords import HASHING_WAITERS_PER_SLOT, PasswordHasher

FAST = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


async def test_hashing_beyond_the_waiting_room_is_refused_and_the_rest_complete() -> None:
    hasher = PasswordHasher(FAST, concurrency=1)
    outcomes = await asyncio.gather(
        *(hasher.hash(f"password-{n}") for n in range(HASHING_WAITERS_PER_SLOT + 12)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, Unavailable)]
    hashed = [o for o in outcomes if isinstance(o, str)]
    assert len(hashed) == HASHING_WAITERS_PER_SLOT and len(refused) == 12
    assert refused[0].metadata == {"retry_after_seconds": "1"}
    # Once the flood has passed, hashing works again.
    assert await hasher.verify(await hasher.hash("password-x"), "password-x")


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_a_verification_matches_only_its_own_password(concurrency: int) -> None:
    hasher = PasswordHasher(FAST, concurrency=concurrency)
    hashed = await hasher.hash("correct horse 1")
    assert await hasher.verify(hashed, "correct horse 1")
    assert not await hasher.verify(hashed, "correct horse 2")


async def test_a_full_waiting_room_answers_503_with_retry_after() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.edge.problems import problem_middleware

    hasher = PasswordHasher(FAST, concurrency=1)

    async def sign_in(request: web.Request) -> web.Response:
        await asyncio.gather(*(hasher.hash("password-1") for _ in range(20)))
        return web.Response()

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_post("/sign-in", sign_in)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/sign-in")
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert (await response.json(content_type=None))["reason"] == "UNAVAILABLE"
