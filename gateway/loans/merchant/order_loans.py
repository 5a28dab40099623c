"""Order loans through the gateway: the saga that lends against trades in escrow, and the
job that follows each loan's withholdings (docs/loans.md "Order loans").

merchant_order_loan saga (loan_id chosen by the route):
1. ``decide``: ApplyOrderLoan (≤ 80% of the trades in escrow, none pledged twice, the
   capacity); undone by CancelOrderLoan (first: a tombstone).
2. ``withhold``: SetWithholding on each trade (withholding id "<loan>:<trade>", into
   platform:loan:capital) with caps covering the loan and ORDER_LOAN_DAYS of interest, in trade
   order: each trade's settlement then pays the loan before the merchant, in the settlement's
   own transaction; undone by ReleaseWithholding.
3. ``pay_out``: PlatformTransfer platform:loan:capital → the merchant ("loan-order:<id>");
   undone by replaying it and taking it back.
4. ``confirm`` (retried forward): ConfirmOrderLoanDisbursement.

The job (OrderLoanJobs.run; POST /v1/admin/jobs/order-loans), for every loan to follow:
each withholding application → ApplyOrderLoanCollection (once per application id); excess
→ PlatformTransfer "loan-order-excess:<application>" then ConfirmOrderLoanExcessReturned;
tied trades refunded or closed → FinishOrderLoanTrades; an overdue loan with no active
merchant-wide instruction → SetWithholding on every later settlement for what is owed
("<loan>:overdue:<n>"); a settled loan → its active instructions released. Every call is
keyed, so the job may stop anywhere and run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Any

from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import withholding_pb2 as wpb
from gateway.clients import PaymentClient
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.clients.withholding import WithholdingClient
from gateway.edge.representations import money_to_proto
from gateway.loans.merchant.abs_jobs import AbsMonthlyJobs
from gateway.loans.merchant.facility_follow import FacilityFollow, FacilityFollowRun
from gateway.loans.merchant.ledger import (
    EXCESS_KEY_PREFIX,
    EXCESS_MEMO,
    ORDER_KEY_PREFIX,
    ORDER_LOAN_ACCOUNT_ID,
    MerchantLoanLedger,
)
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

MERCHANT_ORDER_LOAN = "merchant_order_loan"
DECIDE = "decide"
WITHHOLD = "withhold"
PAY_OUT = "pay_out"
CONFIRM = "confirm"
ORDER_DAILY_RATE = Decimal("0.0005")  # the loan service's rate, for the caps only
ORDER_LOAN_DAYS = 30
FINISHED = (pb.TRADE_STATE_SETTLED, pb.TRADE_STATE_REFUNDED, pb.TRADE_STATE_CLOSED)
ORDER_MEMO = "order loan payout"
JOB_PAGE = 100


def order_loan_input(
    *, loan_id: str, merchant_id: str, amount: Money, trades: list[tuple[str, int]]
) -> JsonObject:
    return {
        "loan_id": loan_id,
        "merchant_id": merchant_id,
        "amount_fen": amount.fen,
        "trades": [[trade_id, fen] for trade_id, fen in trades],
    }


def withholding_caps(amount_fen: int, trades: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Each trade's cap, in order: the loan plus ORDER_LOAN_DAYS of interest, rounded up,
    spread over the trades (a trade at most its amount in escrow)."""
    interest = Decimal(amount_fen) * ORDER_DAILY_RATE * ORDER_LOAN_DAYS
    left = amount_fen + int(interest.to_integral_value(rounding=ROUND_UP))
    caps = []
    for trade_id, in_escrow_fen in trades:
        cap = min(left, in_escrow_fen)
        if cap > 0:
            caps.append((trade_id, cap))
        left -= cap
    return caps


