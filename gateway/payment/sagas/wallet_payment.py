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
3. ``pay``: the target's payment from the balance, risk-checked: each kind of target
   (TradeTarget, BillTarget, PaymentCodeTarget) pays itself with its own RPC. Past the
   point of no return. A refusal (risk control denies or challenges it, the trade closed, the code
   used) moved nothing: the steps above are undone and the shares come back.
4. ``mark_payout_paid``: MarkPayoutPaid. Only now, after the target is paid, because a
   paid payout can no longer be cancelled.

A Huabei part (花呗, the credit line; docs/loans.md) is brought into the balance the same
way, between the Yu'e Bao steps and the payment:

- ``reserve_huabei``: ReserveHuabei on the payer's line (guarded in the loan service: two
  concurrent purchases never exceed the line); undone by ReleaseHuabei, whose tombstone
  refuses a late reserve.
- ``credit_from_huabei``: a PlatformTransfer from platform:loan:huabei into the payer's
  balance keyed "loan-huabei:<reservation id>" (the reservation id is the reserve step's
  key, derived from the saga id); undone like a payout: replayed, then taken back
  (gateway.loans.ledger.LoanLedger.undo_lend).
- ``capture_huabei`` (after the payment, retried forward): CaptureHuabei with the
  transfer's posting: the purchase is drawn on the line.

The merchant sees an ordinary payment from the payer's balance. Without a Yu'e Bao or a
Huabei part, their steps are SKIPPED in the saga's first record (Step.skip: decided from
the input alone), so a payment from the balance is the ``pay`` step alone: no log write,
call or compensation for the others. (Sagas logged before steps could be skipped still run
those steps, which then do nothing and return SKIPPED.)

