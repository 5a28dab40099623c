"""The cash-loan (借呗) disbursement: decide, lend into the balance, start the loan.

1. ``apply``: ApplyCashLoan with the credit advice the route fetched (the "310" decision:
   APPROVED, awaiting disbursement, or DECLINED with its reasons). A declined loan ends the
   saga completed, every later step skipped: the answer is the decision. Undone by
   CancelCashLoan (the approval lapses).
2. ``disburse``: a PlatformTransfer from platform:loan:cash_loan into the borrower's balance,
   keyed "loan-disburse:<loan id>"; undone like a payout (replayed, then taken back).
3. ``confirm_disbursement`` (retried forward): ConfirmDisbursement with the posting: the loan
   starts, its schedule from today.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from chassis.money import Money
from colony.credit.v1 import credit_pb2 as cpb
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import LoanClient
from gateway.edge.representations import money_to_proto
from gateway.loans.ledger import CASH_LOAN_ACCOUNT_ID, LoanLedger, disbursement_key
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

CASH_LOAN_DISBURSEMENT = "cash_loan_disbursement"
APPLY = "apply"
DISBURSE = "disburse"
CONFIRM_DISBURSEMENT = "confirm_disbursement"
SKIPPED: JsonObject = {"skipped": True}


def cash_loan_input(
    *,
    loan_id: str,
    borrower_account_id: str,
    amount: Money,
    term_months: int,
    method: lpb.RepaymentMethod.ValueType,
    advice: cpb.CreditLimitAdvice,
) -> JsonObject:
    """The saga's input as the log stores it (the advice as its proto JSON)."""
    return {
        "loan_id": loan_id,
        "borrower_account_id": borrower_account_id,
        "amount_fen": amount.fen,
        "currency": amount.currency,
        "term_months": term_months,
        "method": lpb.RepaymentMethod.Name(method),
        "advice": json_format.MessageToDict(advice, preserving_proto_field_name=True),
    }


def _amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]), str(saga_input["currency"]))


def cash_loan_disbursement_saga(loan: LoanClient, ledger: LoanLedger) -> SagaDefinition:
    def approved(context: StepContext) -> bool:
        return bool(context.results[APPLY].get("approved"))

    async def apply(context: StepContext) -> JsonObject:
        saga_input = context.input
        response = await loan.apply_cash_loan(
            lpb.ApplyCashLoanRequest(
                idempotency_key=context.key,
                loan_id=saga_input["loan_id"],
                borrower_id=saga_input["borrower_account_id"],
                amount=money_to_proto(_amount(saga_input)),
                term_months=int(saga_input["term_months"]),
                method=lpb.RepaymentMethod.Value(saga_input["method"]),
                advice=json_format.ParseDict(saga_input["advice"], cpb.CreditLimitAdvice()),
            )
        )
        return {
            "approved": response.loan.state == lpb.CASH_LOAN_STATE_PENDING_DISBURSEMENT,
            "state": lpb.CashLoanState.Name(response.loan.state),
        }

    async def cancel(context: StepContext) -> JsonObject:
        await loan.cancel_cash_loan(
            lpb.CancelCashLoanRequest(
                idempotency_key=context.compensation_key, loan_id=context.input["loan_id"]
            )
        )
        return {}

    async def disburse(context: StepContext) -> JsonObject:
        if not approved(context):
            return SKIPPED
        loan_id = context.input["loan_id"]
        posting_id = await ledger.lend(
            disbursement_key(loan_id),
            CASH_LOAN_ACCOUNT_ID,
            context.input["borrower_account_id"],
            _amount(context.input),
            reference=loan_id,
        )
        return {"posting_id": posting_id}

    async def take_back(context: StepContext) -> JsonObject:
        if not approved(context):
            return SKIPPED
        loan_id = context.input["loan_id"]
        reversed_ = await ledger.undo_lend(
            disbursement_key(loan_id),
            from_account_id=CASH_LOAN_ACCOUNT_ID,
            to_account_id=context.input["borrower_account_id"],
            amount=_amount(context.input),
            reference=loan_id,
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    async def confirm_disbursement(context: StepContext) -> JsonObject:
        if not approved(context):
            return SKIPPED
        await loan.confirm_disbursement(
            lpb.ConfirmDisbursementRequest(
                idempotency_key=context.key,
                loan_id=context.input["loan_id"],
                payment_posting_id=context.results[DISBURSE]["posting_id"],
            )
        )
        return {}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        disbursed = results[DISBURSE]
        return {
            "loan_id": saga_input["loan_id"],
            "decision": "approved" if results[APPLY].get("approved") else "declined",
            "posting_id": disbursed.get("posting_id", ""),
        }

    return SagaDefinition(
        name=CASH_LOAN_DISBURSEMENT,
        summary="Apply for a cash loan and, approved, disburse it into the balance",
        steps=(
            Step(APPLY, apply, compensation=cancel),
            Step(DISBURSE, disburse, compensation=take_back),
            Step(CONFIRM_DISBURSEMENT, confirm_disbursement, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
