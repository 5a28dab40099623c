"""The insurance line as the gateway's composition root (gateway.app) wires it.

``InsuranceLine.build`` opens the client, the ledger and the quoting store (what the sagas
need); ``operations`` adds what needs the saga engine: claim payouts, the job, purchases and
the return-shipping cover; ``install`` runs the job on its schedule and follows the payment
feed for refunded trades' return-shipping claims. The routes themselves are built in
gateway.app (only it imports route modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from chassis.clock import Clock
from chassis.feed_follower import UpstreamFeed
from gateway.clients import CreditClient, InsuranceClient, PaymentClient
from gateway.insurance.claims import ClaimPayouts
from gateway.insurance.deposit import DepositInsurance
from gateway.insurance.jobs import InsuranceJobs, insurance_jobs_schedule
from gateway.insurance.ledger import InsuranceLedger
from gateway.insurance.purchases import Purchases
from gateway.insurance.quoting import Quoting
from gateway.insurance.refund_claims import ReturnShippingClaims
from gateway.insurance.trade_cover import ReturnShippingCover
from gateway.operations.start import Operations
from gateway.payment.wallet_funding import WalletFunding
from gateway.sagas.engine import SagaEngine

INSURANCE_QUOTES_COLLECTION = "insurance_quotes"


@dataclass(frozen=True, slots=True)
class InsuranceOperations:
    """What the insurance routes and the wallet pay route use, over the saga engine."""

    payouts: ClaimPayouts
    jobs: InsuranceJobs
    purchases: Purchases
    return_shipping: ReturnShippingCover
    refund_claims: ReturnShippingClaims
    deposit: DepositInsurance
    operations: Operations

    def install(
        self, app: web.Application, clock: Clock, *, interval_seconds: float, payment_address: str
    ) -> None:
        insurance_jobs_schedule(self.jobs, clock, interval_seconds=interval_seconds).install(app)
        self.refund_claims.install(app, UpstreamFeed("payment", payment_address), clock)


@dataclass(frozen=True, slots=True)
class InsuranceLine:
    client: InsuranceClient
    ledger: InsuranceLedger
    quoting: Quoting
    database: AsyncDatabase[dict[str, Any]]

    @classmethod
    def build(
        cls,
        channel: grpc.aio.Channel,
        payment: PaymentClient,
        credit: CreditClient,
        database: AsyncDatabase[dict[str, Any]],
        deadline_seconds: float,
    ) -> InsuranceLine:
        client = InsuranceClient(channel, deadline_seconds)
        return cls(
            client=client,
            ledger=InsuranceLedger(payment, client),
            quoting=Quoting(payment, credit, database[INSURANCE_QUOTES_COLLECTION]),
            database=database,
        )

    def operations(
        self,
        payment: PaymentClient,
        engine: SagaEngine,
        funding: WalletFunding,
        operations: Operations,
        clock: Clock,
    ) -> InsuranceOperations:
        payouts = ClaimPayouts(
            self.client,
            payment,
            engine,
            operations.sagas.claim_payout,
            wait_seconds=operations.wait_seconds,
        )
        purchases = Purchases(self.client, self.quoting, funding, clock)
        return InsuranceOperations(
            payouts=payouts,
            jobs=InsuranceJobs(self.client, payouts),
            purchases=purchases,
            return_shipping=ReturnShippingCover(operations, purchases),
            refund_claims=ReturnShippingClaims(self.database, self.client, payouts),
            deposit=DepositInsurance(self.client, payouts),
            operations=operations,
        )
