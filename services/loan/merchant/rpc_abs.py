"""ABS pool RPCs (abs_pool.py holds the rules, abs_investors.py the investors' shares):
create a pool, record units sold to an investor, buy the eligible loans, pass a period's
collections through, the pool and its report, an investor's holdings. Every change is keyed
and written with the funding document claimed, so a purchase and a disbursement never race
past the capacity. No RPC moves money: the gateway's sagas post each leg in the payment
ledger (gateway/loans/merchant/abs_sagas.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from chassis.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.wire import amount_from_proto, decimal_from_text, money_to_proto
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.huabei import require_id
from services.loan.merchant.abs_investors import (
    Period,
    buy_units,
    distribute,
    missed_unit_days,
    period_id_of,
    require_period_over,
)
from services.loan.merchant.abs_pool import (
    ORDER_LOAN,
    Candidate,
    Collection,
    Eligibility,
    Pool,
    buy_loans,
    pass_through,
    pool_share_of,
    require_pool_terms,
    sell_units,
)
from services.loan.merchant.facilities import Facility
from services.loan.merchant.order_loans import OrderLoan
from services.loan.merchant.rpc_abs_wire import (
    holding_to_proto,
    period_to_proto,
    pool_to_proto,
    pooled_to_proto,
)
from services.loan.merchant.rpc_base import MerchantRpcBase
from services.loan.merchant.store.abs_pools import PoolRecord


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{field} must be YYYY-MM-DD", metadata={"field": field}) from None


NONE = (0, 0, 0, 0)  # nothing paid yet
Paid = tuple[int, int, int, int]


def paid_so_far(loan: Facility | OrderLoan) -> Paid:
    """(fixed interest paid, fixed principal repaid, revolving interest paid, revolving
    principal repaid), ever; an order loan's (interest paid, principal repaid, 0, 0)."""
    if isinstance(loan, OrderLoan):
        return (loan.principal.interest_paid_fen, loan.principal.principal_repaid_fen, 0, 0)
    return (
        loan.fixed.interest_paid_fen,
        loan.fixed.principal_repaid_fen,
        loan.revolving.interest_paid_fen,
        loan.revolving.principal_repaid_fen,
    )


def order_loan_collection(loan: OrderLoan, held_fen: int, before: Paid, today: date) -> Collection:
    """What a pooled order loan paid since the last look: all of it the pool's (an order loan
    is never drawn again), its principal at most what the pool holds."""
    interest, principal, _, _ = (
        now - then for now, then in zip(paid_so_far(loan), before, strict=True)
    )
    return Collection(
        loan.loan_id,
        interest_fen=interest,
        principal_fen=min(principal, held_fen),
        defaulted=loan.overdue_on(today),
        kind=ORDER_LOAN,
        lender_principal_fen=principal - min(principal, held_fen),
    )


def pool_collection(
    facility: Facility, held_fen: int, before: tuple[int, int, int, int], today: date
) -> Collection:
    """The pool's part of what a pooled facility paid since the last look. The fixed part
    is never drawn again, so all of it is the pool's (the pool's principal is on the fixed
    part first); the revolving part is shared with the lender's later draws pro rata
    (abs_pool.pool_share_of)."""
    fixed_interest, fixed_principal, revolving_interest, revolving_principal = (
        now - then for now, then in zip(paid_so_far(facility), before, strict=True)
    )
    fixed_held = min(held_fen, facility.fixed.principal_fen + fixed_principal)
    interest, principal = pool_share_of(
        held_fen - fixed_held,
        facility.revolving.principal_fen,
        revolving_interest,
        revolving_principal,
    )
    pool_interest = fixed_interest + interest
    pool_principal = min(fixed_principal, fixed_held) + principal
    return Collection(
        facility.facility_id,
        interest_fen=pool_interest,
        principal_fen=pool_principal,
        defaulted=facility.overdue_on(today),
        lender_interest_fen=fixed_interest + revolving_interest - pool_interest,
        lender_principal_fen=fixed_principal + revolving_principal - pool_principal,
    )


def _collection(loan: Facility | OrderLoan, held_fen: int, before: Paid, today: date) -> Collection:
    if isinstance(loan, OrderLoan):
        return order_loan_collection(loan, held_fen, before, today)
    return pool_collection(loan, held_fen, before, today)


def _order_loans_price(bought: list[Candidate]) -> int:
    return sum(c.principal_fen for c in bought if c.kind == ORDER_LOAN)


def _kinds(record: PoolRecord, pool: Pool, bought: list[Candidate]) -> dict[str, str]:
    """The kind of each loan the pool holds now."""
    kinds = {**record.kinds, **{c.loan_id: c.kind for c in bought}}
    return {loan_id: kinds[loan_id] for loan_id in pool.loans if loan_id in kinds}