def _trades(saga_input: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [(str(trade_id), int(fen)) for trade_id, fen in saga_input["trades"]]


def order_loan_saga(
    lending: MerchantLendingClient, withholding: WithholdingClient, ledger: MerchantLoanLedger
) -> SagaDefinition:
    async def decide(context: StepContext) -> JsonObject:
        given = context.input
        await lending.apply_order_loan(
            mpb.ApplyOrderLoanRequest(
                idempotency_key=context.key,
                loan_id=given["loan_id"],
                merchant_id=given["merchant_id"],
                amount=money_to_proto(Money(int(given["amount_fen"]))),
                trades=[
                    mpb.PledgedTrade(trade_id=trade_id, in_escrow=money_to_proto(Money(fen)))
                    for trade_id, fen in _trades(given)
                ],
            )
        )
        return {}

    async def cancel(context: StepContext) -> JsonObject:
        await lending.cancel_order_loan(
            mpb.CancelOrderLoanRequest(
                idempotency_key=context.compensation_key, loan_id=context.input["loan_id"]
            )
        )
        return {}

    async def withhold(context: StepContext) -> JsonObject:
        given = context.input
        await ledger.ensure_account()
        caps = withholding_caps(int(given["amount_fen"]), _trades(given))
        for trade_id, cap in caps:
            await withholding.set_withholding(
                wpb.SetWithholdingRequest(
                    idempotency_key=f"{context.key}:{trade_id}",
                    withholding_id=f"{given['loan_id']}:{trade_id}",
                    merchant_account_id=given["merchant_id"],
                    trade_id=trade_id,
                    account_id=ORDER_LOAN_ACCOUNT_ID,
                    reference=given["loan_id"],
                    amount=money_to_proto(Money(cap)),
                )
            )
        return {"caps": [[trade_id, cap] for trade_id, cap in caps]}

    async def release(context: StepContext) -> JsonObject:
        given = context.input
        for trade_id, _ in _trades(given):
            await withholding.release_withholding(
                wpb.ReleaseWithholdingRequest(
                    idempotency_key=f"{context.compensation_key}:{trade_id}",
                    withholding_id=f"{given['loan_id']}:{trade_id}",
                )
            )
        return {}

    async def pay_out(context: StepContext) -> JsonObject:
        given = context.input
        posting_id = await ledger.lend(
            ORDER_KEY_PREFIX + given["loan_id"],
            given["merchant_id"],
            Money(int(given["amount_fen"])),
            given["loan_id"],
            account_id=ORDER_LOAN_ACCOUNT_ID,
            memo=ORDER_MEMO,
        )
        return {"posting_id": posting_id}

    async def take_back(context: StepContext) -> JsonObject:
        given = context.input
        reversed_ = await ledger.undo_lend(
            ORDER_KEY_PREFIX + given["loan_id"],
            given["merchant_id"],
            Money(int(given["amount_fen"])),
            given["loan_id"],
            context.compensation_key,
            account_id=ORDER_LOAN_ACCOUNT_ID,
        )
        return {"reversed": reversed_}

    async def confirm(context: StepContext) -> JsonObject:
        await lending.confirm_order_loan_disbursement(
            mpb.ConfirmOrderLoanDisbursementRequest(
                idempotency_key=context.key,
                loan_id=context.input["loan_id"],
                payment_posting_id=context.results[PAY_OUT]["posting_id"],
            )
        )
        return {}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {
            "loan_id": saga_input["loan_id"],
            "posting_id": results[PAY_OUT].get("posting_id", ""),
            "withholdings": results[WITHHOLD].get("caps", []),
        }

    return SagaDefinition(
        name=MERCHANT_ORDER_LOAN,
        summary="Lend against trades in escrow, repaid by withholding from their settlements",
        steps=(
            Step(DECIDE, decide, compensation=cancel),
            Step(WITHHOLD, withhold, compensation=release),
            Step(PAY_OUT, pay_out, compensation=take_back),
            Step(CONFIRM, confirm, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )


@dataclass
class OrderLoanJobRun(FacilityFollowRun):
    loans: int = 0
    collections: int = 0
    collected_fen: int = 0
    excess_returned_fen: int = 0
    trades_finished: int = 0
    overdue_withholdings: int = 0
    released: int = 0
    abs_periods: int = 0  # ABS pools' monthly pass-throughs (abs_jobs.py)


class OrderLoanJobs:
    """Follows every open order loan's withholdings (see the module docstring)."""

    def __init__(
        self,
        lending: MerchantLendingClient,
        withholding: WithholdingClient,
        payment: PaymentClient,
        ledger: MerchantLoanLedger,
    ) -> None:
        self._lending = lending
        self._withholding = withholding
        self._payment = payment
        self._ledger = ledger
        self._facilities = FacilityFollow(lending, withholding, ledger)
        self._abs = AbsMonthlyJobs(lending, ledger)

    async def run(self) -> OrderLoanJobRun:
        """Follow every open order loan, then every facility under post-loan control."""
        run = OrderLoanJobRun(**vars(await self._facilities.run()))
        token = ""
        while True:
            page = await self._lending.list_order_loans_to_follow(
                mpb.ListOrderLoansToFollowRequest(
                    page=paging_pb2.PageRequest(page_size=JOB_PAGE, page_token=token)
                )
            )
            for loan in page.loans:
                run.loans += 1
                await self._follow(loan, run)
            token = page.page.next_page_token
            if not token:
                break
        run.abs_periods = await self._abs.run()
        return run

    async def _follow(self, loan: mpb.OrderLoan, run: OrderLoanJobRun) -> None:
        listed = await self._withholding.list_withholdings(
            wpb.ListWithholdingsRequest(reference=loan.loan_id)
        )
        for instruction in listed.withholdings:
            for application in instruction.applications:
                application_id = f"{instruction.withholding_id}:{application.posting_id}"
                answer = await self._lending.apply_order_loan_collection(
                    mpb.ApplyOrderLoanCollectionRequest(
                        idempotency_key=f"order-collection:{application_id}",
                        loan_id=loan.loan_id,
                        application_id=application_id,
                        amount=application.amount,
                    )
                )
                if answer.interest_applied.amount_fen or answer.principal_applied.amount_fen:
                    run.collections += 1
                    run.collected_fen += application.amount.amount_fen
                loan = answer.loan
        for due in loan.excess:
            if not due.returned:
                await self._give_back(loan, due, run)
        unfinished = [trade.trade_id for trade in loan.trades if not trade.finished]
        finished = [trade_id for trade_id in unfinished if await self._finished(trade_id)]
        if finished:
            finishing = await self._lending.finish_order_loan_trades(
                mpb.FinishOrderLoanTradesRequest(
                    idempotency_key=f"order-finished:{loan.loan_id}:{','.join(finished)}",
                    loan_id=loan.loan_id,
                    trade_ids=finished,
                )
            )
            run.trades_finished += len(finished)
            loan = finishing.loan
        active = [w for w in listed.withholdings if w.state == wpb.WITHHOLDING_STATE_ACTIVE]
        if loan.state == mpb.ORDER_LOAN_STATE_SETTLED:
            for instruction in active:
                await self._withholding.release_withholding(
                    wpb.ReleaseWithholdingRequest(
                        idempotency_key=f"order-release:{instruction.withholding_id}",
                        withholding_id=instruction.withholding_id,
                    )
                )
                run.released += 1
        elif loan.overdue and not any(not w.trade_id for w in active):
            await self._withhold_everything(loan, listed.withholdings, run)

    async def _give_back(
        self, loan: mpb.OrderLoan, due: mpb.ExcessDue, run: OrderLoanJobRun
    ) -> None:
        posting_id = await self._ledger.lend(
            EXCESS_KEY_PREFIX + due.application_id,
            loan.merchant_id,
            Money(due.amount.amount_fen),
            loan.loan_id,
            account_id=ORDER_LOAN_ACCOUNT_ID,
            memo=EXCESS_MEMO,
        )
        await self._lending.confirm_order_loan_excess_returned(
            mpb.ConfirmOrderLoanExcessReturnedRequest(
                idempotency_key=f"order-excess:{due.application_id}",
                loan_id=loan.loan_id,
                application_id=due.application_id,
                payment_posting_id=posting_id,
            )
        )
        run.excess_returned_fen += due.amount.amount_fen

    async def _finished(self, trade_id: str) -> bool:
        trade = await self._payment.get_trade(trade_id)
        return trade.state in FINISHED

    async def _withhold_everything(
        self, loan: mpb.OrderLoan, instructions: Any, run: OrderLoanJobRun
    ) -> None:
        """Post-loan control: every later settlement of the merchant, until what is owed is
        withheld (a new instruction when the last one is done and something is still owed)."""
        count = sum(1 for w in instructions if not w.trade_id)
        withholding_id = f"{loan.loan_id}:overdue:{count}"
        await self._withholding.set_withholding(
            wpb.SetWithholdingRequest(
                idempotency_key=f"order-overdue:{withholding_id}",
                withholding_id=withholding_id,
                merchant_account_id=loan.merchant_id,
                account_id=ORDER_LOAN_ACCOUNT_ID,
                reference=loan.loan_id,
                amount=loan.owed,
            )
        )
        run.overdue_withholdings += 1
