"""Merchant lending's sagas: a payout (a facility's fixed part, or a revolving draw) and a
repayment (docs/loans.md "Merchant lending"; the steps are colony.loan.v1's
merchant_lending.proto header).

merchant_loan_payout:
1. ``decide``: ApplyFacility (the credit decision from the merchant's figures and the
   capacity check; DECLINED ends the saga completed, every later step skipped) or TryDraw
   (the revolving part and the capacity reserved). Undone by CancelFacility / CancelDraw
   (first: a tombstone).
2. ``pay_out``: PlatformTransfer platform:loan:capital → the merchant's balance, keyed
   "loan-facility:<id>" / "loan-draw:<id>"; undone by replaying it and taking it back.
3. ``confirm`` (retried forward): ConfirmFacilityDisbursement / ConfirmDraw with the posting.

merchant_loan_repayment:
1. ``try_repayment``: TryFacilityRepayment (at most what the part owes); undone by
   CancelFacilityRepayment.
2. ``hold``: a hold on the merchant's balance; undone by VoidHold.
3. ``capture`` (retried forward): captured into platform:loan:capital.
4. ``confirm_repayment`` (retried forward): ConfirmFacilityRepayment with the posting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from chassis.money import Money
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.clients.withholding import WithholdingClient
from gateway.edge.representations import money_to_proto
from gateway.loans.merchant.abs_sagas import AbsSagas, abs_sagas
from gateway.loans.merchant.funding import FundingAccounts, funding_saga
from gateway.loans.merchant.ledger import (
    DRAW_KEY_PREFIX,
    FACILITY_KEY_PREFIX,
    MerchantLoanLedger,
)
from gateway.loans.merchant.order_loans import order_loan_saga
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

MERCHANT_LOAN_PAYOUT = "merchant_loan_payout"
MERCHANT_LOAN_REPAYMENT = "merchant_loan_repayment"
DECIDE = "decide"
PAY_OUT = "pay_out"
CONFIRM = "confirm"
TRY_REPAYMENT = "try_repayment"
HOLD = "hold"
CAPTURE = "capture"
CONFIRM_REPAYMENT = "confirm_repayment"
SKIPPED: JsonObject = {"skipped": True}
FACILITY = "facility"
DRAW = "draw"
REPAYMENT_MEMO = "merchant loan repayment"
VOID_REASON = "merchant loan repayment undone"


def facility_input(
    *,
    facility_id: str,
    merchant_id: str,
    amount: Money,
    fixed: Money,
    figures: mpb.MerchantFigures,
) -> JsonObject:
    return {
        "kind": FACILITY,
        "id": facility_id,
        "facility_id": facility_id,
        "merchant_id": merchant_id,
        "facility_amount_fen": amount.fen,
        "amount_fen": fixed.fen,
        "figures": json_format.MessageToDict(figures, preserving_proto_field_name=True),
    }


def draw_input(*, draw_id: str, facility_id: str, merchant_id: str, amount: Money) -> JsonObject:
    return {
        "kind": DRAW,
        "id": draw_id,
        "facility_id": facility_id,
        "merchant_id": merchant_id,
        "amount_fen": amount.fen,
    }


def repayment_input(
    *, repayment_id: str, facility_id: str, merchant_id: str, part: str, amount: Money
) -> JsonObject:
    return {
        "repayment_id": repayment_id,
        "facility_id": facility_id,
        "merchant_id": merchant_id,
        "part": part,
        "amount_fen": amount.fen,
    }


def _amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]))


def _payout_key(saga_input: Mapping[str, Any]) -> str:
    prefix = FACILITY_KEY_PREFIX if saga_input["kind"] == FACILITY else DRAW_KEY_PREFIX
    return prefix + str(saga_input["id"])


def payout_saga(lending: MerchantLendingClient, ledger: MerchantLoanLedger) -> SagaDefinition:
    def approved(context: StepContext) -> bool:
        return bool(context.results[DECIDE].get("approved"))

    async def decide(context: StepContext) -> JsonObject:
        given = context.input
        if given["kind"] == FACILITY:
            response = await lending.apply_facility(
                mpb.ApplyFacilityRequest(
                    idempotency_key=context.key,
                    facility_id=given["id"],
                    merchant_id=given["merchant_id"],
                    amount=money_to_proto(Money(int(given["facility_amount_fen"]))),
                    fixed_amount=money_to_proto(_amount(given)),
                    figures=json_format.ParseDict(given["figures"], mpb.MerchantFigures()),
                )
            )
            state = response.facility.state
            return {
                "approved": state == mpb.FACILITY_STATE_PENDING_DISBURSEMENT,
                "state": mpb.FacilityState.Name(state),
            }
        await lending.try_draw(
            mpb.TryDrawRequest(
                idempotency_key=context.key,
                draw_id=given["id"],
                facility_id=given["facility_id"],
                amount=money_to_proto(_amount(given)),
            )
        )
        return {"approved": True}

    async def undecide(context: StepContext) -> JsonObject:
        given = context.input
        if given["kind"] == FACILITY:
            await lending.cancel_facility(
                mpb.CancelFacilityRequest(
                    idempotency_key=context.compensation_key, facility_id=given["id"]
                )
            )
        else:
            await lending.cancel_draw(
                mpb.CancelDrawRequest(idempotency_key=context.compensation_key, draw_id=given["id"])
            )
        return {}

    async def pay_out(context: StepContext) -> JsonObject:
        if not approved(context):
            return SKIPPED
        given = context.input
        posting_id = await ledger.lend(
            _payout_key(given), given["merchant_id"], _amount(given), reference=given["id"]
        )
        return {"posting_id": posting_id}

    async def take_back(context: StepContext) -> JsonObject:
        if not approved(context):
            return SKIPPED
        given = context.input
        reversed_ = await ledger.undo_lend(
            _payout_key(given),
            given["merchant_id"],
            _amount(given),
            reference=given["id"],
            reversal_key=context.compensation_key,
        )
        return {"reversed": reversed_}

    async def confirm(context: StepContext) -> JsonObject:
        if not approved(context):
            return SKIPPED
        given = context.input
        posting_id = context.results[PAY_OUT]["posting_id"]
        if given["kind"] == FACILITY:
            await lending.confirm_facility_disbursement(
                mpb.ConfirmFacilityDisbursementRequest(
                    idempotency_key=context.key,
                    facility_id=given["id"],
                    payment_posting_id=posting_id,
                )
            )
        else:
            await lending.confirm_draw(
                mpb.ConfirmDrawRequest(
                    idempotency_key=context.key, draw_id=given["id"], payment_posting_id=posting_id
                )
            )
        return {}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        decided = results[DECIDE]
        return {
            saga_input["kind"] + "_id": saga_input["id"],
            "facility_id": saga_input["facility_id"],
            "decision": "approved" if decided.get("approved") else "declined",
            "posting_id": results[PAY_OUT].get("posting_id", ""),
        }

    return SagaDefinition(
        name=MERCHANT_LOAN_PAYOUT,
        summary="Decide a merchant facility or a revolving draw and pay it into the balance",
        steps=(
            Step(DECIDE, decide, compensation=undecide),
            Step(PAY_OUT, pay_out, compensation=take_back),
            Step(CONFIRM, confirm, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )


PARTS = {"fixed": mpb.FACILITY_PART_FIXED, "revolving": mpb.FACILITY_PART_REVOLVING}


def repayment_saga(lending: MerchantLendingClient, ledger: MerchantLoanLedger) -> SagaDefinition:
    async def try_repayment(context: StepContext) -> JsonObject:
        given = context.input
        await lending.try_facility_repayment(
            mpb.TryFacilityRepaymentRequest(
                idempotency_key=context.key,
                repayment_id=given["repayment_id"],
                facility_id=given["facility_id"],
                part=PARTS[given["part"]],
                amount=money_to_proto(_amount(given)),
            )
        )
        return {}

    async def cancel_repayment(context: StepContext) -> JsonObject:
        await lending.cancel_facility_repayment(
            mpb.CancelFacilityRepaymentRequest(
                idempotency_key=context.compensation_key,
                repayment_id=context.input["repayment_id"],
            )
        )
        return {}

    async def hold(context: StepContext) -> JsonObject:
        given = context.input
        await ledger.hold(context.key, given["merchant_id"], _amount(given), REPAYMENT_MEMO)
        return {}

    async def release(context: StepContext) -> JsonObject:
        await ledger.void(context.key, VOID_REASON)
        return {}

    async def capture(context: StepContext) -> JsonObject:
        return {"posting_id": await ledger.capture(context.key_of(HOLD), REPAYMENT_MEMO)}

    async def confirm_repayment(context: StepContext) -> JsonObject:
        response = await lending.confirm_facility_repayment(
            mpb.ConfirmFacilityRepaymentRequest(
                idempotency_key=context.key,
                repayment_id=context.input["repayment_id"],
                payment_posting_id=context.results[CAPTURE]["posting_id"],
            )
        )
        applied = response.repayment
        return {
            "interest_fen": applied.interest_applied.amount_fen,
            "principal_fen": applied.principal_applied.amount_fen,
        }

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {
            "repayment_id": saga_input["repayment_id"],
            "facility_id": saga_input["facility_id"],
            "posting_id": results[CAPTURE].get("posting_id", ""),
            **results[CONFIRM_REPAYMENT],
        }

    return SagaDefinition(
        name=MERCHANT_LOAN_REPAYMENT,
        summary="Repay a merchant facility's part from the merchant's balance",
        steps=(
            Step(TRY_REPAYMENT, try_repayment, compensation=cancel_repayment),
            Step(HOLD, hold, compensation=release),
            Step(CAPTURE, capture, compensation=RETRY_FORWARD),
            Step(CONFIRM_REPAYMENT, confirm_repayment, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )


@dataclass(frozen=True, slots=True)
class MerchantSagas:
    payout: SagaDefinition
    repayment: SagaDefinition
    order_loan: SagaDefinition
    funding: SagaDefinition
    abs: AbsSagas

    def all(self) -> tuple[SagaDefinition, ...]:
        return (self.payout, self.repayment, self.order_loan, self.funding, *self.abs.all())


def merchant_lending_sagas(
    lending: MerchantLendingClient,
    ledger: MerchantLoanLedger,
    withholding: WithholdingClient,
    funding: FundingAccounts,
) -> MerchantSagas:
    return MerchantSagas(
        payout_saga(lending, ledger),
        repayment_saga(lending, ledger),
        order_loan_saga(lending, withholding, ledger),
        funding_saga(lending, ledger.payment, funding),
        abs_sagas(lending, ledger),
    )
