"""Bringing a payer's Yu'e Bao and Huabei parts into their balance before a saga pays.

The same steps, keys and ledger mechanics as wallet pay (gateway.payment.sagas.wallet_payment;
docs/api.md "Wallet pay"), for a saga that then pays from the balance by hold and capture
(the insurance premium):

- ``redeem_shares`` / ``credit_balance``: the Yu'e Bao part redeemed fast (FAST_ONLY) and
  paid into the balance; undone by CancelRedemption and by taking the payout back;
- ``reserve_huabei`` / ``credit_from_huabei``: the Huabei part reserved on the line and lent
  into the balance ("loan-huabei:<reservation id>"); undone by ReleaseHuabei and by taking
  the loan back;
- after the payment (retried forward): ``mark_payout_paid`` and ``capture_huabei``.

A saga input using them carries ``payer_account_id``, ``currency``, ``funding`` (pairs of
method and fen, as WalletPaymentInput stores them) and ``huabei_reference`` (what the Huabei
purchase names as paid). Without a Yu'e Bao or Huabei part their steps do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chassis.money import Money
from colony.loan.v1 import loan_pb2 as lpb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import LoanClient, WealthClient
from gateway.edge.representations import money_to_proto
from gateway.loans.ledger import HUABEI_ACCOUNT_ID, LoanLedger, huabei_key
from gateway.payment.methods import Funding, PaymentMethod
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, Step, StepContext
from gateway.wealth.ledger import YUEBAO_OMNIBUS_ACCOUNT_ID, WealthLedger
from gateway.wealth.sagas.yuebao_redemption import cancel_redemption_step, fast_payout_of

REDEEM_SHARES = "redeem_shares"
CREDIT_BALANCE = "credit_balance"
RESERVE_HUABEI = "reserve_huabei"
CREDIT_FROM_HUABEI = "credit_from_huabei"
MARK_PAYOUT_PAID = "mark_payout_paid"
CAPTURE_HUABEI = "capture_huabei"
SKIPPED: JsonObject = {"skipped": True}


def funding_json(funding: Funding) -> list[list[Any]]:
    """The saga log's form of the plan (as WalletPaymentInput stores it)."""
    return [[method.value, fen] for method, fen in funding.parts]


def part_of(saga_input: Mapping[str, Any], method: PaymentMethod) -> Money:
    """What one method pays, from the saga input's funding."""
    fen = sum(int(f) for name, f in saga_input["funding"] if name == method.value)
    return Money(fen, str(saga_input["currency"]))


