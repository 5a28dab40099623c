"""The shapes of a load test's day, as Locust LoadTestShapes (chosen by COLONY_LOAD_SHAPE).

Every shape reads its size from the environment, with defaults that fit a 2-core machine:
COLONY_LOAD_USERS (peak users), COLONY_LOAD_SPAWN_RATE (users started per second) and
COLONY_LOAD_SECONDS (how long the whole shape runs).

- steady: ramp to the users, hold them for the duration.
- double11: a quiet start, a ramp to three times the users at midnight, the peak held, then
  back down (most buying goes to one hot merchant: loadtests/wallet/users.py).
- payday: the users arrive in a burst, top up and subscribe to Yu'e Bao (the task mix).
"""

from __future__ import annotations

import os

from locust import LoadTestShape

USERS_DEFAULT = 30
SPAWN_RATE_DEFAULT = 5.0
SECONDS_DEFAULT = 120


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    return float(text) if text else default


class _Sized(LoadTestShape):
    abstract = True

    @property
    def users(self) -> int:
        return int(_env_number("COLONY_LOAD_USERS", USERS_DEFAULT))

    @property
    def spawn_rate(self) -> float:
        return _env_number("COLONY_LOAD_SPAWN_RATE", SPAWN_RATE_DEFAULT)

    @property
    def seconds(self) -> float:
        return _env_number("COLONY_LOAD_SECONDS", SECONDS_DEFAULT)


class SteadyDay(_Sized):
    """The users arrive at the spawn rate and stay until the end."""

    def tick(self) -> tuple[int, float] | None:
        if self.get_run_time() >= self.seconds:
            return None
        return self.users, self.spawn_rate


class Double11(_Sized):
    """A quarter of the time at a third of the peak, a ramp, the peak, and the way down."""

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time() / max(self.seconds, 1.0)
        peak = self.users * 3
        if elapsed >= 1.0:
            return None
        if elapsed < 0.25:
            return max(1, self.users), self.spawn_rate
        if elapsed < 0.45:
            share = (elapsed - 0.25) / 0.20
            return max(1, int(self.users + (peak - self.users) * share)), self.spawn_rate * 3
        if elapsed < 0.85:
            return peak, self.spawn_rate * 3
        return max(1, self.users), self.spawn_rate * 3


class Payday(_Sized):
    """Everyone at once (spawned at four times the rate), for the duration."""

    def tick(self) -> tuple[int, float] | None:
        if self.get_run_time() >= self.seconds:
            return None
        return self.users, self.spawn_rate * 4


SHAPES: dict[str, type[LoadTestShape]] = {
    "steady": SteadyDay,
    "double11": Double11,
    "payday": Payday,
}
