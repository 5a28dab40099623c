"""The event loop every Colony process runs on: uvloop (libuv), or asyncio's own.

uvloop runs the same asyncio code with a faster loop (sockets, timers, callbacks in C);
grpc.aio, aiohttp and PyMongo's async API all run on it. ``COLONY_EVENT_LOOP=asyncio``
selects the standard loop (to compare, or to debug with asyncio's debug mode).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

EVENT_LOOP_ENV = "COLONY_EVENT_LOOP"
EVENT_LOOPS = ("uvloop", "asyncio")


def loop_factory(env: Mapping[str, str] = os.environ) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes this process's event loop, by COLONY_EVENT_LOOP (default uvloop)."""
    choice = env.get(EVENT_LOOP_ENV, "uvloop") or "uvloop"
    if choice not in EVENT_LOOPS:
        allowed = ", ".join(EVENT_LOOPS)
        raise SystemExit(f"{EVENT_LOOP_ENV} must be one of {allowed}, not {choice!r}")
    if choice == "asyncio":
        return asyncio.new_event_loop
    import uvloop

    return uvloop.new_event_loop
