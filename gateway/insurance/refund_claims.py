"""Return-shipping claims filed and paid when the insured trade is refunded, without the
buyer asking: the gateway follows the payment feed.

Every approved refund, whoever decided it (the merchant, the platform, a later automatic
path), is a ``payment.trade.refund_decided`` event carrying the trade with its refunded
total. For each trade refunded (any part of it), this consumer (a
chassis.feed_follower.FeedConsumer over the gateway database) looks for the buyer's active
return-shipping policy on the trade and files its claim with TRADE_REFUNDED evidence attested
by the payment service (the event is the payment service's own record): the insurance
service approves it at once (the fixed 12 yuan), and the claim_payout saga pays it to the
buyer's balance (gateway.insurance.claims).

Crash safety: the events are durable in the payment service's outbox; the consumer files
and pays before it saves its position, and both are idempotent by the policy (the claim id
is ``clm_rs_<policy id>``, one per policy; the payout saga's id derives from the claim), so a
batch delivered again files and pays nothing twice. A claim the buyer filed first is a
DUPLICATE_CLAIM here, and is paid on its own path.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import grpc
from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from chassis.clock import Clock
from chassis.errors import DomainError
from chassis.feed_follower import FeedFollower, UpstreamFeed
from colony.common.v1 import events_pb2, paging_pb2
from colony.insurance.v1 import insurance_pb2 as ipb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import InsuranceClient, ServiceFault
from gateway.edge.background import run_for_app_lifetime
from gateway.insurance.claims import ClaimPayouts

log = logging.getLogger("colony.gateway.insurance")

REFUND_DECIDED = "payment.trade.refund_decided"
FEED_POSITIONS_COLLECTION = "feed_positions"
POSITION_ID = "payment:return_shipping_claims"
PAYMENT_ATTESTS = "payment"
POLICIES_PAGE_SIZE = 100


def return_shipping_claim_id(policy_id: str) -> str:
    """The one automatic claim of a return-shipping policy."""
    return f"clm_rs_{policy_id}"


class ReturnShippingClaims:
    """The insurance side of the payment feed: refunded trades' return-shipping claims."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        insurance: InsuranceClient,
        payouts: ClaimPayouts,
    ) -> None:
        self._positions = database[FEED_POSITIONS_COLLECTION]
        self._insurance = insurance
        self._payouts = payouts

    async def saved_position(self, feed: str) -> int:
        document = await self._positions.find_one({"_id": POSITION_ID})
        return int(document["position"]) if document else 0

    async def apply_batch(self, feed: str, events: Sequence[events_pb2.Event]) -> None:
        """File and pay the claims of the batch's refunded trades, then save the position."""
        before = await self.saved_position(feed)
        fresh = [event for event in events if int(event.position) > before]
        if not fresh:
            return
        try:
            for event in fresh:
                trade = _refunded_trade(event)
                if trade is not None:
                    await self.claim_for(trade)
        except (DomainError, ServiceFault) as error:
            # The insurance or payment service away: the follower backs off and follows
            # again from the saved position, so no refund is skipped.
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details=f"return-shipping claims: {error}",
            ) from error
        await self._positions.update_one(
            {"_id": POSITION_ID},
            {"$max": {"position": int(fresh[-1].position)}},
            upsert=True,
        )

    async def claim_for(self, trade: pb.Trade) -> None:
        """File (or find) and pay the claim of the buyer's cover on the refunded trade."""
        policies = await self._insurance.list_policies(
            ipb.ListPoliciesRequest(
                holder_id=trade.buyer_account_id,
                page=paging_pb2.PageRequest(page_size=POLICIES_PAGE_SIZE),
            )
        )
        for policy in policies.policies:
            if (
                policy.kind != ipb.PRODUCT_KIND_RETURN_SHIPPING
                or policy.subject_id != trade.trade_id
                or policy.state != ipb.POLICY_STATE_ACTIVE
            ):
                continue
            claim_id = return_shipping_claim_id(policy.policy_id)
            try:
                claim = (
                    await self._insurance.submit_claim(
                        ipb.SubmitClaimRequest(
                            idempotency_key=f"claim:{claim_id}",
                            claim_id=claim_id,
                            policy_id=policy.policy_id,
                            event_reference=trade.trade_id,
                            evidence=[
                                ipb.Evidence(
                                    kind=ipb.EVIDENCE_KIND_TRADE_REFUNDED,
                                    reference=trade.trade_id,
                                    attested_by=PAYMENT_ATTESTS,
                                    note=f"refunded {trade.refunded.amount_fen} fen",
                                )
                            ],
                        )
                    )
                ).claim
            except DomainError as error:
                if not error.is_refusal:
                    raise
                # Filed already by the buyer (DUPLICATE_CLAIM), or the cover is over: the
                # claim that exists is paid on its own path.
                log.info(
                    "return-shipping claim not filed: %s",
                    error.message,
                    extra={"policy_id": policy.policy_id, "reason": error.reason},
                )
                continue
            await self._payouts.pay(claim)
            log.info(
                "return-shipping claim filed",
                extra={"trade_id": trade.trade_id, "claim_id": claim.claim_id},
            )

    def install(self, app: web.Application, feed: UpstreamFeed, clock: Clock) -> None:
        """Follow the payment feed for the app's lifetime."""
        # Only refund decisions are sent: the producer filters, not this follower.
        refunds = dataclasses.replace(feed, types=(REFUND_DECIDED,))
        run_for_app_lifetime(app, "return-shipping claims", FeedFollower(refunds, self, clock).run)


def _refunded_trade(event: events_pb2.Event) -> pb.Trade | None:
    if event.type != REFUND_DECIDED:
        return None
    trade = pb.Trade()
    if not event.payload.Unpack(trade):
        log.error("payment feed event %s is not a Trade", event.position)
        return None
    return trade if trade.refunded.amount_fen > 0 else None
