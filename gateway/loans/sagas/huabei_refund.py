"""A refund of a Huabei-paid trade goes back to the line (docs/loans.md "Refunds").

The merchant's (or the platform's) refund decision pays the refund from escrow into the
buyer's balance, like any refund: the Huabei money was first moved into that balance and
paid from there. gateway.loans.refunds sees the decision on the payment feed and starts
this saga for the refund's Huabei share (the Huabei part of a mixed payment is refunded
first), keyed by the refund: ``trade:<trade id>:refunded:<refunded total after it>``.

1. ``size_refund``: the purchase must be captured (retried until it is: its payment saga
   captures it forward); the amount taken back is the share, or less if the buyer's
   balance no longer holds it all (the buyer spent the refund): what the balance cannot
   give stays owed on the line and is billed as usual. Recorded before anything moves, so
   a replay after a crash takes the same amount. Reads only (its undo does nothing).
2. ``hold``: a hold of that amount on the buyer's balance; undone by VoidHold (a refusal,
   the buyer spending the money between 1 and 2, undoes the saga: nothing moved, the
   refund stays in the balance and the line owes it).
3. ``capture`` (retried forward): the hold captured into platform:loan:huabei.
4. ``refund_on_line`` (retried forward): RefundHuabeiPurchase with the capture's posting:
   the line's used part falls by the amount, and the purchase's bill (or, if that one is
   paid, the latest open bill; else credit for the next bill) is reduced.

With nothing to take back (the balance is empty) steps 2-4 do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chassis.errors import Unavailable
from chassis.money import Money
from colony.loan.v1 import loan_pb2 as lpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import LoanClient, PaymentClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.loans.ledger import HUABEI_ACCOUNT_ID
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

HUABEI_REFUND = "huabei_refund"
SIZE_REFUND = "size_refund"
HOLD = "hold"
CAPTURE = "capture"
REFUND_ON_LINE = "refund_on_line"
SKIPPED: JsonObject = {"skipped": True}
MEMO = "Huabei refund returned to the line"
VOID_REASON = "Huabei refund undone"


def trade_reference(trade_id: str) -> str:
    """How a Huabei purchase names the trade it paid (wallet_payment's TradeTarget.payee)."""
    return f"trade:{trade_id}"


def huabei_share_fen(huabei_fen: int, refunded_before_fen: int, refunded_after_fen: int) -> int:
    """The Huabei part of a refund taking a trade's refunds from before to after.

    The Huabei part is refunded first: of a trade's refunds totalling R, min(H, R) belongs
    to the line (H: what Huabei paid), so this refund's share is the growth of that.
    """
    return min(huabei_fen, refunded_after_fen) - min(huabei_fen, refunded_before_fen)


@dataclass(frozen=True, slots=True)
class HuabeiRefund:
    """One refund decision's Huabei share, as the saga log stores it."""

    trade_id: str
    buyer_account_id: str
    purchase_id: str
    refunded_before_fen: int
    refunded_after_fen: int
    share: Money

    @property
    def refund_id(self) -> str:
        return f"{trade_reference(self.trade_id)}:refunded:{self.refunded_after_fen}"

    def to_json(self) -> JsonObject:
        return {
            "trade_id": self.trade_id,
            "buyer_account_id": self.buyer_account_id,
            "purchase_id": self.purchase_id,
            "refunded_before_fen": self.refunded_before_fen,
            "refunded_after_fen": self.refunded_after_fen,
            "share_fen": self.share.fen,
            "currency": self.share.currency,
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> HuabeiRefund:
        return cls(
            trade_id=stored["trade_id"],
            buyer_account_id=stored["buyer_account_id"],
            purchase_id=stored["purchase_id"],
            refunded_before_fen=int(stored["refunded_before_fen"]),
            refunded_after_fen=int(stored["refunded_after_fen"]),
            share=Money(int(stored["share_fen"]), str(stored["currency"])),
        )


def huabei_refund_saga(payment: PaymentClient, loan: LoanClient) -> SagaDefinition:
    def refund_of(context: StepContext) -> HuabeiRefund:
        return HuabeiRefund.from_json(context.input)

    def amount_of(context: StepContext) -> Money:
        refund = refund_of(context)
        return Money(int(context.results[SIZE_REFUND]["amount_fen"]), refund.share.currency)

    async def size_refund(context: StepContext) -> JsonObject:
        refund = refund_of(context)
        purchase = (
            await loan.find_huabei_purchase(
                lpb.FindHuabeiPurchaseRequest(
                    borrower_id=refund.buyer_account_id,
                    reference=trade_reference(refund.trade_id),
                )
            )
        ).purchase
        if purchase.state != lpb.HUABEI_PURCHASE_STATE_CAPTURED:
            # Its payment saga captures it forward: try again later.
            raise Unavailable(
                f"Huabei purchase {purchase.purchase_id} is not captured yet",
                metadata={"purchase_id": purchase.purchase_id},
            )
        account = await payment.get_account(refund.buyer_account_id)
        amount_fen = max(0, min(refund.share.fen, account.available.amount_fen))
        return {"amount_fen": amount_fen}

    async def nothing_to_undo(context: StepContext) -> JsonObject:
        return {}

    async def hold(context: StepContext) -> JsonObject:
        amount = amount_of(context)
        if not amount.fen:
            return SKIPPED
        await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.key,
                account_id=refund_of(context).buyer_account_id,
                amount=money_to_proto(amount),
                memo=MEMO,
            )
        )
        return {}

    async def release(context: StepContext) -> JsonObject:
        if SIZE_REFUND in context.results and not amount_of(context).fen:
            return SKIPPED
        await payment.void_hold(pb.VoidHoldRequest(hold_id=context.key, reason=VOID_REASON))
        return {}

    async def capture(context: StepContext) -> JsonObject:
        if not amount_of(context).fen:
            return SKIPPED
        response = await payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=context.key_of(HOLD), credit_account_id=HUABEI_ACCOUNT_ID, memo=MEMO
            )
        )
        return {"posting_id": response.posting.posting_id}

    async def refund_on_line(context: StepContext) -> JsonObject:
        amount = amount_of(context)
        if not amount.fen:
            return SKIPPED
        refund = refund_of(context)
        response = await loan.refund_huabei_purchase(
            lpb.RefundHuabeiPurchaseRequest(
                idempotency_key=context.key,
                refund_id=refund.refund_id,
                purchase_id=refund.purchase_id,
                amount=money_to_proto(amount),
                payment_posting_id=context.results[CAPTURE]["posting_id"],
            )
        )
        return {
            "bill_id": response.bill_id,
            "applied_to_bill_fen": response.applied_to_bill.amount_fen,
            "credited_fen": response.credited.amount_fen,
        }

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        refund = HuabeiRefund.from_json(saga_input)
        returned = Money(int(results[SIZE_REFUND]["amount_fen"]), refund.share.currency)
        line = results[REFUND_ON_LINE]
        return {
            "trade_id": refund.trade_id,
            "huabei_share": money_json(refund.share),
            "returned_to_line": money_json(returned),
            "kept_in_balance": money_json(refund.share - returned),
            "bill_id": line.get("bill_id", ""),
        }

    return SagaDefinition(
        name=HUABEI_REFUND,
        summary="Return the Huabei share of a trade's refund from the buyer's balance to the "
        "Huabei line (reducing the bill)",
        steps=(
            Step(SIZE_REFUND, size_refund, compensation=nothing_to_undo),
            Step(HOLD, hold, compensation=release),
            Step(CAPTURE, capture, compensation=RETRY_FORWARD),
            Step(REFUND_ON_LINE, refund_on_line, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
