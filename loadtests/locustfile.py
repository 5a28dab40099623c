"""Colony's Locust load test: a wallet population on a steady day, Double 11 or payday.

    make loadtest                                  # starts the platform if none is running
    COLONY_LOAD_SHAPE=double11 make loadtest
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080   # the web UI

COLONY_LOAD_SHAPE picks the shape (steady, double11, payday) and the task mix;
COLONY_LOAD_USERS, COLONY_LOAD_SPAWN_RATE and COLONY_LOAD_SECONDS size it. The users, the
shapes and how answers are counted are in loadtests/wallet/. docs/performance.md shows how
to run it distributed (master and workers) and what to watch.
"""

from __future__ import annotations

import os

from loadtests.wallet.shapes import SHAPES
from loadtests.wallet.users import Merchant, Operator, WalletHolder

__all__ = ["Merchant", "Operator", "Shape", "WalletHolder"]

_SHAPE_NAME = os.environ.get("COLONY_LOAD_SHAPE", "steady").lower()
if _SHAPE_NAME not in SHAPES:
    raise SystemExit(f"COLONY_LOAD_SHAPE must be one of {', '.join(SHAPES)}, not {_SHAPE_NAME!r}")


class Shape(SHAPES[_SHAPE_NAME]):  # type: ignore[misc,valid-type]
    """The shape this run follows (Locust uses the one shape class defined here)."""
