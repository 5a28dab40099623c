"""How often a saga step is tried, and how long the engine waits between tries."""

from __future__ import annotations

import random
from dataclasses import dataclass

# The longest wait between two attempts of a step.
BACKOFF_SECONDS_MAX = 5.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a step is tried: per pass, in all, and how long to wait between tries."""

    attempts_per_pass: int = 3
    attempts_max: int = 20
    backoff_seconds_first: float = 0.2
    backoff_seconds_max: float = BACKOFF_SECONDS_MAX

    def __post_init__(self) -> None:
        assert 1 <= self.attempts_per_pass <= self.attempts_max
        assert 0 < self.backoff_seconds_first <= self.backoff_seconds_max

    def backoff_seconds(self, failures_in_pass: int) -> float:
        """Exponential from the first wait up to the cap, jittered so replicas spread out."""
        ceiling = min(
            self.backoff_seconds_max, self.backoff_seconds_first * 2 ** (failures_in_pass - 1)
        )
        return random.uniform(ceiling / 2, ceiling)
