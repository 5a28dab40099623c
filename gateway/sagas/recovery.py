"""The recovery loop: a periodic job that finishes or compensates sagas nobody is driving.

A saga needs it when its gateway died mid-pass (its lease expires), when a pass ran out of
attempts for this round (its lease is released at once), or after an operator's retry.
Every replica runs the loop; a saga is driven by whichever claims its lease first.
Started and stopped with the app (aiohttp on_startup / on_cleanup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from gateway.sagas.engine import SagaEngine

log = logging.getLogger("colony.gateway.sagas")


class RecoveryLoop:
    """Every interval_seconds, one bounded round of SagaEngine.recover_once."""

    def __init__(self, engine: SagaEngine, interval_seconds: float) -> None:
        self._engine = engine
        self._interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        """Run the loop for the app's lifetime; on cleanup stop it and the passes in flight."""
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def _start(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._run(), name="saga recovery")

    async def _stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._engine.close()

    async def _run(self) -> None:
        # A lifetime job, cancelled at cleanup; each round is bounded by recover_once. A
        # round runs at once at start-up, so a restarted gateway picks up what it left.
        while True:
            try:
                resumed = await self._engine.recover_once()
            except Exception:
                # The gateway database away, most likely: log it and try next round.
                log.exception("saga recovery round failed")
            else:
                if resumed:
                    log.info("saga recovery round", extra={"resumed": resumed})
            await asyncio.sleep(self._interval_seconds)