@dataclass(frozen=True, slots=True)
class FundingSteps:
    """The Yu'e Bao and Huabei steps, over the clients and ledgers they call."""

    wealth: WealthClient
    ledger: WealthLedger
    loan: LoanClient
    loan_ledger: LoanLedger

    def before_payment(self) -> tuple[Step, ...]:
        """The four steps that bring the money into the balance (each with its undo)."""
        return (
            Step(REDEEM_SHARES, self._redeem_shares, compensation=self._cancel_redemption),
            Step(CREDIT_BALANCE, self._credit_balance, compensation=self._debit_balance_back),
            Step(RESERVE_HUABEI, self._reserve_huabei, compensation=self._release_huabei),
            Step(CREDIT_FROM_HUABEI, self._credit_from_huabei, compensation=self._debit_huabei),
        )

    def after_payment(self) -> tuple[Step, ...]:
        """The two records made once the payment is done (retried forward)."""
        return (
            Step(MARK_PAYOUT_PAID, self._mark_payout_paid, compensation=RETRY_FORWARD),
            Step(CAPTURE_HUABEI, self._capture_huabei, compensation=RETRY_FORWARD),
        )

    async def _redeem_shares(self, context: StepContext) -> JsonObject:
        yuebao = part_of(context.input, PaymentMethod.YUEBAO)
        if not yuebao.fen:
            return SKIPPED
        response = await self.wealth.redeem_shares(
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

    async def _cancel_redemption(self, context: StepContext) -> JsonObject:
        if not part_of(context.input, PaymentMethod.YUEBAO).fen:
            return SKIPPED
        return await cancel_redemption_step(self.wealth)(context)

    async def _credit_balance(self, context: StepContext) -> JsonObject:
        yuebao = part_of(context.input, PaymentMethod.YUEBAO)
        if not yuebao.fen:
            return SKIPPED
        posting_id = await self.ledger.post_payout(
            str(context.results[REDEEM_SHARES]["payout_id"]),
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            context.input["payer_account_id"],
            yuebao,
        )
        return {"posting_id": posting_id}

    async def _debit_balance_back(self, context: StepContext) -> JsonObject:
        yuebao = part_of(context.input, PaymentMethod.YUEBAO)
        if not yuebao.fen:
            return SKIPPED
        reversed_ = await self.ledger.undo_payout(
            str(context.results[REDEEM_SHARES]["payout_id"]),
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            context.input["payer_account_id"],
            yuebao,
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    async def _reserve_huabei(self, context: StepContext) -> JsonObject:
        huabei = part_of(context.input, PaymentMethod.HUABEI)
        if not huabei.fen:
            return SKIPPED
        await self.loan.reserve_huabei(
            lpb.ReserveHuabeiRequest(
                idempotency_key=context.key,
                reservation_id=context.key,
                borrower_id=context.input["payer_account_id"],
                amount=money_to_proto(huabei),
                merchant_id="",
                reference=str(context.input["huabei_reference"]),
            )
        )
        return {"reservation_id": context.key}

    async def _release_huabei(self, context: StepContext) -> JsonObject:
        if not part_of(context.input, PaymentMethod.HUABEI).fen:
            return SKIPPED
        await self.loan.release_huabei(
            lpb.ReleaseHuabeiRequest(
                idempotency_key=context.compensation_key,
                reservation_id=context.key,
                borrower_id=context.input["payer_account_id"],
            )
        )
        return {}

    async def _credit_from_huabei(self, context: StepContext) -> JsonObject:
        huabei = part_of(context.input, PaymentMethod.HUABEI)
        if not huabei.fen:
            return SKIPPED
        reservation_id = context.key_of(RESERVE_HUABEI)
        posting_id = await self.loan_ledger.lend(
            huabei_key(reservation_id),
            HUABEI_ACCOUNT_ID,
            context.input["payer_account_id"],
            huabei,
            reference=reservation_id,
        )
        return {"posting_id": posting_id}

    async def _debit_huabei(self, context: StepContext) -> JsonObject:
        huabei = part_of(context.input, PaymentMethod.HUABEI)
        if not huabei.fen:
            return SKIPPED
        reservation_id = context.key_of(RESERVE_HUABEI)
        reversed_ = await self.loan_ledger.undo_lend(
            huabei_key(reservation_id),
            from_account_id=HUABEI_ACCOUNT_ID,
            to_account_id=context.input["payer_account_id"],
            amount=huabei,
            reference=reservation_id,
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    async def _mark_payout_paid(self, context: StepContext) -> JsonObject:
        if not part_of(context.input, PaymentMethod.YUEBAO).fen:
            return SKIPPED
        await self.wealth.mark_payout_paid(
            wpb.MarkPayoutPaidRequest(
                idempotency_key=context.key,
                payout_id=str(context.results[REDEEM_SHARES]["payout_id"]),
                payment_posting_id=context.results[CREDIT_BALANCE]["posting_id"],
            )
        )
        return {}

    async def _capture_huabei(self, context: StepContext) -> JsonObject:
        if not part_of(context.input, PaymentMethod.HUABEI).fen:
            return SKIPPED
        await self.loan.capture_huabei(
            lpb.CaptureHuabeiRequest(
                idempotency_key=context.key,
                reservation_id=context.key_of(RESERVE_HUABEI),
                payment_posting_id=context.results[CREDIT_FROM_HUABEI]["posting_id"],
            )
        )
        return {}
