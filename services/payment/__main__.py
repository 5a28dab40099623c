"""Run the payment service: `python -m services.payment`.

With COLONY_CREDIT_ADDRESS set (as `make run`, compose and Kubernetes do), risk control
follows the credit service's blacklist feed.
"""

from __future__ import annotations

import os

from chassis.clock import Clock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.runtime import run_service
from chassis.settings import ServiceSettings
from services.payment.feeds.credit_blacklist import CREDIT_FEED
from services.payment.server import build_payment_service


def main() -> None:
    credit_address = os.environ.get("COLONY_CREDIT_ADDRESS", "")
    credit_feed = UpstreamFeed(CREDIT_FEED, credit_address) if credit_address else None

    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_payment_service(settings, client, clock, credit_feed=credit_feed)

    run_service("payment", build)


if __name__ == "__main__":
    main()
