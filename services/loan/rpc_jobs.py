"""The daily job and the operators' RPCs: RunLoanJobs (statements, accrual, delinquency) for a
business date, the auto-debit listing, the portfolio report and the audit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from chassis.clock import parse_business_date
from chassis.errors import InvalidArgument
from chassis.grpc_server import Context
from chassis.idempotency import require_idempotency_key
from chassis.mongo import Session, run_in_transaction
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import money_to_proto, next_page, page_size_of, timestamp_to_proto
from colony.loan.v1 import loan_pb2 as pb
from services.loan.auto_debit import AutoDebitSetting, auto_debit_repayment_id
from services.loan.bills import bill_id_of, issue_bill
from services.loan.cash_loans import CASH_LOAN_LEDGER_ACCOUNT_ID, accrue_loan, due_fen
from services.loan.daily_close import close_huabei_day
from services.loan.huabei import HUABEI_LEDGER_ACCOUNT_ID, huabei_account_id
from services.loan.installments import mark_billed, parts_due_by
from services.loan.portfolio import book_breaches
from services.loan.repayments import RepaymentTarget
from services.loan.rpc_base import LoanRpcBase
from services.loan.statements import statement_days_on
from services.loan.store.collections import JOB_ACCOUNTS_MAX, JOB_PAGE_SIZE
from services.loan.store.reports import read_ledger_flows, read_portfolio
from services.loan.wire import (
    TARGET_TO_PROTO,
    bill_to_proto,
    ledger_flows_to_proto,
    portfolio_to_proto,
)

PageOfIds = Callable[[str, int], Awaitable[list[str]]]


class JobsRpc(LoanRpcBase):
    """The business-date job, auto-debit listing, portfolio and audit."""

    async def RunLoanJobs(
        self, request: pb.RunLoanJobsRequest, context: Context
    ) -> pb.RunLoanJobsResponse:
        require_idempotency_key(request.idempotency_key)
        day = parse_business_date(request.business_date)
        if day > self._today():
            raise InvalidArgument(
                f"{day} has not begun",
                reason="BUSINESS_DATE_IN_FUTURE",
                metadata={"business_date": day.isoformat()},
            )
        done = await self._store.find_job_run(day)
        if done is not None and done.get("completed_at") is not None:
            return pb.RunLoanJobsResponse(run=_run_to_proto(day, done, already_completed=True))
        run = await self.run_loan_jobs(day)
        return pb.RunLoanJobsResponse(run=_run_to_proto(day, run, already_completed=False))

    async def run_loan_jobs(self, day: date) -> dict[str, object]:
        """Every step of the date, each account in its own transaction; then mark it done."""
        days = statement_days_on(day)
        bills = await self._each(
            lambda after, limit: self._store.lines_with_statement_days(days, after, limit),
            lambda borrower_id: self._issue_bill(borrower_id, day),
        )
        past_due = await self._each(
            lambda after, limit: self._store.borrowers_with_bills_past_due(day, after, limit),
            lambda borrower_id: self._close_line(borrower_id, day),
        )
        delinquent = await self._each(
            self._store.delinquent_line_ids, lambda borrower_id: self._close_line(borrower_id, day)
        )
        loans = await self._each(
            self._store.active_cash_loan_ids, lambda loan_id: self._close_loan(loan_id, day)
        )
        run: dict[str, object] = {
            "bills_issued": bills[0],
            "accounts_accrued": past_due[1] + delinquent[1] + loans[1],
            "bucket_changes": past_due[0] + delinquent[0] + loans[0],
            "completed_at": self._clock.now(),
        }
        await self._store.save_job_run(day, run)
        return run

    async def _each(
        self, page_of_ids: PageOfIds, step: Callable[[str], Awaitable[bool]]
    ) -> tuple[int, int]:
        """Run step over every id, page by page (bounded); (steps that changed, ids seen)."""
        changed = seen = 0
        after = ""
        while seen < JOB_ACCOUNTS_MAX:
            ids = await page_of_ids(after, JOB_PAGE_SIZE)
            for item_id in ids:
                changed += int(await step(item_id))
            seen += len(ids)
            if len(ids) < JOB_PAGE_SIZE:
                break
            after = ids[-1]
        return changed, seen

    async def _issue_bill(self, borrower_id: str, day: date) -> bool:
        """The statement of day for one line (once: the bill id is the date)."""

        async def issue(session: Session) -> bool:
            if await self._store.find_bill(bill_id_of(borrower_id, day), session) is not None:
                return False
            line = await self._store.get_line(borrower_id, session)
            purchases = await self._store.unbilled_purchases(session, borrower_id, day)
            plans = await self._store.plans_due_by(session, borrower_id, day)
            parts = [(plan.plan_id, part) for plan in plans for part in parts_due_by(plan, day)]
            issued = issue_bill(line, day, purchases, parts)
            if issued.bill is None:
                return False
            bill_id = issued.bill.bill_id
            await self._store.save_bill(session, issued.bill)
            await self._store.save_line(session, issued.line)
            await self._store.mark_purchases_billed(
                session, list(issued.bill.purchase_ids), bill_id
            )
            for plan in plans:
                numbers = {part.number for part in parts_due_by(plan, day)}
                await self._store.save_plan(session, mark_billed(plan, numbers, bill_id))
            await self._events.append(
                session, "loan.bill.issued", bill_id, bill_to_proto(issued.bill, day)
            )
            return True

        async with self._borrower_locks.hold([borrower_id]):
            return await run_in_transaction(self._client, issue)

    async def _close_line(self, borrower_id: str, day: date) -> bool:
        async def close(session: Session) -> bool:
            line = await self._store.get_line(borrower_id, session)
            closed = close_huabei_day(line, await self._store.open_bills(borrower_id, session), day)
            await self._save_huabei_day(session, closed, day)
            return closed.change is not None

        async with self._borrower_locks.hold([borrower_id]):
            return await run_in_transaction(self._client, close)

    async def _close_loan(self, loan_id: str, day: date) -> bool:
        async def close(session: Session) -> bool:
            loan = await self._store.get_cash_loan(loan_id, session)
            return (await self._close_cash_loan(session, loan, day)).change is not None

        return await run_in_transaction(self._client, close)

    async def ListDueAutoDebits(
        self, request: pb.ListDueAutoDebitsRequest, context: Context
    ) -> pb.ListDueAutoDebitsResponse:
        day = parse_business_date(request.business_date)
        query = f"auto-debits:{day.isoformat()}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 1)
        settings = await self._store.auto_debit_borrowers(after[0] if after else "", page_size)
        debits = [debit for setting in settings for debit in await self._due_debits(setting, day)]
        return pb.ListDueAutoDebitsResponse(
            debits=debits,
            page=next_page(
                len(settings), page_size, lambda: encode_page_token(query, settings[-1].borrower_id)
            ),
        )

    async def _due_debits(self, setting: AutoDebitSetting, day: date) -> list[pb.DueAutoDebit]:
        """What is due by day on the borrower's line and cash loans."""
        debits = []
        line = await self._store.find_line(setting.borrower_id)
        if line is not None:
            closed = close_huabei_day(line, await self._store.open_bills(line.borrower_id), day)
            due_fen_huabei = sum(
                b.period.unpaid.total_fen for b in closed.bills if b.period.due_date <= day
            )
            if due_fen_huabei:
                debits.append(
                    _debit(
                        RepaymentTarget.HUABEI,
                        account_id=line.borrower_id,
                        setting=setting,
                        amount_fen=due_fen_huabei,
                        ledger_account_id=HUABEI_LEDGER_ACCOUNT_ID,
                        credit_account_id=huabei_account_id(line.borrower_id),
                        day=day,
                    )
                )
        for loan in await self._store.active_cash_loans_of(setting.borrower_id):
            loan_due_fen = due_fen(accrue_loan(loan, day), day)
            if loan_due_fen:
                debits.append(
                    _debit(
                        RepaymentTarget.CASH_LOAN,
                        account_id=loan.loan_id,
                        setting=setting,
                        amount_fen=loan_due_fen,
                        ledger_account_id=CASH_LOAN_LEDGER_ACCOUNT_ID,
                        credit_account_id=loan.loan_id,
                        day=day,
                    )
                )
        return debits

    async def GetPortfolioReport(
        self, request: pb.GetPortfolioReportRequest, context: Context
    ) -> pb.GetPortfolioReportResponse:
        return portfolio_to_proto(await read_portfolio(self._store))

    async def GetLoanAudit(
        self, request: pb.GetLoanAuditRequest, context: Context
    ) -> pb.GetLoanAuditResponse:
        flows = await read_ledger_flows(self._store)
        return pb.GetLoanAuditResponse(
            accounts=[ledger_flows_to_proto(account) for account in flows],
            breaches=[breach for account in flows for breach in book_breaches(account)],
        )


def _debit(
    target: RepaymentTarget,
    *,
    account_id: str,
    setting: AutoDebitSetting,
    amount_fen: int,
    ledger_account_id: str,
    credit_account_id: str,
    day: date,
) -> pb.DueAutoDebit:
    return pb.DueAutoDebit(
        target=TARGET_TO_PROTO[target],
        account_id=account_id,
        borrower_id=setting.borrower_id,
        amount=money_to_proto(amount_fen),
        sources=list(setting.sources),
        ledger_account_id=ledger_account_id,
        repayment_id=auto_debit_repayment_id(credit_account_id, day),
    )


def _run_to_proto(day: date, run: dict[str, object], *, already_completed: bool) -> pb.LoanJobRun:
    completed_at = run.get("completed_at")
    return pb.LoanJobRun(
        business_date=day.isoformat(),
        bills_issued=int(run["bills_issued"]),  # type: ignore[call-overload]
        accounts_accrued=int(run["accounts_accrued"]),  # type: ignore[call-overload]
        bucket_changes=int(run["bucket_changes"]),  # type: ignore[call-overload]
        already_completed=already_completed,
        completed_at=timestamp_to_proto(completed_at),  # type: ignore[arg-type]
    )
