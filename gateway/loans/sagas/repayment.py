"""A repayment (还款), manual or the auto-debit: from the balance (and Yu'e Bao) into the
loan ledger account the loan service names.

1. ``try_repayment``: TryRepayment (reserves against the payoff: concurrent repayments
   never together exceed it; overpayment is refused, REPAYMENT_EXCEEDS_OWED); undone by
   CancelRepayment (first: a tombstone).
2. ``redeem_shares`` and 3. ``credit_balance``: a Yu'e Bao part redeemed fast and paid into
   the balance, as wallet pay does (gateway.payment.sagas.wallet_payment).
4. ``hold``: a hold of the whole amount on the borrower's balance; undone by VoidHold.
5. ``capture`` (retried forward): the hold captured into the loan ledger account.
6. ``mark_payout_paid`` (retried forward): the Yu'e Bao payout marked paid.
7. ``confirm_repayment`` (retried forward): ConfirmRepayment with the capture's posting:
   applied by the waterfall (penalty, fee, interest, principal; oldest period first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.loan.v1 import loan_pb2 as lpb
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import LoanClient, PaymentClient, WealthClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.payment.methods import Funding, PaymentMethod
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext
from gateway.wealth.ledger import YUEBAO_OMNIBUS_ACCOUNT_ID, WealthLedger
from gateway.wealth.sagas.yuebao_redemption import cancel_redemption_step, fast_payout_of

LOAN_REPAYMENT = "loan_repayment"
TRY_REPAYMENT = "try_repayment"
REDEEM_SHARES = "redeem_shares"
CREDIT_BALANCE = "credit_balance"
HOLD = "hold"
CAPTURE = "capture"
MARK_PAYOUT_PAID = "mark_payout_paid"
CONFIRM_REPAYMENT = "confirm_repayment"
SKIPPED: JsonObject = {"skipped": True}
MEMO = "loan repayment"
VOID_REASON = "loan repayment undone"


def repayment_input(
    *,
    repayment_id: str,
    borrower_account_id: str,
    target: lpb.RepaymentTarget.ValueType,
    account_id: str,
    ledger_account_id: str,
    amount: Money,
    funding: Funding,
    automatic: bool = False,
) -> JsonObject:
    """The saga's input as the log stores it."""
    return {
        "repayment_id": repayment_id,
        "borrower_account_id": borrower_account_id,
        "target": lpb.RepaymentTarget.Name(target),
        "account_id": account_id,
        "ledger_account_id": ledger_account_id,
        "amount_fen": amount.fen,
        "currency": amount.currency,
        "funding": [[method.value, fen] for method, fen in funding.parts],
        "automatic": automatic,
    }


def _amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]), str(saga_input["currency"]))


def _yuebao(saga_input: Mapping[str, Any]) -> Money:
    fen = sum(int(f) for method, f in saga_input["funding"] if method == PaymentMethod.YUEBAO)
    return Money(fen, str(saga_input["currency"]))


