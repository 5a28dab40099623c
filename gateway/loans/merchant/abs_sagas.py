"""ABS pools' money in the payment ledger (docs/loans.md "ABS pools").

Each pool's cash is a platform account ``platform:loan:abs:<pool_id>`` (never negative): at
rest its balance is the cash the loan service's pool reports (`colony audit` checks it).

abs_units (an investor buys units with wallet money):
1. ``hold``: a hold on the investor's balance; undone by VoidHold.
2. ``capture`` (retried forward): captured into the pool's account.
3. ``record`` (retried forward): RecordAbsUnitsSold with the posting (once per posting):
   the pool's units and cash, and the investor's holding, grow.

abs_purchase (the operator's: the pool buys eligible loans):
1. ``buy`` (retried forward): BuyAbsLoans keyed by the saga (POOL_NOT_REVOLVING ends it
   having moved nothing).
2. ``pay`` (retried forward): the price from the pool's account to the lender: the
   lender's cash (platform:loan:capital, MERCHANT_LOAN_ACCOUNT_ID / ORDER_LOAN_ACCOUNT_ID):
   the facilities' keyed "abs-buy:<saga>", the order loans' keyed "abs-buy:<saga>:order":
   capacity returns to the lender.

abs_pass_through (the operator's: one period of collections):
1. ``pass_through`` (retried forward): PassThroughAbsPool keyed by the saga: the period's
   figures and each investor's share (POOL_PERIOD_NOT_OVER ends it having moved nothing).
2. ``post`` (retried forward): every leg, each a PlatformTransfer keyed
   "abs:<period_id>:<leg>[:<investor>]": the collections into the pool (the facilities' from
   the lender's cash, the order loans' a leg of their own, "collect:order"),
   each investor's interest, the excess spread back to the lender (the account the period
   names), the revolving purchases' price to the lender (order loans' a leg of their own,
   leg "purchases:order"), each investor's principal returned; then ConfirmAbsPeriodPosted.
   What the pooled loans paid that the lender keeps never moves (it is in the report).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chassis.money import Money
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.edge.representations import money_to_proto
from gateway.loans.merchant.ledger import (
    MERCHANT_LOAN_ACCOUNT_ID,
    ORDER_LOAN_ACCOUNT_ID,
    MerchantLoanLedger,
)
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

ABS_UNITS = "abs_units"
ABS_PURCHASE = "abs_purchase"
ABS_PASS_THROUGH = "abs_pass_through"
HOLD = "hold"
CAPTURE = "capture"
RECORD = "record"
BUY = "buy"
PAY = "pay"
PASS_THROUGH = "pass_through"
POST = "post"
POOL_ACCOUNT_PREFIX = "platform:loan:abs:"
UNITS_MEMO = "ABS units bought"
VOID_REASON = "ABS units not bought"
PURCHASE_KEY_PREFIX = "abs-buy:"
PURCHASE_MEMO = "ABS pool bought loans at par"


def pool_account_id(pool_id: str) -> str:
    return POOL_ACCOUNT_PREFIX + pool_id


async def ensure_pool_account(ledger: MerchantLoanLedger, pool_id: str) -> str:
    account_id = pool_account_id(pool_id)
    await ledger.payment.ensure_platform_account(
        pb.EnsurePlatformAccountRequest(
            account_id=account_id, display_name=f"ABS pool {pool_id}", external_party=False
        )
    )
    return account_id


def units_input(*, pool_id: str, investor_id: str, amount: Money) -> JsonObject:
    return {"pool_id": pool_id, "investor_id": investor_id, "amount_fen": amount.fen}


def pool_input(*, pool_id: str) -> JsonObject:
    return {"pool_id": pool_id}


async def _transfer(
    ledger: MerchantLoanLedger, key: str, source: str, destination: str, *, fen: int, memo: str
) -> str:
    return await ledger.transfer(key, source, destination, Money(fen), memo=memo, reference=key)


def units_saga(lending: MerchantLendingClient, ledger: MerchantLoanLedger) -> SagaDefinition:
    async def hold(context: StepContext) -> JsonObject:
        given = context.input
        await ensure_pool_account(ledger, given["pool_id"])
        await ledger.hold(
            context.key, given["investor_id"], Money(int(given["amount_fen"])), UNITS_MEMO
        )
        return {}

    async def release(context: StepContext) -> JsonObject:
        await ledger.void(context.key, VOID_REASON)
        return {}

    async def capture(context: StepContext) -> JsonObject:
        account_id = pool_account_id(context.input["pool_id"])
        return {
            "posting_id": await ledger.capture(
                context.key_of(HOLD), UNITS_MEMO, account_id=account_id
            )
        }

    async def record(context: StepContext) -> JsonObject:
        given = context.input
        response = await lending.record_abs_units_sold(
            mpb.RecordAbsUnitsSoldRequest(
                idempotency_key=context.key,
                pool_id=given["pool_id"],
                amount=money_to_proto(Money(int(given["amount_fen"]))),
                payment_posting_id=context.results[CAPTURE]["posting_id"],
                investor_id=given["investor_id"],
            )
        )
        held = [h for h in response.pool.holdings if h.investor_id == given["investor_id"]]
        return {"units_fen": held[0].units.amount_fen if held else 0}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {
            "pool_id": saga_input["pool_id"],
            "amount_fen": saga_input["amount_fen"],
            "posting_id": results[CAPTURE]["posting_id"],
            "units_fen": results[RECORD]["units_fen"],
        }

    return SagaDefinition(
        name=ABS_UNITS,
        summary="An investor buys units of an ABS pool with wallet money",
        steps=(
            Step(HOLD, hold, compensation=release),
            Step(CAPTURE, capture, compensation=RETRY_FORWARD),
            Step(RECORD, record, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )


def purchase_saga(lending: MerchantLendingClient, ledger: MerchantLoanLedger) -> SagaDefinition:
    async def buy(context: StepContext) -> JsonObject:
        response = await lending.buy_abs_loans(
            mpb.BuyAbsLoansRequest(idempotency_key=context.key, pool_id=context.input["pool_id"])
        )
        return {
            "bought": [loan.loan_id for loan in response.bought],
            "spent_fen": response.spent.amount_fen,
            "order_loan_spent_fen": response.order_loan_spent.amount_fen,
        }

    async def pay(context: StepContext) -> JsonObject:
        bought = context.results[BUY]
        order_spent = int(bought.get("order_loan_spent_fen", 0))
        spent = int(bought["spent_fen"]) - order_spent
        if spent + order_spent == 0:
            return {"posting_id": ""}
        source = await ensure_pool_account(ledger, context.input["pool_id"])
        key = PURCHASE_KEY_PREFIX + context.saga_id
        postings = [
            await _transfer(ledger, leg_key, source, lender, fen=fen, memo=PURCHASE_MEMO)
            for leg_key, lender, fen in (
                (key, MERCHANT_LOAN_ACCOUNT_ID, spent),
                (key + ":order", ORDER_LOAN_ACCOUNT_ID, order_spent),
            )
            if fen > 0
        ]
        return {"posting_id": postings[0], "posting_ids": postings}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {"pool_id": saga_input["pool_id"], **results[BUY], **results[PAY]}

    return SagaDefinition(
        name=ABS_PURCHASE,
        summary="An ABS pool buys eligible loans at par: the price to the lender",
        steps=(
            Step(BUY, buy, compensation=RETRY_FORWARD),
            Step(PAY, pay, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )


def period_result(period: mpb.AbsPeriod) -> JsonObject:
    """A period's figures and shares as the saga records them (and legs() reads them)."""
    return {
        "period_id": period.period_id,
        "collected_fen": period.interest_collected.amount_fen
        + period.principal_collected.amount_fen,
        "investor_interest_fen": period.investor_interest.amount_fen,
        "excess_fen": period.excess_spread.amount_fen,
        "purchases_fen": period.purchases.amount_fen,
        "order_loan_collected_fen": period.order_loan_collected.amount_fen,
        "order_loan_purchases_fen": period.order_loan_purchases.amount_fen,
        "excess_account_id": period.excess_spread_account_id or MERCHANT_LOAN_ACCOUNT_ID,
        "returned_fen": period.principal_returned.amount_fen,
        "carried_out_fen": period.carried_out.amount_fen,
        "shares": [
            {
                "investor_id": share.investor_id,
                "interest_fen": share.interest.amount_fen,
                "returned_fen": share.principal_returned.amount_fen,
            }
            for share in period.shares
        ],
    }


