"""What every group of loan RPCs shares: the store, clock, idempotency, events, and the close
of an account's day (accrual, delinquency and its reports) that repayments and the job share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from google.protobuf.message import Message

from chassis.clock import Clock, business_date_of
from chassis.idempotency import IdempotencyStore
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient, Session
from chassis.outbox import EventLog, OutboxFeed
from services.loan.cash_loans import CashLoan
from services.loan.daily_close import HuabeiDay, LoanDay, close_cash_loan_day, close_huabei_day
from services.loan.delinquency import DelinquencyChange
from services.loan.huabei import HuabeiLine, huabei_account_id
from services.loan.portfolio import Product
from services.loan.repayments import Repayment
from services.loan.store import LoanStore
from services.loan.store.collections import LoanCollections
from services.loan.wire import delinquency_changed_to_proto, repayment_report

ResponseT = TypeVar("ResponseT", bound=Message)


class KeyedRpcBase:
    """What both of the loan process's services (LoanService and MerchantLendingService)
    give their RPC groups: the clock and business date, the event log, and keyed changes."""

    def __init__(self, client: MongoClient, clock: Clock, collections: LoanCollections) -> None:
        self._client = client
        self._clock = clock
        self._events = EventLog(collections.outbox, clock)
        self._idempotency = IdempotencyStore(collections.idempotency, clock)

    def _today(self) -> date:
        """Today's business date (the calendar date in China Standard Time)."""
        return business_date_of(self._clock.now())

    async def _idempotent(
        self,
        scope: str,
        request: Message,
        response_type: type[ResponseT],
        operation: Callable[[Session], Awaitable[ResponseT]],
    ) -> ResponseT:
        """Run operation once per idempotency key, in one transaction with its record."""
        return await self._idempotency.run(
            self._client,
            scope=scope,
            request=request,
            response_type=response_type,
            operation=operation,
        )


class LoanRpcBase(KeyedRpcBase):
    """State and helpers shared by the LoanService RPC groups (mixed into one servicer)."""

    def __init__(
        self, client: MongoClient, store: LoanStore, clock: Clock, feed: OutboxFeed
    ) -> None:
        super().__init__(client, clock, store)
        self._store = store
        self._feed = feed
        # Requests on one borrower's line queue here instead of conflicting in MongoDB; the
        # guarded updates still decide across processes (chassis.keyed_lock).
        self._borrower_locks = KeyedLock()

    async def _huabei_day(self, session: Session, line: HuabeiLine, day: date) -> HuabeiDay:
        """The line's bills accrued to day (not saved)."""
        return close_huabei_day(line, await self._store.open_bills(line.borrower_id, session), day)

    async def _save_huabei_day(self, session: Session, closed: HuabeiDay, day: date) -> None:
        """Store a closed Huabei day and report its delinquency change."""
        await self._store.save_bills(session, closed.bills)
        await self._store.save_line(session, closed.line)
        borrower_id = closed.line.borrower_id
        await self._report_delinquency(
            session,
            product=Product.HUABEI,
            account_id=huabei_account_id(borrower_id),
            borrower_id=borrower_id,
            change=closed.change,
            overdue_fen=closed.overdue_fen,
            day=day,
        )

    async def _save_loan_day(self, session: Session, closed: LoanDay, day: date) -> None:
        """Store a closed cash-loan day and report its delinquency change."""
        loan: CashLoan = closed.loan
        await self._store.save_cash_loan(session, loan)
        await self._report_delinquency(
            session,
            product=Product.CASH_LOAN,
            account_id=loan.loan_id,
            borrower_id=loan.borrower_id,
            change=closed.change,
            overdue_fen=closed.overdue_fen,
            day=day,
        )

    async def _close_cash_loan(self, session: Session, loan: CashLoan, day: date) -> LoanDay:
        closed = close_cash_loan_day(loan, day)
        await self._save_loan_day(session, closed, day)
        return closed

    async def _report_delinquency(
        self,
        session: Session,
        *,
        product: Product,
        account_id: str,
        borrower_id: str,
        change: DelinquencyChange | None,
        overdue_fen: int,
        day: date,
    ) -> None:
        """loan.delinquency.changed, and the credit reports of entering 90+ or settling."""
        if change is None:
            return
        message = delinquency_changed_to_proto(
            product=product,
            account_id=account_id,
            borrower_id=borrower_id,
            change=change,
            overdue_fen=overdue_fen,
            day=day,
        )
        await self._events.append(session, "loan.delinquency.changed", account_id, message)
        now = self._clock.now()
        days = change.after.days_overdue
        if change.entered_90:
            report = repayment_report(borrower_id, account_id, overdue_fen, days, now)
            await self._events.append(session, "loan.overdue.entered_90", account_id, report)
        if change.settled:
            report = repayment_report(borrower_id, account_id, 0, change.before.days_overdue, now)
            await self._events.append(session, "loan.overdue.settled", account_id, report)

    async def _report_repayment(
        self, session: Session, repayment: Repayment, account_id: str
    ) -> None:
        """loan.repayment.on_time or .late, in the credit service's reporting format."""
        kind = "late" if repayment.days_overdue > 0 else "on_time"
        report = repayment_report(
            repayment.borrower_id,
            account_id,
            repayment.amount_fen,
            repayment.days_overdue,
            self._clock.now(),
        )
        await self._events.append(session, f"loan.repayment.{kind}", account_id, report)