def loan_repayment_saga(
    payment: PaymentClient, wealth: WealthClient, ledger: WealthLedger, loan: LoanClient
) -> SagaDefinition:
    def payout_id_of(context: StepContext) -> str:
        return str(context.results[REDEEM_SHARES]["payout_id"])

    async def try_repayment(context: StepContext) -> JsonObject:
        saga_input = context.input
        response = await loan.try_repayment(
            lpb.TryRepaymentRequest(
                idempotency_key=context.key,
                repayment_id=saga_input["repayment_id"],
                target=lpb.RepaymentTarget.Value(saga_input["target"]),
                account_id=saga_input["account_id"],
                amount=money_to_proto(_amount(saga_input)),
                automatic=bool(saga_input.get("automatic", False)),
            )
        )
        return {"state": lpb.RepaymentState.Name(response.repayment.state)}

    async def cancel_repayment(context: StepContext) -> JsonObject:
        await loan.cancel_repayment(
            lpb.CancelRepaymentRequest(
                idempotency_key=context.compensation_key,
                repayment_id=context.input["repayment_id"],
            )
        )
        return {}

    async def redeem_shares(context: StepContext) -> JsonObject:
        yuebao = _yuebao(context.input)
        if not yuebao.fen:
            return SKIPPED
        response = await wealth.redeem_shares(
            wpb.RedeemSharesRequest(
                idempotency_key=context.key,
                redemption_id=context.key,
                investor_id=context.input["borrower_account_id"],
                amount=money_to_proto(yuebao),
                mode=wpb.REDEMPTION_MODE_FAST_ONLY,
            )
        )
        fast = fast_payout_of(response.redemption)
        assert fast is not None and fast.amount.amount_fen == yuebao.fen, response
        return {"payout_id": fast.payout_id}

    cancel_redemption = cancel_redemption_step(wealth)

    async def cancel_shares_redemption(context: StepContext) -> JsonObject:
        if not _yuebao(context.input).fen:
            return SKIPPED
        return await cancel_redemption(context)

    async def credit_balance(context: StepContext) -> JsonObject:
        yuebao = _yuebao(context.input)
        if not yuebao.fen:
            return SKIPPED
        posting_id = await ledger.post_payout(
            payout_id_of(context),
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            context.input["borrower_account_id"],
            yuebao,
        )
        return {"posting_id": posting_id}

    async def debit_balance_back(context: StepContext) -> JsonObject:
        yuebao = _yuebao(context.input)
        if not yuebao.fen:
            return SKIPPED
        reversed_ = await ledger.undo_payout(
            payout_id_of(context),
            YUEBAO_OMNIBUS_ACCOUNT_ID,
            context.input["borrower_account_id"],
            yuebao,
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    async def hold(context: StepContext) -> JsonObject:
        await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.key,
                account_id=context.input["borrower_account_id"],
                amount=money_to_proto(_amount(context.input)),
                memo=MEMO,
            )
        )
        return {}

    async def release(context: StepContext) -> JsonObject:
        await payment.void_hold(pb.VoidHoldRequest(hold_id=context.key, reason=VOID_REASON))
        return {}

    async def capture(context: StepContext) -> JsonObject:
        response = await payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=context.key_of(HOLD),
                credit_account_id=context.input["ledger_account_id"],
                memo=MEMO,
            )
        )
        return {"posting_id": response.posting.posting_id}

    async def mark_payout_paid(context: StepContext) -> JsonObject:
        if not _yuebao(context.input).fen:
            return SKIPPED
        await wealth.mark_payout_paid(
            wpb.MarkPayoutPaidRequest(
                idempotency_key=context.key,
                payout_id=payout_id_of(context),
                payment_posting_id=context.results[CREDIT_BALANCE]["posting_id"],
            )
        )
        return {}

    async def confirm_repayment(context: StepContext) -> JsonObject:
        response = await loan.confirm_repayment(
            lpb.ConfirmRepaymentRequest(
                idempotency_key=context.key,
                repayment_id=context.input["repayment_id"],
                payment_posting_id=context.results[CAPTURE]["posting_id"],
            )
        )
        applied = response.repayment.applied
        return {
            "applied": {
                name: getattr(applied, name).amount_fen
                for name in ("penalty", "fee", "interest", "principal")
            },
            "credit_fen": response.repayment.credit.amount_fen,
        }

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        amount = _amount(saga_input)
        confirmed = results[CONFIRM_REPAYMENT]
        return {
            "repayment_id": saga_input["repayment_id"],
            "target": saga_input["target"].removeprefix("REPAYMENT_TARGET_").lower(),
            "account_id": saga_input["account_id"],
            "amount": money_json(amount),
            "funding": [
                {"method": method, "amount": money_json(Money(int(fen), amount.currency))}
                for method, fen in saga_input["funding"]
            ],
            "applied": {
                name: money_json(Money(int(fen), amount.currency))
                for name, fen in confirmed["applied"].items()
            },
            "credit": money_json(Money(int(confirmed["credit_fen"]), amount.currency)),
            "posting_id": results[CAPTURE]["posting_id"],
        }

    return SagaDefinition(
        name=LOAN_REPAYMENT,
        summary="Repay a Huabei bill, an installment plan or a cash loan from the balance "
        "and/or Yu'e Bao (redeemed fast first)",
        steps=(
            Step(TRY_REPAYMENT, try_repayment, compensation=cancel_repayment),
            Step(REDEEM_SHARES, redeem_shares, compensation=cancel_shares_redemption),
            Step(CREDIT_BALANCE, credit_balance, compensation=debit_balance_back),
            Step(HOLD, hold, compensation=release),
            Step(CAPTURE, capture, compensation=RETRY_FORWARD),
            Step(MARK_PAYOUT_PAID, mark_payout_paid, compensation=RETRY_FORWARD),
            Step(CONFIRM_REPAYMENT, confirm_repayment, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
