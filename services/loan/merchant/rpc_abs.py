"""ABS pool RPCs (abs_pool.py holds the rules): create a pool, record units sold, buy the
eligible loans, the pool and its report. Every change is keyed and written with the funding
document claimed, so a purchase and a disbursement never race past the capacity."""

from __future__ import annotations

from datetime import date

from chassis.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.wire import amount_from_proto, decimal_from_text, money_to_proto
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.huabei import require_id
from services.loan.merchant.abs_pool import (
    Eligibility,
    Pool,
    buy_loans,
    require_pool_terms,
    sell_units,
)
from services.loan.merchant.rpc_base import MerchantRpcBase
from services.loan.merchant.store.abs_pools import PoolRecord


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{field} must be YYYY-MM-DD", metadata={"field": field}) from None


def pool_to_proto(record: PoolRecord) -> pb.AbsPool:
    pool = record.pool
    return pb.AbsPool(
        pool_id=pool.pool_id,
        coupon_rate=str(pool.coupon_rate),
        revolving_until=pool.revolving_until.isoformat(),
        eligibility=pb.AbsEligibility(
            require_current=pool.rules.require_current,
            min_remaining_days=pool.rules.min_remaining_days,
            max_borrower_share=str(pool.rules.max_borrower_share),
        ),
        units=money_to_proto(pool.units_fen),
        cash=money_to_proto(pool.cash_fen),
        principal=money_to_proto(pool.principal_fen),
        loans=[
            _pooled(record, loan_id, borrower, fen)
            for loan_id, (borrower, fen) in pool.loans.items()
        ],
        units_sold=money_to_proto(record.units_sold_fen),
        purchases=money_to_proto(record.purchases_fen),
        created_on=record.created_on.isoformat(),
        sale_posting_ids=list(record.sale_posting_ids),
    )


def _pooled(record: PoolRecord, loan_id: str, borrower: str, fen: int) -> pb.AbsPooledLoan:
    return pb.AbsPooledLoan(
        loan_id=loan_id,
        borrower_id=borrower,
        principal=money_to_proto(fen),
        bought_on=record.bought_on[loan_id].isoformat(),
    )


class AbsPoolsRpc(MerchantRpcBase):
    """ABS pools, the service side (the investors' wallet money and the pass-through of
    collections are the gateway's, not served yet: docs/loans.md)."""

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
        amount_fen = amount_from_proto(request.amount)

        async def record_sale(session: Session) -> pb.RecordAbsUnitsSoldResponse:
            record = await self._store.get_pool(pool_id, session)
            if posting_id in record.sale_posting_ids:  # the same cash recorded once
                return pb.RecordAbsUnitsSoldResponse(pool=pool_to_proto(record))
            sold = PoolRecord(
                pool=sell_units(record.pool, amount_fen),
                created_on=record.created_on,
                units_sold_fen=record.units_sold_fen + amount_fen,
                purchases_fen=record.purchases_fen,
                bought_on=record.bought_on,
                sale_posting_ids=(*record.sale_posting_ids, posting_id),
            )
            await self._store.save_pool(session, sold)
            message = pool_to_proto(sold)
            await self._events.append(session, "loan.abs.units_sold", pool_id, message)
            return pb.RecordAbsUnitsSoldResponse(pool=message)

        return await self._idempotent(
            "record-abs-units-sold", request, pb.RecordAbsUnitsSoldResponse, record_sale
        )

    async def BuyAbsLoans(
        self, request: pb.BuyAbsLoansRequest, context: Context
    ) -> pb.BuyAbsLoansResponse:
        pool_id = require_id(request.pool_id, "pool_id")

        async def buy(session: Session) -> pb.BuyAbsLoansResponse:
            today = self._today()
            await self._store.claim_capacity(session)  # one purchase or payout at a time
            record = await self._store.get_pool(pool_id, session)
            if today > record.pool.revolving_until:
                raise FailedPrecondition(
                    f"pool {pool_id} buys no more loans after its revolving period",
                    reason="POOL_NOT_REVOLVING",
                    metadata={"revolving_until": record.pool.revolving_until.isoformat()},
                )
            candidates = await self._store.abs_candidates(today, session)
            pool, bought = buy_loans(record.pool, candidates, today)
            spent = sum(candidate.principal_fen for candidate in bought)
            after = PoolRecord(
                pool=pool,
                created_on=record.created_on,
                units_sold_fen=record.units_sold_fen,
                purchases_fen=record.purchases_fen + spent,
                bought_on={**record.bought_on, **{c.loan_id: today for c in bought}},
                sale_posting_ids=record.sale_posting_ids,
            )
            await self._store.save_pool(session, after)
            message = pool_to_proto(after)
            response = pb.BuyAbsLoansResponse(
                pool=message,
                bought=[_pooled(after, c.loan_id, c.borrower_id, c.principal_fen) for c in bought],
            )
            await self._events.append(session, "loan.abs.loans_bought", pool_id, response)
            return response

        return await self._idempotent("buy-abs-loans", request, pb.BuyAbsLoansResponse, buy)

    async def GetAbsPool(
        self, request: pb.GetAbsPoolRequest, context: Context
    ) -> pb.GetAbsPoolResponse:
        record = await self._store.get_pool(require_id(request.pool_id, "pool_id"))
        return pb.GetAbsPoolResponse(pool=pool_to_proto(record))
