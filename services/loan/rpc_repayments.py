"""Repayment RPCs (repayments.py holds the rules): what is owed, the try/confirm/cancel of the
gateway's repayment saga, and the auto-debit setting."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from chassis.errors import InvalidArgument, NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, next_page, page_size_of
from colony.loan.v1 import loan_pb2 as pb
from services.loan.auto_debit import AutoDebitSetting, require_sources
from services.loan.cash_loans import (
    CASH_LOAN_LEDGER_ACCOUNT_ID,
    CashLoanState,
    accrue_loan,
    repay_cash_loan,
)
from services.loan.daily_close import close_huabei_day
from services.loan.huabei import HUABEI_LEDGER_ACCOUNT_ID, HuabeiLine, huabei_account_id, require_id
from services.loan.installments import PlanState, settle_early
from services.loan.periods import Charges, PeriodPayment
from services.loan.repayments import (
    Owed,
    Repayment,
    RepaymentTarget,
    cancel_repayment,
    cancel_tombstone,
    cash_loan_owed,
    huabei_owed,
    mark_applied,
    plan_owed,
    plan_repayment,
    repay_huabei,
    require_confirmable,
    require_same_repayment,
)
from services.loan.rpc_base import LoanRpcBase
from services.loan.wire import (
    TARGET_FROM_PROTO,
    auto_debit_to_proto,
    cash_loan_to_proto,
    owed_to_proto,
    plan_to_proto,
    repayment_to_proto,
)


@dataclass(frozen=True, slots=True)
class OwedAccount:
    """An account's owed figures with who owes and where repayments go."""

    account_id: str
    borrower_id: str
    ledger_account_id: str
    owed: Owed


def require_target(target: int) -> RepaymentTarget:
    if target not in TARGET_FROM_PROTO:
        raise InvalidArgument("target is required", metadata={"field": "target"})
    return TARGET_FROM_PROTO[target]  # type: ignore[index]