The saga's input is a WalletPaymentInput, stored in the saga log as the JSON object of
to_json (the field names are the log's: records written before a change still read).

A challenge (RISK_CHALLENGE_REQUIRED) is answered with the payment password, which never
enters the saga log: the route exchanges it first for a payment authorization
(AuthorizePayment: single use, five minutes, bound to the payer and the amount), and the
log carries that. A payment code's charge carries the authorization the payer gave when the
code was issued, if any (the payer is not at the till to type a password).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from chassis.money import Money
from colony.loan.v1 import loan_pb2 as lpb
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import LoanClient, PaymentClient, WealthClient
from gateway.edge.representations import money_json, money_to_proto, timestamp_json
from gateway.loans.ledger import HUABEI_ACCOUNT_ID, LoanLedger, huabei_key
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
RESERVE_HUABEI = "reserve_huabei"
CREDIT_FROM_HUABEI = "credit_from_huabei"
CAPTURE_HUABEI = "capture_huabei"
SKIPPED: JsonObject = {"skipped": True}


@dataclass(frozen=True, slots=True)
class TradeTarget:
    """An escrow trade the payer buys: PayTrade, the trade's amount into escrow."""

    KIND: ClassVar[str] = "trade"
    trade_id: str

    def to_json(self) -> JsonObject:
        return {"kind": self.KIND, "trade_id": self.trade_id}

    async def pay(self, payment: PaymentClient, order: WalletPaymentInput, key: str) -> JsonObject:
        response = await payment.pay_trade(
            pb.PayTradeRequest(
                idempotency_key=key,
                trade_id=self.trade_id,
                buyer_account_id=order.payer_account_id,
                risk=order.risk_signals(),
            )
        )
        return {
            "posting_id": response.posting.posting_id,
            "paid_at": timestamp_json(response.trade.paid_at),
        }

    def answer(self, paid: Mapping[str, Any]) -> JsonObject:
        return {"trade_id": self.trade_id}

    @property
    def payee(self) -> tuple[str, str]:
        """(merchant id, reference) as a Huabei purchase records them."""
        return "", f"trade:{self.trade_id}"


@dataclass(frozen=True, slots=True)
class BillTarget:
    """A utility bill (DOMAIN.md §6): PayBill to the biller for the payer's reference."""

    KIND: ClassVar[str] = "bill"
    biller_id: str
    reference: str

    def to_json(self) -> JsonObject:
        return {"kind": self.KIND, "biller_id": self.biller_id, "reference": self.reference}

    async def pay(self, payment: PaymentClient, order: WalletPaymentInput, key: str) -> JsonObject:
        response = await payment.pay_bill(
            pb.PayBillRequest(
                idempotency_key=key,
                account_id=order.payer_account_id,
                biller_id=self.biller_id,
                reference=self.reference,
                amount=money_to_proto(order.amount),
                risk=order.risk_signals(),
            )
        )
        return {
            "posting_id": response.posting.posting_id,
            "paid_at": timestamp_json(response.posting.posted_at),
        }

    def answer(self, paid: Mapping[str, Any]) -> JsonObject:
        return {"biller_id": self.biller_id, "reference": self.reference}

    @property
    def payee(self) -> tuple[str, str]:
        return self.biller_id, f"bill:{self.reference}"


@dataclass(frozen=True, slots=True)
class PaymentCodeTarget:
    """A merchant's charge of the payer's payment code: ChargePaymentCode.

    The code is single use and lives 60 s; the log keeps it only to replay the charge under
    its key, and the operators' view of a saga's input redacts it
    (gateway.operations.answers.redacted).
    """

    KIND: ClassVar[str] = "payment_code"
    merchant_account_id: str
    code: str
    memo: str

    def to_json(self) -> JsonObject:
        return {
            "kind": self.KIND,
            "merchant_account_id": self.merchant_account_id,
            "code": self.code,
            "memo": self.memo,
        }

    async def pay(self, payment: PaymentClient, order: WalletPaymentInput, key: str) -> JsonObject:
        response = await payment.charge_payment_code(
            pb.ChargePaymentCodeRequest(
                idempotency_key=key,
                merchant_account_id=self.merchant_account_id,
                code=self.code,
                amount=money_to_proto(order.amount),
                memo=self.memo,
                payment_authorization=order.payment_authorization,
            )
        )
        return {
            "posting_id": response.posting.posting_id,
            "paid_at": timestamp_json(response.posting.posted_at),
            "payer_name": response.payer_name,
            "memo": response.posting.memo,
        }

    def answer(self, paid: Mapping[str, Any]) -> JsonObject:
        return {
            "merchant_account_id": self.merchant_account_id,
            "payer_name": paid["payer_name"],
            "memo": paid["memo"],
        }

    @property
    def payee(self) -> tuple[str, str]:
        return self.merchant_account_id, "payment_code"


PaymentTarget = TradeTarget | BillTarget | PaymentCodeTarget


def target_from_json(stored: Mapping[str, Any]) -> PaymentTarget:
    """The target as the saga log stores it (its ``kind`` names the class)."""
    kind = stored["kind"]
    if kind == TradeTarget.KIND:
        return TradeTarget(trade_id=stored["trade_id"])
    if kind == BillTarget.KIND:
        return BillTarget(biller_id=stored["biller_id"], reference=stored["reference"])
    assert kind == PaymentCodeTarget.KIND, f"unknown wallet payment target {kind!r}"
    return PaymentCodeTarget(
        merchant_account_id=stored["merchant_account_id"],
        code=stored["code"],
        memo=stored["memo"],
    )


@dataclass(frozen=True, slots=True)
class WalletPaymentInput:
    """What a wallet payment pays, how much, and what each of the payer's methods gives."""

    payer_account_id: str
    target: PaymentTarget
    amount: Money
    # (method, fen) in the order the methods were drawn.
    funding: tuple[tuple[PaymentMethod, int], ...]
    device_id: str = ""
    payment_authorization: str = ""

    def __post_init__(self) -> None:
        assert sum(fen for _, fen in self.funding) == self.amount.fen, self

    @classmethod
    def planned(
        cls,
        *,
        payer_account_id: str,
        target: PaymentTarget,
        amount: Money,
        funding: Funding,
        device_id: str = "",
        payment_authorization: str = "",
    ) -> WalletPaymentInput:
        """The input of a payment whose methods gateway.payment.methods planned."""
        return cls(
            payer_account_id=payer_account_id,
            target=target,
            amount=amount,
            funding=funding.parts,
            device_id=device_id,
            payment_authorization=payment_authorization,
        )

    @property
    def yuebao(self) -> Money:
        """The Yu'e Bao part, redeemed fast into the balance before the target is paid."""
        yuebao_fen = sum(fen for method, fen in self.funding if method is PaymentMethod.YUEBAO)
        return Money(yuebao_fen, self.amount.currency)

    @property
    def huabei(self) -> Money:
        """The Huabei part, drawn on the credit line into the balance before the payment."""
        huabei_fen = sum(fen for method, fen in self.funding if method is PaymentMethod.HUABEI)
        return Money(huabei_fen, self.amount.currency)

    def risk_signals(self) -> pb.RiskSignals:
        return pb.RiskSignals(
            device_id=self.device_id, payment_authorization=self.payment_authorization
        )

    def to_json(self) -> JsonObject:
        """The saga log's form: these field names are what stored sagas carry."""
        return {
            "payer_account_id": self.payer_account_id,
            "target": self.target.to_json(),
            "amount_fen": self.amount.fen,
            "currency": self.amount.currency,
            "funding": [[method.value, fen] for method, fen in self.funding],
            "yuebao_fen": self.yuebao.fen,
            "device_id": self.device_id,
            "payment_authorization": self.payment_authorization,
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> WalletPaymentInput:
        currency = str(stored["currency"])
        order = cls(
            payer_account_id=stored["payer_account_id"],
            target=target_from_json(stored["target"]),
            amount=Money(int(stored["amount_fen"]), currency),
            funding=tuple((PaymentMethod(method), int(fen)) for method, fen in stored["funding"]),
            device_id=stored.get("device_id", ""),
            payment_authorization=stored.get("payment_authorization", ""),
        )
        assert order.yuebao.fen == int(stored["yuebao_fen"]), stored
        return order


def no_yuebao(saga_input: Mapping[str, Any]) -> bool:
    """The payment has no Yu'e Bao part: its Yu'e Bao steps are skipped (Step.skip)."""
    return not WalletPaymentInput.from_json(saga_input).yuebao.fen


def no_huabei(saga_input: Mapping[str, Any]) -> bool:
    """The payment has no Huabei part: its Huabei steps are skipped (Step.skip)."""
    return not WalletPaymentInput.from_json(saga_input).huabei.fen


def wallet_payment_saga(
    payment: PaymentClient,
    wealth: WealthClient,
    ledger: WealthLedger,
    *,
    loan: LoanClient,
    loan_ledger: LoanLedger,
) -> SagaDefinition:
    def order_of(context: StepContext) -> WalletPaymentInput:
        return WalletPaymentInput.from_json(context.input)

    def payout_id_of(context: StepContext) -> str:
        return str(context.results[REDEEM_SHARES]["payout_id"])

    async def redeem_shares(context: StepContext) -> JsonObject:
        order = order_of(context)
        if not order.yuebao.fen:
            return SKIPPED
        response = await wealth.redeem_shares(
            wpb.RedeemSharesRequest(
                idempotency_key=context.key,
                redemption_id=context.key,
                investor_id=order.payer_account_id,
                amount=money_to_proto(order.yuebao),
                mode=wpb.REDEMPTION_MODE_FAST_ONLY,
            )
        )
        fast = fast_payout_of(response.redemption)
        assert fast is not None and fast.amount.amount_fen == order.yuebao.fen, response
        return {"payout_id": fast.payout_id}

    cancel_redemption = cancel_redemption_step(wealth)

    async def cancel_shares_redemption(context: StepContext) -> JsonObject:
        if not order_of(context).yuebao.fen:
            return SKIPPED
        return await cancel_redemption(context)

    async def credit_balance(context: StepContext) -> JsonObject:
        order = order_of(context)
        if not order.yuebao.fen:
            return SKIPPED
        posting_id = await ledger.post_payout(
            payout_id_of(context), YUEBAO_OMNIBUS_ACCOUNT_ID, order.payer_account_id, order.yuebao
        )
        return {"posting_id": posting_id}

    async def debit_balance_back(context: StepContext) -> JsonObject:
        order = order_of(context)
        if not order.yuebao.fen:
            return SKIPPED
        reversed_ = await ledger.undo_payout(
            payout_id_of(context),
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            order.payer_account_id,
            order.yuebao,
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    async def reserve_huabei(context: StepContext) -> JsonObject:
        order = order_of(context)
        if not order.huabei.fen:
            return SKIPPED
        merchant_id, reference = order.target.payee
        await loan.reserve_huabei(
            lpb.ReserveHuabeiRequest(
                idempotency_key=context.key,
                reservation_id=context.key,
                borrower_id=order.payer_account_id,
                amount=money_to_proto(order.huabei),
                merchant_id=merchant_id,
                reference=reference,
            )
        )
        return {"reservation_id": context.key}

    async def release_huabei(context: StepContext) -> JsonObject:
        order = order_of(context)
        if not order.huabei.fen:
            return SKIPPED
        await loan.release_huabei(
            lpb.ReleaseHuabeiRequest(
                idempotency_key=context.compensation_key,
                reservation_id=context.key,
                borrower_id=order.payer_account_id,
            )
        )
        return {}

    async def credit_from_huabei(context: StepContext) -> JsonObject:
        order = order_of(context)
        if not order.huabei.fen:
            return SKIPPED
        reservation_id = context.key_of(RESERVE_HUABEI)
        posting_id = await loan_ledger.lend(
            huabei_key(reservation_id),
            HUABEI_ACCOUNT_ID,
            order.payer_account_id,
            order.huabei,
            reference=reservation_id,
        )
        return {"posting_id": posting_id}

    async def debit_huabei_back(context: StepContext) -> JsonObject:
        order = order_of(context)
        if not order.huabei.fen:
            return SKIPPED
        reservation_id = context.key_of(RESERVE_HUABEI)
        reversed_ = await loan_ledger.undo_lend(
            huabei_key(reservation_id),
            from_account_id=HUABEI_ACCOUNT_ID,
            to_account_id=order.payer_account_id,
            amount=order.huabei,
            reference=reservation_id,
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    async def capture_huabei(context: StepContext) -> JsonObject:
        if not order_of(context).huabei.fen:
            return SKIPPED
        await loan.capture_huabei(
            lpb.CaptureHuabeiRequest(
                idempotency_key=context.key,
                reservation_id=context.key_of(RESERVE_HUABEI),
                payment_posting_id=context.results[CREDIT_FROM_HUABEI]["posting_id"],
            )
        )
        return {}

    async def pay(context: StepContext) -> JsonObject:
        order = order_of(context)
        return await order.target.pay(payment, order, context.key)

    async def mark_payout_paid(context: StepContext) -> JsonObject:
        if not order_of(context).yuebao.fen:
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
        order = WalletPaymentInput.from_json(saga_input)
        paid = results[PAY]
        return {
            "target": order.target.KIND,
            "amount": money_json(order.amount),
            "funding": [
                {"method": method.value, "amount": money_json(Money(fen, order.amount.currency))}
                for method, fen in order.funding
            ],
            "posting_id": paid["posting_id"],
            "paid_at": paid["paid_at"],
            **order.target.answer(paid),
        }

    return SagaDefinition(
        name=WALLET_PAYMENT,
        summary="Pay a trade, a bill or a payment code from the balance, Yu'e Bao (redeemed "
        "fast first) and/or Huabei (drawn on the credit line first)",
        steps=(
            Step(
                REDEEM_SHARES, redeem_shares, compensation=cancel_shares_redemption, skip=no_yuebao
            ),
            Step(CREDIT_BALANCE, credit_balance, compensation=debit_balance_back, skip=no_yuebao),
            Step(RESERVE_HUABEI, reserve_huabei, compensation=release_huabei, skip=no_huabei),
            Step(
                CREDIT_FROM_HUABEI,
                credit_from_huabei,
                compensation=debit_huabei_back,
                skip=no_huabei,
            ),
            Step(PAY, pay, compensation=RETRY_FORWARD),
            Step(MARK_PAYOUT_PAID, mark_payout_paid, compensation=RETRY_FORWARD, skip=no_yuebao),
            Step(CAPTURE_HUABEI, capture_huabei, compensation=RETRY_FORWARD, skip=no_huabei),
        ),
        outcome=outcome,
    )