class AbsPoolsRpc(MerchantRpcBase):
    """ABS pools, the service side (the money is the gateway's: docs/loans.md)."""

    async def CreateAbsPool(
        self, request: pb.CreateAbsPoolRequest, context: Context
    ) -> pb.CreateAbsPoolResponse:
        pool_id = require_id(request.pool_id, "pool_id")
        coupon_rate = decimal_from_text(request.coupon_rate, "coupon_rate")
        revolving_until = _day(request.revolving_until, "revolving_until")
        given = request.eligibility
        rules = Eligibility(
            require_current=given.require_current,
            min_remaining_days=given.min_remaining_days,
            max_borrower_share=decimal_from_text(given.max_borrower_share, "max_borrower_share"),
        )
        require_pool_terms(coupon_rate, rules)

        async def create(session: Session) -> pb.CreateAbsPoolResponse:
            if await self._store.find_pool(pool_id, session) is not None:
                raise AlreadyExists(
                    f"pool {pool_id} exists", reason="POOL_EXISTS", metadata={"pool_id": pool_id}
                )
            record = PoolRecord(
                pool=Pool(pool_id, coupon_rate, revolving_until, rules), created_on=self._today()
            )
            await self._store.save_pool(session, record)
            message = pool_to_proto(record)
            await self._events.append(session, "loan.abs.pool_created", pool_id, message)
            return pb.CreateAbsPoolResponse(pool=message)

        return await self._idempotent("create-abs-pool", request, pb.CreateAbsPoolResponse, create)

    async def RecordAbsUnitsSold(
        self, request: pb.RecordAbsUnitsSoldRequest, context: Context
    ) -> pb.RecordAbsUnitsSoldResponse:
        pool_id = require_id(request.pool_id, "pool_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")
        investor_id = require_id(request.investor_id, "investor_id")
        amount_fen = amount_from_proto(request.amount)

        async def record_sale(session: Session) -> pb.RecordAbsUnitsSoldResponse:
            record = await self._store.get_pool(pool_id, session)
            if posting_id in record.sale_posting_ids:  # the same cash recorded once
                return pb.RecordAbsUnitsSoldResponse(pool=pool_to_proto(record))
            sold = replace(
                record,
                pool=sell_units(record.pool, amount_fen),
                units_sold_fen=record.units_sold_fen + amount_fen,
                sale_posting_ids=(*record.sale_posting_ids, posting_id),
                holdings={
                    **record.holdings,
                    investor_id: buy_units(
                        record.holdings,
                        investor_id,
                        amount_fen,
                        days_into_period=(self._today() - record.last_period_end).days,
                    ),
                },
            )
            await self._store.save_pool(session, sold)
            message = pool_to_proto(sold)
            await self._events.append(session, "loan.abs.units_sold", pool_id, message)
            return pb.RecordAbsUnitsSoldResponse(pool=message)

        return await self._idempotent(
            "record-abs-units-sold", request, pb.RecordAbsUnitsSoldResponse, record_sale
        )

    def _require_revolving(self, record: PoolRecord, today: date) -> None:
        if today > record.pool.revolving_until:
            raise FailedPrecondition(
                f"pool {record.pool.pool_id} buys no more loans after its revolving period",
                reason="POOL_NOT_REVOLVING",
                metadata={"revolving_until": record.pool.revolving_until.isoformat()},
            )

    async def _loans(self, ids: list[str], session: Session) -> dict[str, Facility | OrderLoan]:
        """The facilities and order loans of these ids (ids are distinct across the two)."""
        if not ids:
            return {}
        return {
            **await self._store.facilities_by_id(ids, session),
            **await self._store.order_loans_by_id(ids, session),
        }

    async def _seen(self, record: PoolRecord, pool: Pool, session: Session) -> dict[str, Paid]:
        """What each loan the pool holds had paid by now (new loans: from today)."""
        new = [loan_id for loan_id in pool.loans if loan_id not in record.seen]
        loans = await self._loans(new, session)
        return {
            loan_id: record.seen[loan_id] if loan_id in record.seen else paid_so_far(loans[loan_id])
            for loan_id in pool.loans
        }

    async def BuyAbsLoans(
        self, request: pb.BuyAbsLoansRequest, context: Context
    ) -> pb.BuyAbsLoansResponse:
        pool_id = require_id(request.pool_id, "pool_id")

        async def buy(session: Session) -> pb.BuyAbsLoansResponse:
            today = self._today()
            await self._store.claim_capacity(session)  # one purchase or payout at a time
            record = await self._store.get_pool(pool_id, session)
            self._require_revolving(record, today)
            candidates = await self._store.abs_candidates(today, session)
            pool, bought = buy_loans(record.pool, candidates, today)
            spent = sum(candidate.principal_fen for candidate in bought)
            order_spent = _order_loans_price(bought)
            after = replace(
                record,
                pool=pool,
                purchases_fen=record.purchases_fen + spent,
                order_loan_purchases_fen=record.order_loan_purchases_fen + order_spent,
                bought_on={**record.bought_on, **{c.loan_id: today for c in bought}},
                kinds=_kinds(record, pool, bought),
                seen=await self._seen(record, pool, session),
            )
            await self._store.save_pool(session, after)
            message = pool_to_proto(after)
            response = pb.BuyAbsLoansResponse(
                pool=message,
                bought=[
                    pooled_to_proto(after, c.loan_id, c.borrower_id, c.principal_fen)
                    for c in bought
                ],
                spent=money_to_proto(spent),
                order_loan_spent=money_to_proto(order_spent),
            )
            await self._events.append(session, "loan.abs.loans_bought", pool_id, response)
            return response

        return await self._idempotent("buy-abs-loans", request, pb.BuyAbsLoansResponse, buy)

    async def PassThroughAbsPool(
        self, request: pb.PassThroughAbsPoolRequest, context: Context
    ) -> pb.PassThroughAbsPoolResponse:
        pool_id = require_id(request.pool_id, "pool_id")

        async def run(session: Session) -> pb.PassThroughAbsPoolResponse:
            today = self._today()
            await self._store.claim_capacity(session)  # purchases race payouts otherwise
            record = await self._store.get_pool(pool_id, session)
            start = record.last_period_end
            require_period_over(start, today, monthly=request.monthly)
            held = record.pool.loans
            loans = await self._loans(list(held), session)
            collections = [
                _collection(loans[loan_id], fen, record.seen.get(loan_id, NONE), today)
                for loan_id, (_, fen) in held.items()
            ]
            revolving = today <= record.pool.revolving_until
            candidates = await self._store.abs_candidates(today, session) if revolving else []
            period_days = (today - start).days
            pool, report = pass_through(
                record.pool,
                collections,
                candidates,
                period_days=period_days,
                today=today,
                missed_unit_days=missed_unit_days(record.holdings),
            )
            holdings, shares = distribute(
                record.holdings,
                report.investor_interest_fen,
                report.principal_returned_fen,
                period_days,
            )
            paid_now = {loan_id: paid_so_far(loan) for loan_id, loan in loans.items()}
            period = Period(period_id_of(pool_id, today), start, today, report, shares)
            after = replace(
                record,
                pool=pool,
                purchases_fen=record.purchases_fen + report.purchases_fen,
                order_loan_purchases_fen=record.order_loan_purchases_fen
                + report.order_loan_purchases_fen,
                bought_on={loan_id: record.bought_on.get(loan_id, today) for loan_id in pool.loans},
                kinds=_kinds(
                    record, pool, [c for c in candidates if c.loan_id in set(report.bought)]
                ),
                seen=await self._seen(replace(record, seen=paid_now), pool, session),
                holdings=holdings,
                periods=(*record.periods, period),
            )
            await self._store.save_pool(session, after)
            response = pb.PassThroughAbsPoolResponse(
                pool=pool_to_proto(after), period=period_to_proto(period)
            )
            await self._events.append(session, "loan.abs.passed_through", pool_id, response)
            return response

        return await self._idempotent(
            "pass-through-abs-pool", request, pb.PassThroughAbsPoolResponse, run
        )

    async def GetAbsPool(
        self, request: pb.GetAbsPoolRequest, context: Context
    ) -> pb.GetAbsPoolResponse:
        record = await self._store.get_pool(require_id(request.pool_id, "pool_id"))
        return pb.GetAbsPoolResponse(pool=pool_to_proto(record))

    async def ListAbsHoldings(
        self, request: pb.ListAbsHoldingsRequest, context: Context
    ) -> pb.ListAbsHoldingsResponse:
        investor_id = require_id(request.investor_id, "investor_id")
        records = await self._store.pools_of_investor(investor_id)
        return pb.ListAbsHoldingsResponse(
            holdings=[holding_to_proto(r, r.holdings[investor_id]) for r in records]
        )

    async def ListAbsPools(
        self, request: pb.ListAbsPoolsRequest, context: Context
    ) -> pb.ListAbsPoolsResponse:
        records = sorted(await self._store.all_pools(), key=lambda r: r.pool.pool_id)
        return pb.ListAbsPoolsResponse(pools=[pool_to_proto(record) for record in records])

    async def ConfirmAbsPeriodPosted(
        self, request: pb.ConfirmAbsPeriodPostedRequest, context: Context
    ) -> pb.ConfirmAbsPeriodPostedResponse:
        pool_id = require_id(request.pool_id, "pool_id")
        period_id = require_id(request.period_id, "period_id")

        async def confirm(session: Session) -> pb.ConfirmAbsPeriodPostedResponse:
            record = await self._store.get_pool(pool_id, session)
            if period_id not in {period.period_id for period in record.periods}:
                raise NotFound(f"period {period_id} not found", metadata={"period_id": period_id})
            after = replace(
                record,
                periods=tuple(
                    replace(period, posted=True) if period.period_id == period_id else period
                    for period in record.periods
                ),
            )
            await self._store.save_pool(session, after)
            return pb.ConfirmAbsPeriodPostedResponse(pool=pool_to_proto(after))

        return await self._idempotent(
            "confirm-abs-period-posted", request, pb.ConfirmAbsPeriodPostedResponse, confirm
        )
