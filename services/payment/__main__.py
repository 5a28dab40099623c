"""Run the payment service: `python -m services.payment`.

With COLONY_CREDIT_ADDRESS set (as `make run`, compose and Kubernetes do), risk control
follows the credit service's blacklist feed. COLONY_PAYMENT_PASSWORD_PEPPER is the secret mixed
into payment password hashes: required unless COLONY_ENV=dev (changing it invalidates every
payment password set before, so set it once, from a secret store).
COLONY_PAYMENT_GROUP_COMMIT=0 turns group commit off (one transaction per Transfer).
COLONY_BANK_CHANNEL names the bank channel's adapter (package.module:factory); the fake bank
("fake", the default) only with COLONY_ENV=dev (services.payment.bank_channel).
COLONY_MERCHANT_ONBOARDING: "review" (the default: new merchants wait for an operator's
approval) or "auto-approve" (COLONY_ENV=dev only; services.payment.merchant_review).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from chassis.clock import Clock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.runtime import run_service
from chassis.settings import ServiceSettings
from services.payment.bank_channel import bank_channel_from
from services.payment.feeds.credit_blacklist import CREDIT_FEED
from services.payment.merchant_review import onboarding_from
from services.payment.server import build_payment_service

PEPPER_LENGTH_MIN = 16


def password_pepper_from(environ: Mapping[str, str]) -> bytes:
    """The payment password pepper; outside dev, a missing or short one stops the start."""
    pepper = environ.get("COLONY_PAYMENT_PASSWORD_PEPPER", "")
    if environ.get("COLONY_ENV", "") != "dev" and len(pepper) < PEPPER_LENGTH_MIN:
        raise SystemExit(
            f"COLONY_PAYMENT_PASSWORD_PEPPER (at least {PEPPER_LENGTH_MIN} characters) is "
            "required outside COLONY_ENV=dev"
        )
    return pepper.encode()


def main() -> None:
    credit_address = os.environ.get("COLONY_CREDIT_ADDRESS", "")
    credit_feed = UpstreamFeed(CREDIT_FEED, credit_address) if credit_address else None
    pepper = password_pepper_from(os.environ)
    group_commit = os.environ.get("COLONY_PAYMENT_GROUP_COMMIT", "1") != "0"
    bank = bank_channel_from(os.environ)
    onboarding = onboarding_from(os.environ)

    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_payment_service(
            settings,
            client,
            clock,
            bank,
            credit_feed=credit_feed,
            password_pepper=pepper,
            group_commit=group_commit,
            merchant_onboarding=onboarding,
        )

    run_service("payment", build)


if __name__ == "__main__":
    main()
