"""Run the credit service: `python -m services.credit`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from chassis.clock import Clock
from chassis.feed_follower import FEED_METHODS, UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.runtime import run_service
from chassis.settings import ServiceSettings
from services.credit.server import build_credit_service

# The feeds followed unless COLONY_CREDIT_FEEDS says otherwise.
DEFAULT_FEEDS = ("payment", "wealth", "loan", "insurance")


@dataclass(frozen=True, slots=True)
class CreditSettings:
    """The upstream feeds to follow and where their services listen (COLONY_<NAME>_ADDRESS)."""

    upstream_feeds: tuple[UpstreamFeed, ...]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CreditSettings:
        names = environ.get("COLONY_CREDIT_FEEDS", ",".join(DEFAULT_FEEDS))
        feeds = []
        for name in filter(None, (n.strip() for n in names.split(","))):
            if name not in FEED_METHODS:
                raise SystemExit(f"COLONY_CREDIT_FEEDS names an unknown feed {name!r}")
            address = environ.get(f"COLONY_{name.upper()}_ADDRESS")
            if not address:
                raise SystemExit(
                    f"the credit service follows {name}: set COLONY_{name.upper()}_ADDRESS"
                )
            feeds.append(UpstreamFeed(name, address))
        return cls(tuple(feeds))


def main() -> None:
    credit = CreditSettings.from_env(os.environ)

    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_credit_service(settings, client, clock, credit.upstream_feeds)

    run_service("credit", build)


if __name__ == "__main__":
    main()
