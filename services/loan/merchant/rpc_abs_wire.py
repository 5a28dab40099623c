"""ABS pools on the wire, for the RPCs: the pool, its holdings and its periods."""

from __future__ import annotations

from chassis.wire import money_to_proto
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.merchant.abs_investors import Holding, Period
from services.loan.merchant.abs_pool import pool_account_id
from services.loan.merchant.funding import CAPITAL_LEDGER_ACCOUNT_ID
from services.loan.merchant.store.abs_pools import PoolRecord

# The excess spread is the lender's (the pool's residual holder): into its cash, the capital.
EXCESS_SPREAD_ACCOUNT_ID = CAPITAL_LEDGER_ACCOUNT_ID


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
            loan_kinds=list(pool.rules.loan_kinds),
        ),
        units=money_to_proto(pool.units_fen),
        cash=money_to_proto(pool.cash_fen),
        principal=money_to_proto(pool.principal_fen),
        loans=[
            pooled_to_proto(record, loan_id, borrower, fen)
            for loan_id, (borrower, fen) in pool.loans.items()
        ],
        units_sold=money_to_proto(record.units_sold_fen),
        purchases=money_to_proto(record.purchases_fen),
        created_on=record.created_on.isoformat(),
        sale_posting_ids=list(record.sale_posting_ids),
        account_id=pool_account_id(pool.pool_id),
        holdings=[holding_to_proto(record, held) for _, held in sorted(record.holdings.items())],
        periods=[period_to_proto(period) for period in record.periods],
    )


def pooled_to_proto(record: PoolRecord, loan_id: str, borrower: str, fen: int) -> pb.AbsPooledLoan:
    return pb.AbsPooledLoan(
        loan_id=loan_id,
        borrower_id=borrower,
        principal=money_to_proto(fen),
        bought_on=record.bought_on[loan_id].isoformat(),
        kind=record.kind_of(loan_id),
    )


def holding_to_proto(record: PoolRecord, held: Holding) -> pb.AbsHolding:
    return pb.AbsHolding(
        pool_id=record.pool.pool_id,
        investor_id=held.investor_id,
        units=money_to_proto(held.units_fen),
        bought=money_to_proto(held.bought_fen),
        interest_received=money_to_proto(held.interest_fen),
        principal_returned=money_to_proto(held.returned_fen),
        coupon_rate=str(record.pool.coupon_rate),
    )


def period_to_proto(period: Period) -> pb.AbsPeriod:
    report = period.report
    return pb.AbsPeriod(
        period_id=period.period_id,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        days=period.days,
        carried_in=money_to_proto(report.carried_in_fen),
        interest_collected=money_to_proto(report.interest_collected_fen),
        principal_collected=money_to_proto(report.principal_collected_fen),
        investor_interest=money_to_proto(report.investor_interest_fen),
        excess_spread=money_to_proto(report.excess_spread_fen),
        purchases=money_to_proto(report.purchases_fen),
        principal_returned=money_to_proto(report.principal_returned_fen),
        carried_out=money_to_proto(report.carried_out_fen),
        defaulted=money_to_proto(report.defaulted_fen),
        bought_loan_ids=list(report.bought),
        shares=[
            pb.AbsPeriodShare(
                investor_id=share.investor_id,
                interest=money_to_proto(share.interest_fen),
                principal_returned=money_to_proto(share.returned_fen),
            )
            for share in period.shares
        ],
        posted=period.posted,
        order_loan_collected=money_to_proto(report.order_loan_collected_fen),
        order_loan_purchases=money_to_proto(report.order_loan_purchases_fen),
        lender_kept_interest=money_to_proto(report.lender_kept_interest_fen),
        lender_kept_principal=money_to_proto(report.lender_kept_principal_fen),
        excess_spread_account_id=EXCESS_SPREAD_ACCOUNT_ID,
    )
