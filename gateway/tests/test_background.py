"""Background jobs run from the app's startup to its cleanup (gateway.edge.background)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from gateway.edge.background import run_for_app_lifetime


async def test_a_job_runs_until_cleanup_cancels_it() -> None:
    app = web.Application()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    run_for_app_lifetime(app, "waiting", job)
    app.freeze()
    await app.startup()
    await asyncio.wait_for(started.wait(), 5)
    await app.cleanup()
    assert cancelled.is_set()


async def test_a_job_that_died_does_not_stop_the_rest_of_cleanup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = web.Application()
    later_cleanup_ran = asyncio.Event()

    async def job() -> None:
        raise RuntimeError("channel is closed")

    async def later(app: web.Application) -> None:
        later_cleanup_ran.set()

    run_for_app_lifetime(app, "dies", job)
    app.on_cleanup.append(later)
    app.freeze()
    await app.startup()
    await asyncio.sleep(0)  # the job runs and dies
    await app.cleanup()
    assert later_cleanup_ran.is_set()
    assert "background job 'dies' ended with an error" in caplog.text
