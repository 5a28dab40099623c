"""Every process's event loop: uvloop by default, asyncio's own on request."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from chassis.event_loop import loop_factory


def test_uvloop_is_the_default() -> None:
    loop = loop_factory({})()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_standard_loop_on_request() -> None:
    loop = loop_factory({"COLONY_EVENT_LOOP": "asyncio"})()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


def test_an_unknown_loop_is_refused_at_start() -> None:
    with pytest.raises(SystemExit, match="COLONY_EVENT_LOOP must be one of uvloop, asyncio"):
        loop_factory({"COLONY_EVENT_LOOP": "trio"})
