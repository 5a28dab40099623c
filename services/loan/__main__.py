"""Run the loan service: `python -m services.loan`.

With COLONY_CREDIT_ADDRESS set (as `make run` does), the Huabei lines
follow the credit service's score and blacklist changes (services/loan/feeds/credit_scores.py).
"""

from __future__ import annotations

import os

from chassis.clock import Clock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.runtime import run_service
from chassis.settings import ServiceSettings
from services.loan.feeds.credit_scores import CREDIT_FEED
from services.loan.server import build_loan_service


def main() -> None:
    credit_address = os.environ.get("COLONY_CREDIT_ADDRESS", "")
    credit_feed = UpstreamFeed(CREDIT_FEED, credit_address) if credit_address else None

    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_loan_service(settings, client, clock, credit_feed)

    run_service("loan", build)


if __name__ == "__main__":
    main()