async def post_legs(
    ledger: MerchantLoanLedger, pool_id: str, period: Mapping[str, Any]
) -> list[str]:
    """Post every leg of a period (each keyed by the period: a replay posts nothing new)."""
    await ensure_pool_account(ledger, pool_id)
    return [
        await _transfer(ledger, key, source, destination, fen=fen, memo=memo)
        for key, source, destination, fen, memo in _legs(pool_id, period)
    ]


def _legs(pool_id: str, period: Mapping[str, Any]) -> list[tuple[str, str, str, int, str]]:
    """(key, from, to, fen, memo) of every leg of a period, zero legs left out."""
    pool = pool_account_id(pool_id)
    prefix = f"abs:{period['period_id']}:"
    order_collected = int(period.get("order_loan_collected_fen", 0))
    order_purchases = int(period.get("order_loan_purchases_fen", 0))
    legs = [
        (
            prefix + "collect",
            MERCHANT_LOAN_ACCOUNT_ID,
            pool,
            period["collected_fen"] - order_collected,
            "ABS collections",
        ),
        (
            prefix + "collect:order",
            ORDER_LOAN_ACCOUNT_ID,
            pool,
            order_collected,
            "ABS collections (order loans)",
        ),
        *[
            (
                prefix + "coupon:" + s["investor_id"],
                pool,
                s["investor_id"],
                s["interest_fen"],
                "ABS interest",
            )
            for s in period["shares"]
        ],
        (
            prefix + "excess",
            pool,
            period.get("excess_account_id", MERCHANT_LOAN_ACCOUNT_ID),
            period["excess_fen"],
            "ABS excess spread",
        ),
        (
            prefix + "purchases",
            pool,
            MERCHANT_LOAN_ACCOUNT_ID,
            period["purchases_fen"] - order_purchases,
            "ABS revolving purchases",
        ),
        (
            prefix + "purchases:order",
            pool,
            ORDER_LOAN_ACCOUNT_ID,
            order_purchases,
            "ABS revolving purchases (order loans)",
        ),
        *[
            (
                prefix + "return:" + s["investor_id"],
                pool,
                s["investor_id"],
                s["returned_fen"],
                "ABS principal returned",
            )
            for s in period["shares"]
        ],
    ]
    return [leg for leg in legs if leg[3] > 0]


