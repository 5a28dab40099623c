"""Wallet pay: pay from the balance, Yu'e Bao, or both (DOMAIN.md §6).

What is paid (the *target*) is an escrow trade, a utility bill, or a payment code a
merchant charges; the route decides how much each method pays (gateway.payment.methods);
this saga moves it. The Yu'e Bao part is first brought into the payer's balance, then the
whole amount is paid from the balance with the target's own payment RPC (PayTrade, PayBill,
ChargePaymentCode), which passes real-time risk control like any payment:

1. ``redeem_shares``: RedeemShares, mode FAST_ONLY (all of it now, or refused with
   FAST_REDEMPTION_LIMIT_EXCEEDED); undone by CancelRedemption.
2. ``credit_balance``: the payout from the Yu'e Bao omnibus into the payer's balance, one
   transfer keyed by the payout (gateway.wealth.ledger). Undone by taking it back
   (WealthLedger.undo_payout: refused, and the saga parked for an operator, if the payer
   has spent it meanwhile).
3. ``pay``: the target's payment from the balance, risk-checked. Past the point of no
   return. A refusal (risk control denies or challenges it, the trade closed, the code
   used) moved nothing: the steps above are undone and the shares come back.
4. ``mark_payout_paid``: MarkPayoutPaid. Only now, after the target is paid, because a
   paid payout can no longer be cancelled.

With no Yu'e Bao part, steps 1-2 and 4 do nothing and the saga is the payment alone.

A challenge (RISK_CHALLENGE_REQUIRED) is answered with the payment password, which never
enters the saga log: the route exchanges it first for a payment authorization
(AuthorizePayment: single use, five minutes, bound to the payer and the amount), and the
log carries that. A payment code's charge carries the authorization the payer gave when the
code was issued, if any (the payer is not at the till to type a password).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_json, money_to_proto, timestamp_json
from gateway.payment.methods import Funding, PaymentMethod
from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    SagaDefinition,
    Step,
    StepContext,
)
from gateway.wealth.ledger import YUEBAO_OMNIBUS_ACCOUNT_ID, WealthLedger
from gateway.wealth.sagas.yuebao_redemption import cancel_redemption_step, fast_payout_of

WALLET_PAYMENT = "wallet_payment"
REDEEM_SHARES = "redeem_shares"
CREDIT_BALANCE = "credit_balance"
PAY = "pay"
MARK_PAYOUT_PAID = "mark_payout_paid"
SKIPPED: JsonObject = {"skipped": True}


class Target(StrEnum):
    """What a wallet payment pays."""

    TRADE = "trade"
    BILL = "bill"
    PAYMENT_CODE = "payment_code"


def trade_target(trade_id: str) -> JsonObject:
    return {"kind": Target.TRADE.value, "trade_id": trade_id}


def bill_target(biller_id: str, reference: str) -> JsonObject:
    return {"kind": Target.BILL.value, "biller_id": biller_id, "reference": reference}


def payment_code_target(merchant_account_id: str, code: str, memo: str) -> JsonObject:
    """A charge of a payment code. The code is single use and lives 60 s; the log keeps it
    only to replay the charge under its key, and the operators' view of a saga's input
    redacts it (gateway.operations.answers.redacted)."""
    return {
        "kind": Target.PAYMENT_CODE.value,
        "merchant_account_id": merchant_account_id,
        "code": code,
        "memo": memo,
    }


def wallet_payment_input(
    *,
    payer_account_id: str,
    target: JsonObject,
    amount: Money,
    funding: Funding,
    device_id: str = "",
    payment_authorization: str = "",
) -> JsonObject:
    assert funding.total_fen == amount.fen, (funding, amount)
    return {
        "payer_account_id": payer_account_id,
        "target": target,
        "amount_fen": amount.fen,
        "currency": amount.currency,
        "funding": [[method.value, fen] for method, fen in funding.parts],
        "yuebao_fen": funding.fen_of(PaymentMethod.YUEBAO),
        "device_id": device_id,
        "payment_authorization": payment_authorization,
    }


def _money(saga_input: Mapping[str, Any], fen_field: str) -> Money:
    return Money(int(saga_input[fen_field]), str(saga_input["currency"]))


def wallet_payment_saga(
    payment: PaymentClient, wealth: WealthClient, ledger: WealthLedger
) -> SagaDefinition:
    def yuebao_of(context: StepContext) -> Money:
        return _money(context.input, "yuebao_fen")

    def payout_id_of(context: StepContext) -> str:
        return str(context.results[REDEEM_SHARES]["payout_id"])

    async def redeem_shares(context: StepContext) -> JsonObject:
        yuebao = yuebao_of(context)
        if not yuebao.fen:
            return SKIPPED
        response = await wealth.redeem_shares(
            wpb.RedeemSharesRequest(
                idempotency_key=context.key,
                redemption_id=context.key,
                investor_id=context.input["payer_account_id"],
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

    async def credit_balance(context: StepContext) -> JsonObject:
        yuebao = yuebao_of(context)
        if not yuebao.fen:
            return SKIPPED
        posting_id = await ledger.post_payout(
            payout_id_of(context),
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            context.input["payer_account_id"],
            yuebao,
        )
        return {"posting_id": posting_id}

    async def debit_balance_back(context: StepContext) -> JsonObject:
        yuebao = yuebao_of(context)
        if not yuebao.fen:
            return SKIPPED
        reversed_ = await ledger.undo_payout(
            payout_id_of(context),
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            context.input["payer_account_id"],
            yuebao,
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    def risk_of(context: StepContext) -> pb.RiskSignals:
        return pb.RiskSignals(
            device_id=context.input["device_id"],
            payment_authorization=context.input.get("payment_authorization", ""),
        )

    async def pay(context: StepContext) -> JsonObject:
        target = context.input["target"]
        payer_account_id = context.input["payer_account_id"]
        amount = money_to_proto(_money(context.input, "amount_fen"))
        kind = Target(target["kind"])
        if kind is Target.TRADE:
            paid_trade = await payment.pay_trade(
                pb.PayTradeRequest(
                    idempotency_key=context.key,
                    trade_id=target["trade_id"],
                    buyer_account_id=payer_account_id,
                    risk=risk_of(context),
                )
            )
            return {
                "posting_id": paid_trade.posting.posting_id,
                "paid_at": timestamp_json(paid_trade.trade.paid_at),
            }
        if kind is Target.BILL:
            paid_bill = await payment.pay_bill(
                pb.PayBillRequest(
                    idempotency_key=context.key,
                    account_id=payer_account_id,
                    biller_id=target["biller_id"],
                    reference=target["reference"],
                    amount=amount,
                    risk=risk_of(context),
                )
            )
            return {
                "posting_id": paid_bill.posting.posting_id,
                "paid_at": timestamp_json(paid_bill.posting.posted_at),
            }
        charged = await payment.charge_payment_code(
            pb.ChargePaymentCodeRequest(
                idempotency_key=context.key,
                merchant_account_id=target["merchant_account_id"],
                code=target["code"],
                amount=amount,
                memo=target["memo"],
                payment_authorization=context.input.get("payment_authorization", ""),
            )
        )
        return {
            "posting_id": charged.posting.posting_id,
            "paid_at": timestamp_json(charged.posting.posted_at),
            "payer_name": charged.payer_name,
            "memo": charged.posting.memo,
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
        target = saga_input["target"]
        paid = results[PAY]
        answer: JsonObject = {
            "target": target["kind"],
            "amount": money_json(_money(saga_input, "amount_fen")),
            "funding": [
                {"method": method, "amount": money_json(Money(int(fen), currency))}
                for method, fen in saga_input["funding"]
            ],
            "posting_id": paid["posting_id"],
            "paid_at": paid["paid_at"],
        }
        kind = Target(target["kind"])
        if kind is Target.TRADE:
            answer["trade_id"] = target["trade_id"]
        elif kind is Target.BILL:
            answer |= {"biller_id": target["biller_id"], "reference": target["reference"]}
        else:
            answer |= {
                "merchant_account_id": target["merchant_account_id"],
                "payer_name": paid["payer_name"],
                "memo": paid["memo"],
            }
        return answer

    return SagaDefinition(
        name=WALLET_PAYMENT,
        summary="Pay a trade, a bill or a payment code from the balance and/or Yu'e Bao "
        "(redeemed fast first)",
        steps=(
            Step(REDEEM_SHARES, redeem_shares, compensation=cancel_shares_redemption),
            Step(CREDIT_BALANCE, credit_balance, compensation=debit_balance_back),
            Step(PAY, pay, compensation=RETRY_FORWARD),
            Step(MARK_PAYOUT_PAID, mark_payout_paid, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
