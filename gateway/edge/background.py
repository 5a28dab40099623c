"""Background jobs that live as long as the gateway app: started on startup, cancelled on
cleanup.

aiohttp runs on_cleanup handlers in the order they were added, and the gateway's process
closes its service channels and database client in a handler it adds after create_app
(gateway.__main__), so a job installed here stops before what it calls is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

log = logging.getLogger("colony.gateway")


def run_for_app_lifetime(
    app: web.Application, name: str, job: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run job() as a task named name from the app's startup until its cleanup."""
    tasks: list[asyncio.Task[None]] = []

    async def start(app: web.Application) -> None:
        tasks.append(asyncio.create_task(job(), name=name))

    async def stop(app: web.Application) -> None:
        for task in tasks:
            task.cancel()
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception:
                # A job that died must not keep the rest of the app from cleaning up.
                log.exception("background job %r ended with an error", name)
        tasks.clear()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