class RepaymentsRpc(LoanRpcBase):
    """Amount owed, repayments, auto-debit."""

    async def _owed(
        self, session: Session | None, target: RepaymentTarget, account_id: str, day: date
    ) -> OwedAccount:
        """The account's figures accrued to day (nothing stored)."""
        if target is RepaymentTarget.HUABEI:
            line = await self._store.get_line(account_id, session)
            bills = await self._store.open_bills(account_id, session)
            closed = close_huabei_day(line, bills, day)
            unbilled = await self._store.unbilled_purchases(session, account_id)
            stored_id = huabei_account_id(account_id)
            pending = await self._store.pending_repayments_fen(stored_id, session)
            owed = huabei_owed(closed.bills, sum(p.net_fen for p in unbilled), line, day, pending)
            return OwedAccount(stored_id, account_id, HUABEI_LEDGER_ACCOUNT_ID, owed)
        if target is RepaymentTarget.INSTALLMENT_PLAN:
            plan = await self._store.get_plan(account_id, session)
            pending = await self._store.pending_repayments_fen(account_id, session)
            owed = plan_owed(plan, pending)
            return OwedAccount(account_id, plan.borrower_id, HUABEI_LEDGER_ACCOUNT_ID, owed)
        loan = await self._store.get_cash_loan(account_id, session)
        pending = await self._store.pending_repayments_fen(account_id, session)
        owed = cash_loan_owed(accrue_loan(loan, day), day, pending)
        return OwedAccount(account_id, loan.borrower_id, CASH_LOAN_LEDGER_ACCOUNT_ID, owed)

    async def GetAmountOwed(
        self, request: pb.GetAmountOwedRequest, context: Context
    ) -> pb.GetAmountOwedResponse:
        target = require_target(request.target)
        today = self._today()
        account = await self._owed(
            None, target, require_id(request.account_id, "account_id"), today
        )
        return pb.GetAmountOwedResponse(
            owed=owed_to_proto(
                target=target,
                account_id=account.account_id,
                borrower_id=account.borrower_id,
                owed=account.owed,
                ledger_account_id=account.ledger_account_id,
                today=today,
            )
        )

    async def TryRepayment(
        self, request: pb.TryRepaymentRequest, context: Context
    ) -> pb.TryRepaymentResponse:
        target = require_target(request.target)
        account_id = require_id(request.account_id, "account_id")
        repayment_id = require_id(request.repayment_id, "repayment_id")
        amount_fen = amount_from_proto(request.amount)

        async def try_repayment(session: Session) -> pb.TryRepaymentResponse:
            account = await self._owed(session, target, account_id, self._today())
            existing = await self._store.find_repayment(repayment_id, session)
            if existing is not None:
                require_same_repayment(existing, account.account_id, amount_fen)
                return pb.TryRepaymentResponse(repayment=repayment_to_proto(existing))
            repayment = plan_repayment(
                repayment_id=repayment_id,
                target=target,
                account_id=account.account_id,
                borrower_id=account.borrower_id,
                amount_fen=amount_fen,
                ledger_account_id=account.ledger_account_id,
                owed=account.owed,
                automatic=request.automatic,
                now=self._clock.now(),
            )
            await self._store.save_repayment(session, repayment)
            return pb.TryRepaymentResponse(repayment=repayment_to_proto(repayment))

        async with self._borrower_locks.hold([account_id]):
            return await self._idempotent(
                "try-repayment", request, pb.TryRepaymentResponse, try_repayment
            )

    async def ConfirmRepayment(
        self, request: pb.ConfirmRepaymentRequest, context: Context
    ) -> pb.ConfirmRepaymentResponse:
        repayment_id = require_id(request.repayment_id, "repayment_id")
        posting_id = request.payment_posting_id

        async def confirm(session: Session) -> pb.ConfirmRepaymentResponse:
            repayment = await self._store.find_repayment(repayment_id, session)
            if repayment is None:
                raise NotFound(f"repayment {repayment_id} not found")
            if not require_confirmable(repayment, posting_id):
                return pb.ConfirmRepaymentResponse(repayment=repayment_to_proto(repayment))
            payments, extra, credit_fen = await self._apply(session, repayment)
            applied = mark_applied(
                repayment,
                posting_id,
                payments,
                extra=extra,
                credit_fen=credit_fen,
                now=self._clock.now(),
                today=self._today(),
            )
            await self._store.save_repayment(session, applied)
            message = repayment_to_proto(applied)
            await self._events.append(session, "loan.repayment.applied", repayment_id, message)
            report_id = (
                applied.account_id
                if applied.target is RepaymentTarget.CASH_LOAN
                else huabei_account_id(applied.borrower_id)
            )
            await self._report_repayment(session, applied, report_id)
            return pb.ConfirmRepaymentResponse(repayment=message)

        return await self._idempotent(
            "confirm-repayment", request, pb.ConfirmRepaymentResponse, confirm
        )

    async def _apply(
        self, session: Session, repayment: Repayment
    ) -> tuple[list[PeriodPayment], Charges, int]:
        """Apply a repayment to its account: the period payments, principal paid beside them,
        and the credit kept for the next bill."""
        today = self._today()
        if repayment.target is RepaymentTarget.CASH_LOAN:
            return await self._apply_to_cash_loan(session, repayment, today)
        line = await self._store.get_line(repayment.borrower_id, session)
        settled_fen = 0
        if repayment.target is RepaymentTarget.INSTALLMENT_PLAN:
            settled_fen = await self._settle_plan_early(session, repayment.account_id)
            line = replace(line, used_fen=line.used_fen - settled_fen)
        payments, credit_fen = await self._repay_line(
            session, line, repayment.amount_fen - settled_fen, today
        )
        return payments, Charges(principal_fen=settled_fen), credit_fen

    async def _settle_plan_early(self, session: Session, plan_id: str) -> int:
        """Settle a plan's unbilled parts; the principal settled (0 if billed meanwhile)."""
        plan = await self._store.get_plan(plan_id, session)
        if plan.state is not PlanState.ACTIVE or plan.unbilled_principal_fen == 0:
            return 0
        settled = settle_early(plan)
        await self._store.save_plan(session, settled)
        message = plan_to_proto(settled)
        await self._events.append(session, "loan.installment.settled", plan_id, message)
        return plan.unbilled_principal_fen

    async def _repay_line(
        self, session: Session, line: HuabeiLine, amount_fen: int, today: date
    ) -> tuple[list[PeriodPayment], int]:
        accrued = await self._huabei_day(session, line, today)
        # The repayment is applied to the accrued bills; the bucket change is then assessed
        # against the one recorded, so one change is reported.
        repaid = repay_huabei(
            replace(accrued.line, delinquency=line.delinquency), accrued.bills, amount_fen, today
        )
        closed = close_huabei_day(repaid.line, repaid.bills, today)
        await self._save_huabei_day(session, closed, today)
        return repaid.payments, repaid.credit_fen

    async def _apply_to_cash_loan(
        self, session: Session, repayment: Repayment, today: date
    ) -> tuple[list[PeriodPayment], Charges, int]:
        loan = await self._store.get_cash_loan(repayment.account_id, session)
        repaid, payments, prepaid = repay_cash_loan(
            accrue_loan(loan, today), repayment.amount_fen, today
        )
        closed = await self._close_cash_loan(session, repaid, today)
        if closed.loan.state is CashLoanState.SETTLED:
            message = cash_loan_to_proto(closed.loan, today)
            await self._events.append(session, "loan.cash_loan.settled", loan.loan_id, message)
        return payments, prepaid, 0

    async def CancelRepayment(
        self, request: pb.CancelRepaymentRequest, context: Context
    ) -> pb.CancelRepaymentResponse:
        repayment_id = require_id(request.repayment_id, "repayment_id")

        async def cancel(session: Session) -> pb.CancelRepaymentResponse:
            repayment = await self._store.find_repayment(repayment_id, session)
            if repayment is None:
                cancelled = cancel_tombstone(repayment_id, self._clock.now())
            else:
                cancelled = cancel_repayment(repayment)
                if cancelled == repayment:
                    return pb.CancelRepaymentResponse(repayment=repayment_to_proto(repayment))
            await self._store.save_repayment(session, cancelled)
            return pb.CancelRepaymentResponse(repayment=repayment_to_proto(cancelled))

        return await self._idempotent(
            "cancel-repayment", request, pb.CancelRepaymentResponse, cancel
        )

    async def ListRepayments(
        self, request: pb.ListRepaymentsRequest, context: Context
    ) -> pb.ListRepaymentsResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        query = f"repayments:{borrower_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        repayments = await self._store.list_repayments(borrower_id, page_size, after)
        return pb.ListRepaymentsResponse(
            repayments=[repayment_to_proto(repayment) for repayment in repayments],
            page=next_page(
                len(repayments),
                page_size,
                lambda: encode_page_token(
                    query, repayments[-1].tried_at.isoformat(), repayments[-1].repayment_id
                ),
            ),
        )

    async def SetAutoDebit(
        self, request: pb.SetAutoDebitRequest, context: Context
    ) -> pb.SetAutoDebitResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        sources = require_sources(list(request.sources))

        async def set_auto_debit(session: Session) -> pb.SetAutoDebitResponse:
            setting = AutoDebitSetting(borrower_id, request.enabled, sources, self._clock.now())
            await self._store.save_auto_debit(session, setting)
            return pb.SetAutoDebitResponse(setting=auto_debit_to_proto(setting))

        return await self._idempotent(
            "set-auto-debit", request, pb.SetAutoDebitResponse, set_auto_debit
        )

    async def GetAutoDebit(
        self, request: pb.GetAutoDebitRequest, context: Context
    ) -> pb.GetAutoDebitResponse:
        setting = await self._store.get_auto_debit(require_id(request.borrower_id, "borrower_id"))
        return pb.GetAutoDebitResponse(setting=auto_debit_to_proto(setting))
