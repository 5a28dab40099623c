"""The payment process's start-up settings: the payment password pepper is a secret it needs."""

from __future__ import annotations

import argon2
import pytest

from services.payment.__main__ import PEPPER_LENGTH_MIN, password_pepper_from
from services.payment.payment_password import hash_payment_password, verify_payment_password


def test_outside_dev_a_missing_or_short_pepper_stops_the_start() -> None:
    for environ in ({}, {"COLONY_ENV": "prod"}, {"COLONY_PAYMENT_PASSWORD_PEPPER": "short"}):
        with pytest.raises(SystemExit):
            password_pepper_from(environ)
    pepper = "p" * PEPPER_LENGTH_MIN
    assert password_pepper_from({"COLONY_PAYMENT_PASSWORD_PEPPER": pepper}) == pepper.encode()


def test_dev_runs_without_a_pepper() -> None:
    assert password_pepper_from({"COLONY_ENV": "dev"}) == b""


def test_a_hash_made_with_a_pepper_does_not_verify_without_it() -> None:
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    hashed = hash_payment_password("503917", hasher=hasher, pepper=b"s" * 32)
    assert verify_payment_password(hashed, "503917", hasher=hasher, pepper=b"s" * 32)
    assert not verify_payment_password(hashed, "503917", hasher=hasher)
