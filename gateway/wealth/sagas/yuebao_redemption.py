"""Redeem Yu'e Bao (余额宝) shares to the balance (DOMAIN.md §2).

1. ``redeem_shares``: RedeemShares, mode FAST_THEN_NORMAL, the step's key as redemption
   id: the shares leave the holding at once; up to today's fast allowance (10,000 yuan a
   business date, kept by the wealth service) is owed now as a SAGA payout, the rest as a
   SCHEDULED payout on the next business date, paid by the daily job (gateway.wealth.jobs).
   Undone by CancelRedemption (which burns the id if the redemption never arrived).
2. ``pay_fast_payout``: the fast part from the omnibus account to the investor's balance,
   one transfer keyed by the payout (gateway.wealth.ledger). Past the point of no return;
   a refusal (the omnibus frozen) moved nothing, and the redemption is cancelled.
3. ``mark_fast_payout_paid``: MarkPayoutPaid with the posting. Retried until it succeeds.

Steps 2-3 do nothing when nothing is redeemed fast (the allowance was used up today).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import WealthClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    SagaDefinition,
    Step,
    StepCall,
    StepContext,
)
from gateway.wealth.ledger import YUEBAO_OMNIBUS_ACCOUNT_ID, WealthLedger

YUEBAO_REDEMPTION = "yuebao_redemption"
REDEEM_SHARES = "redeem_shares"
PAY_FAST_PAYOUT = "pay_fast_payout"
MARK_FAST_PAYOUT_PAID = "mark_fast_payout_paid"
CANCEL_REASON = "the redemption saga was undone"
SKIPPED: JsonObject = {"skipped": True}


def yuebao_redemption_input(investor_account_id: str, amount: Money) -> JsonObject:
    return {
        "investor_account_id": investor_account_id,
        "amount_fen": amount.fen,
        "currency": amount.currency,
    }


def _amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]), str(saga_input["currency"]))


def fast_payout_of(redemption: wpb.Redemption) -> wpb.Payout | None:
    """The redemption's payout the calling saga settles, if any of it is fast."""
    fast = [p for p in redemption.payouts if p.settlement == wpb.PAYOUT_SETTLEMENT_SAGA]
    assert len(fast) <= 1, redemption
    return fast[0] if fast else None


def redemption_result(response: wpb.RedeemSharesResponse) -> JsonObject:
    """What the log keeps of a redemption: its split, and the fast payout to settle."""
    redemption = response.redemption
    fast = fast_payout_of(redemption)
    assert (fast.amount.amount_fen if fast else 0) == redemption.fast.amount_fen, redemption
    return {
        "fast_fen": redemption.fast.amount_fen,
        "normal_fen": redemption.normal.amount_fen,
        "settles_on": redemption.settles_on,
        "fast_payout_id": fast.payout_id if fast else "",
    }


def cancel_redemption_step(wealth: WealthClient) -> StepCall:
    """The compensation of a RedeemShares step: CancelRedemption of the step's key."""

    async def cancel(context: StepContext) -> JsonObject:
        response = await wealth.cancel_redemption(
            wpb.CancelRedemptionRequest(
                idempotency_key=context.compensation_key,
                redemption_id=context.key,
                reason=CANCEL_REASON,
            )
        )
        return {"redemption_state": wpb.RedemptionState.Name(response.redemption.state)}

    return cancel


def yuebao_redemption_saga(wealth: WealthClient, ledger: WealthLedger) -> SagaDefinition:
    async def redeem_shares(context: StepContext) -> JsonObject:
        response = await wealth.redeem_shares(
            wpb.RedeemSharesRequest(
                idempotency_key=context.key,
                redemption_id=context.key,
                investor_id=context.input["investor_account_id"],
                amount=money_to_proto(_amount(context.input)),
                mode=wpb.REDEMPTION_MODE_FAST_THEN_NORMAL,
            )
        )
        return redemption_result(response)

    def redeemed(context: StepContext) -> JsonObject:
        return context.results[REDEEM_SHARES]

    async def pay_fast_payout(context: StepContext) -> JsonObject:
        redemption = redeemed(context)
        if not redemption["fast_fen"]:
            return SKIPPED
        posting_id = await ledger.post_payout(
            redemption["fast_payout_id"],
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            context.input["investor_account_id"],
            Money(redemption["fast_fen"], str(context.input["currency"])),
        )
        return {"posting_id": posting_id}

    async def mark_fast_payout_paid(context: StepContext) -> JsonObject:
        redemption = redeemed(context)
        if not redemption["fast_fen"]:
            return SKIPPED
        await wealth.mark_payout_paid(
            wpb.MarkPayoutPaidRequest(
                idempotency_key=context.key,
                payout_id=redemption["fast_payout_id"],
                payment_posting_id=context.results[PAY_FAST_PAYOUT]["posting_id"],
            )
        )
        return {}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        redemption = results[REDEEM_SHARES]
        answer: JsonObject = {
            "amount": money_json(_amount(saga_input)),
            "paid_now": money_json(Money(redemption["fast_fen"])),
            "paid_later": money_json(Money(redemption["normal_fen"])),
        }
        if redemption["normal_fen"]:
            answer["paid_later_on"] = redemption["settles_on"]
        return answer

    return SagaDefinition(
        name=YUEBAO_REDEMPTION,
        summary="Redeem Yu'e Bao to the balance: fast up to today's cap, the rest next day",
        steps=(
            Step(REDEEM_SHARES, redeem_shares, compensation=cancel_redemption_step(wealth)),
            Step(PAY_FAST_PAYOUT, pay_fast_payout, compensation=RETRY_FORWARD),
            Step(MARK_FAST_PAYOUT_PAID, mark_fast_payout_paid, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
