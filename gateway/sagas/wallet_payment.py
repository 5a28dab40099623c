"""Wallet pay: pay an escrow trade from the balance, Yu'e Bao, or both (DOMAIN.md §6).

The route decides how much each method pays (gateway.payment_methods); this saga moves it.
The Yu'e Bao part is first brought into the buyer's balance, then the whole trade is paid
from the balance with PayTrade, which passes real-time risk control like any payment:

1. ``redeem_shares``: RedeemShares, mode FAST_ONLY (all of it now, or refused with
   FAST_REDEMPTION_LIMIT_EXCEEDED); undone by CancelRedemption.
2. ``reserve_payout``: a hold on the Yu'e Bao omnibus for the payout; undone by voiding it.
3. ``credit_balance``: the hold captured into the buyer's balance. Undone by voiding the
   hold, or, if it was captured, by moving the amount back (a hold on the buyer captured
   into the omnibus; refused, and the saga parked for an operator, if the buyer has spent
   it meanwhile).
4. ``pay_trade``: PayTrade from the balance, risk-checked. Past the point of no return. A
   refusal (risk control denies or challenges it, the trade closed) moved nothing: the
   steps above are undone and the shares come back.
5. ``mark_payout_paid``: MarkPayoutPaid. Only now, after the trade is paid, because a paid
   payout can no longer be cancelled.

With no Yu'e Bao part, steps 1-3 and 5 do nothing and the saga is PayTrade alone. No
payment password can travel through the saga log, so a payment risk control challenges is
refused (RISK_CHALLENGE_REQUIRED): POST /v1/trades/{trade_id}/pay takes the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.payment_methods import Funding, PaymentMethod
from gateway.representations import money_json, money_to_proto, timestamp_json
from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    SagaDefinition,
    Step,
    StepContext,
)
from gateway.sagas.yuebao_redemption import cancel_redemption_step, fast_payout_of
from gateway.wealth_ledger import YUEBAO_OMNIBUS_ACCOUNT_ID, WealthLedger

WALLET_TRADE_PAYMENT = "wallet_trade_payment"
REDEEM_SHARES = "redeem_shares"
RESERVE_PAYOUT = "reserve_payout"
CREDIT_BALANCE = "credit_balance"
PAY_TRADE = "pay_trade"
MARK_PAYOUT_PAID = "mark_payout_paid"
SKIPPED: JsonObject = {"skipped": True}
REVERSAL_MEMO = "Yu'e Bao payment undone"


def wallet_trade_payment_input(
    *, buyer_account_id: str, trade_id: str, amount: Money, funding: Funding, device_id: str
) -> JsonObject:
    assert funding.total_fen == amount.fen, (funding, amount)
    return {
        "buyer_account_id": buyer_account_id,
        "trade_id": trade_id,
        "amount_fen": amount.fen,
        "currency": amount.currency,
        "funding": [[method.value, fen] for method, fen in funding.parts],
        "yuebao_fen": funding.fen_of(PaymentMethod.YUEBAO),
        "device_id": device_id,
    }


def wallet_trade_payment_saga(
    payment: PaymentClient, wealth: WealthClient, ledger: WealthLedger
) -> SagaDefinition:
    def yuebao_of(context: StepContext) -> Money:
        return Money(int(context.input["yuebao_fen"]), str(context.input["currency"]))

    async def redeem_shares(context: StepContext) -> JsonObject:
        yuebao = yuebao_of(context)
        if not yuebao.fen:
            return SKIPPED
        response = await wealth.redeem_shares(
            wpb.RedeemSharesRequest(
                idempotency_key=context.key,
                redemption_id=context.key,
                investor_id=context.input["buyer_account_id"],
                amount=money_to_proto(yuebao),
                mode=wpb.REDEMPTION_MODE_FAST_ONLY,
            )
        )
        fast = fast_payout_of(response.redemption)
        assert fast is not None and fast.amount.amount_fen == yuebao.fen, response
        return {"payout_id": fast.payout_id}

    cancel_redemption = cancel_redemption_step(wealth)

    async def cancel_shares_redemption(context: StepContext) -> JsonObject:
        if not yuebao_of(context).fen:
            return SKIPPED
        return await cancel_redemption(context)

    def payout_id_of(context: StepContext) -> str:
        return str(context.results[REDEEM_SHARES]["payout_id"])

    async def reserve_payout(context: StepContext) -> JsonObject:
        yuebao = yuebao_of(context)
        if not yuebao.fen:
            return SKIPPED
        await ledger.reserve_payout(payout_id_of(context), YUEBAO_OMNIBUS_ACCOUNT_ID, yuebao)
        return {}

    async def release_payout(context: StepContext) -> JsonObject:
        if not yuebao_of(context).fen:
            return SKIPPED
        # False when it was captured: credit_balance's compensation moved it back already.
        released = await ledger.release_payout(payout_id_of(context))
        return {"released": released}

    async def credit_balance(context: StepContext) -> JsonObject:
        if not yuebao_of(context).fen:
            return SKIPPED
        posting_id = await ledger.capture_payout(
            payout_id_of(context), context.input["buyer_account_id"]
        )
        return {"posting_id": posting_id}

    async def debit_balance_back(context: StepContext) -> JsonObject:
        yuebao = yuebao_of(context)
        if not yuebao.fen:
            return SKIPPED
        # Voiding first settles the race with a capture still in flight: once voided the
        # payout can never be captured; if it already was, the money goes back.
        if await ledger.release_payout(payout_id_of(context)):
            return {"reversed": False}
        await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.compensation_key,
                account_id=context.input["buyer_account_id"],
                amount=money_to_proto(yuebao),
                memo=REVERSAL_MEMO,
            )
        )
        await payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=context.compensation_key,
                credit_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID,
                memo=REVERSAL_MEMO,
            )
        )
        return {"reversed": True}

    async def pay_trade(context: StepContext) -> JsonObject:
        response = await payment.pay_trade(
            pb.PayTradeRequest(
                idempotency_key=context.key,
                trade_id=context.input["trade_id"],
                buyer_account_id=context.input["buyer_account_id"],
                risk=pb.RiskSignals(device_id=context.input["device_id"]),
            )
        )
        return {
            "posting_id": response.posting.posting_id,
            "paid_at": timestamp_json(response.trade.paid_at),
        }

    async def mark_payout_paid(context: StepContext) -> JsonObject:
        if not yuebao_of(context).fen:
            return SKIPPED
        await wealth.mark_payout_paid(
            wpb.MarkPayoutPaidRequest(
                idempotency_key=context.key,
                payout_id=payout_id_of(context),
                payment_posting_id=context.results[CREDIT_BALANCE]["posting_id"],
            )
        )
        return {}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        currency = str(saga_input["currency"])
        return {
            "trade_id": saga_input["trade_id"],
            "amount": money_json(Money(int(saga_input["amount_fen"]), currency)),
            "funding": [
                {"method": method, "amount": money_json(Money(int(fen), currency))}
                for method, fen in saga_input["funding"]
            ],
            "posting_id": results[PAY_TRADE]["posting_id"],
            "paid_at": results[PAY_TRADE]["paid_at"],
        }

    return SagaDefinition(
        name=WALLET_TRADE_PAYMENT,
        summary="Pay an escrow trade from the balance and/or Yu'e Bao (redeemed fast first)",
        steps=(
            Step(REDEEM_SHARES, redeem_shares, compensation=cancel_shares_redemption),
            Step(RESERVE_PAYOUT, reserve_payout, compensation=release_payout),
            Step(CREDIT_BALANCE, credit_balance, compensation=debit_balance_back),
            Step(PAY_TRADE, pay_trade, compensation=RETRY_FORWARD),
            Step(MARK_PAYOUT_PAID, mark_payout_paid, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
