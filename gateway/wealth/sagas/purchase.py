"""The PURCHASE template of colony.wealth.v1: every wealth purchase paid from the balance.

A Yu'e Bao subscription, a Zhaocaibao subscription, buying a listed holding and a fund buy
are the same four steps, a TCC across the payment and wealth services; only step 2 differs:

1. ``reserve_funds``: payment CreateHold on the investor (the hold id is the step's key);
   undone by VoidHold, whose tombstone refuses a late CreateHold.
2. the *try* (IssueShares, SubscribeProduct, BuyTransferListing, BuyFund), keyed by the
   step's key, with the saga's id as purchase id (so a new holding's id, which is its
   purchase's, is the operation's id the investor already knows): it takes what is bought
   (quota, a listing) and gives nothing usable yet; undone by CancelPurchase, which burns
   the id if the try never arrived.
3. ``capture_to_omnibus``: CaptureHold into the product line's omnibus account, which the
   try's Purchase names (and which must be the one this saga expects). Past the point of
   no return: retried until it succeeds; a refusal (the hold expired) moved nothing, so the
   try and the hold are undone.
4. ``confirm_purchase``: ConfirmPurchase with the capture's posting: the shares, holding
   or order appear. Retried until it succeeds.

The hold names no payee: the investor pays their own purchase, which is not a payment to a
third party, so risk control does not screen it (payment.proto, CreateHoldRequest).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_to_proto
from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    OutcomeBuilder,
    SagaDefinition,
    Step,
    StepContext,
)

RESERVE_FUNDS = "reserve_funds"
CAPTURE_TO_OMNIBUS = "capture_to_omnibus"
CONFIRM_PURCHASE = "confirm_purchase"
VOID_REASON = "wealth purchase undone"
CANCEL_REASON = "the purchase saga was undone"

# The try: the wealth-side step 2, called with the step's context and the purchase id;
# returns the pending Purchase and anything later steps or the outcome need.
TryPurchase = Callable[[StepContext, str], Awaitable[tuple[wpb.Purchase, JsonObject]]]
# What a confirmed purchase delivered, as the log keeps it (small, nothing secret).
Delivered = Callable[[wpb.ConfirmPurchaseResponse], JsonObject]


def purchase_input(investor_account_id: str, amount: Money, **details: Any) -> JsonObject:
    """A purchase saga's input: who pays how much, and what the try needs (JSON values)."""
    return {
        "investor_account_id": investor_account_id,
        "amount_fen": amount.fen,
        "currency": amount.currency,
        **details,
    }


def purchase_id_of(saga_id: str) -> str:
    """The purchase id a purchase saga tries, cancels and confirms: the saga's own id."""
    return saga_id


def purchase_amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]), str(saga_input["currency"]))


def purchase_saga(
    *,
    name: str,
    summary: str,
    payment: PaymentClient,
    wealth: WealthClient,
    hold_ttl_seconds: int,
    try_step: str,
    try_purchase: TryPurchase,
    omnibus_account_id: str,
    delivered: Delivered,
    outcome: OutcomeBuilder,
    memo: str,
    purchase_id: Callable[[StepContext], str] | None = None,
    tried_before: bool = False,
) -> SagaDefinition:
    """A purchase saga whose step 2 is try_purchase and whose cash goes to omnibus_account_id.

    purchase_id names the purchase (default: the saga's id). tried_before: the wealth
    service made the try itself (a reservation's allocation); the try step then comes first
    and only checks the purchase, and undoing it hands the allocation back.
    """
    purchase_id_for = purchase_id or (lambda context: purchase_id_of(context.saga_id))

    async def reserve_funds(context: StepContext) -> JsonObject:
        response = await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.key,
                account_id=context.input["investor_account_id"],
                amount=money_to_proto(purchase_amount(context.input)),
                ttl_seconds=hold_ttl_seconds,
                memo=memo,
            )
        )
        return {"held_fen": response.hold.amount.amount_fen}

    async def release_funds(context: StepContext) -> JsonObject:
        hold = await payment.void_hold(pb.VoidHoldRequest(hold_id=context.key, reason=VOID_REASON))
        return {"hold_state": pb.HoldState.Name(hold.state)}

    async def try_it(context: StepContext) -> JsonObject:
        purchase, details = await try_purchase(context, purchase_id_for(context))
        # The try prices nothing: the investor pays exactly what was asked for.
        assert purchase.amount.amount_fen == context.input["amount_fen"], purchase
        return {"credit_account_id": purchase.credit_account_id, **details}

    async def cancel_try(context: StepContext) -> JsonObject:
        response = await wealth.cancel_purchase(
            wpb.CancelPurchaseRequest(
                idempotency_key=context.compensation_key,
                purchase_id=purchase_id_for(context),
                reason=CANCEL_REASON,
            )
        )
        return {"purchase_state": wpb.PurchaseState.Name(response.purchase.state)}

    async def capture_to_omnibus(context: StepContext) -> JsonObject:
        credit_account_id = context.results[try_step]["credit_account_id"]
        # The wealth service names the account; money must never go anywhere unexpected.
        assert credit_account_id == omnibus_account_id, (credit_account_id, omnibus_account_id)
        response = await payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=context.key_of(RESERVE_FUNDS),
                credit_account_id=credit_account_id,
                memo=memo,
            )
        )
        return {
            "posting_id": response.posting.posting_id,
            "captured_fen": response.hold.captured_amount.amount_fen,
        }

    async def confirm_purchase(context: StepContext) -> JsonObject:
        response = await wealth.confirm_purchase(
            wpb.ConfirmPurchaseRequest(
                idempotency_key=context.key,
                purchase_id=purchase_id_for(context),
                payment_posting_id=context.results[CAPTURE_TO_OMNIBUS]["posting_id"],
            )
        )
        return delivered(response)

    reserve = Step(RESERVE_FUNDS, reserve_funds, compensation=release_funds)
    tried = Step(try_step, try_it, compensation=cancel_try)
    return SagaDefinition(
        name=name,
        summary=summary,
        steps=(
            *((tried, reserve) if tried_before else (reserve, tried)),
            Step(CAPTURE_TO_OMNIBUS, capture_to_omnibus, compensation=RETRY_FORWARD),
            Step(CONFIRM_PURCHASE, confirm_purchase, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
