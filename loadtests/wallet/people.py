"""Identities for the people a load test registers: unique within the run, valid as real ones."""

from __future__ import annotations

import itertools
import os
import random
from datetime import date, timedelta

from services.payment.identity import resident_id_check_char

# Phones 170xxxxxxxx are not used by the demo data; a run prefix keeps runs apart.
_RUN_PREFIX = f"{random.randrange(100):02d}"
_SEQUENCE = itertools.count(random.randrange(10_000) * 1_000)
_WORKER_SALT = os.getpid() % 10


def new_phone() -> str:
    """A phone not used before in this run (worker processes differ by their salt digit)."""
    return f"17{_WORKER_SALT}{_RUN_PREFIX}{next(_SEQUENCE) % 1_000_000:06d}"


def new_resident_id() -> str:
    """A random resident id with a valid GB 11643 check character (Beijing Dongcheng)."""
    birth = date(1960, 1, 1) + timedelta(days=random.randrange(365 * 45))
    first_17 = f"110101{birth:%Y%m%d}{random.randrange(1000):03d}"
    return first_17 + resident_id_check_char(first_17)


SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN_NAMES = "伟芳娜敏静丽强磊军洋"


def new_name() -> str:
    return random.choice(SURNAMES) + random.choice(GIVEN_NAMES) + random.choice(GIVEN_NAMES)


def new_payment_password(*personal_numbers: str) -> str:
    """Six digits that are no run, no repeat, and in none of the person's numbers (not weak)."""
    while True:
        digits = f"{random.randrange(10**6):06d}"
        steps = {int(b) - int(a) for a, b in itertools.pairwise(digits)}
        unrelated = all(digits not in number for number in personal_numbers)
        if len(set(digits)) >= 4 and steps - {1, -1} and unrelated:
            return digits