def pass_through_saga(lending: MerchantLendingClient, ledger: MerchantLoanLedger) -> SagaDefinition:
    async def pass_through(context: StepContext) -> JsonObject:
        response = await lending.pass_through_abs_pool(
            mpb.PassThroughAbsPoolRequest(
                idempotency_key=context.key, pool_id=context.input["pool_id"]
            )
        )
        return period_result(response.period)

    async def post(context: StepContext) -> JsonObject:
        pool_id = context.input["pool_id"]
        period = context.results[PASS_THROUGH]
        postings = await post_legs(ledger, pool_id, period)
        await lending.confirm_abs_period_posted(
            mpb.ConfirmAbsPeriodPostedRequest(
                idempotency_key=context.key, pool_id=pool_id, period_id=period["period_id"]
            )
        )
        return {"posting_ids": postings}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {"pool_id": saga_input["pool_id"], **results[PASS_THROUGH], **results[POST]}

    return SagaDefinition(
        name=ABS_PASS_THROUGH,
        summary="One period of an ABS pool: collections to investors, lender and new loans",
        steps=(
            Step(PASS_THROUGH, pass_through, compensation=RETRY_FORWARD),
            Step(POST, post, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )


@dataclass(frozen=True, slots=True)
class AbsSagas:
    units: SagaDefinition
    purchase: SagaDefinition
    pass_through: SagaDefinition

    def all(self) -> tuple[SagaDefinition, ...]:
        return (self.units, self.purchase, self.pass_through)


def abs_sagas(lending: MerchantLendingClient, ledger: MerchantLoanLedger) -> AbsSagas:
    return AbsSagas(
        units_saga(lending, ledger),
        purchase_saga(lending, ledger),
        pass_through_saga(lending, ledger),
    )
