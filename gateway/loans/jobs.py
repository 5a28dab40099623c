"""The loan business-date job, as the gateway runs it (on a schedule or by an operator).

1. RunLoanJobs does the loan service's part of a date (bills of the statement day,
   accrual, delinquency buckets and their events), idempotent by date in the service: a
   date run again answers ``already_completed`` and changes nothing.
2. The auto-debits due (ListDueAutoDebits: accounts with auto-debit on and something due
   by the date) are each a loan_repayment saga (gateway.loans.sagas.repayment) taking the
   amount due from the borrower's sources in their order (balance, then Yu'e Bao, split
   across them). The repayment id is the loan service's ``auto:<account>:<date>`` and the
   saga id derives from it, so a date run again (or by two replicas) takes once. A
   borrower whose sources cannot cover the amount is left for the next date (and the
   overdue rules): the debit is counted as failed, nothing moves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from chassis.errors import DomainError
from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import LoanClient, PaymentClient
from gateway.loans.sagas.repayment import repayment_input
from gateway.payment.methods import PaymentMethod
from gateway.payment.wallet_funding import WalletFunding
from gateway.sagas.definition import SagaDefinition, SagaState, derive_saga_id
from gateway.sagas.engine import SagaEngine

log = logging.getLogger("colony.gateway.loans")

DEBITS_PAGE_SIZE = 100
DEBIT_PAGES_MAX = 100
SOURCES_DEFAULT = (PaymentMethod.BALANCE, PaymentMethod.YUEBAO)


@dataclass(frozen=True, slots=True)
class LoanJobsReport:
    run: lpb.LoanJobRun
    auto_debits_completed: int
    auto_debits_failed: int


class LoanJobs:
    """Runs the loan job of a business date, then its auto-debits."""

    def __init__(
        self,
        loan: LoanClient,
        payment: PaymentClient,
        funding: WalletFunding,
        engine: SagaEngine,
        repayment: SagaDefinition,
        *,
        wait_seconds: float,
    ) -> None:
        self._loan = loan
        self._payment = payment
        self._funding = funding
        self._engine = engine
        self._repayment = repayment
        self._wait_seconds = wait_seconds

    async def run(self, business_date: date) -> LoanJobsReport:
        response = await self._loan.run_loan_jobs(
            lpb.RunLoanJobsRequest(
                idempotency_key=f"loan-jobs:{business_date.isoformat()}",
                business_date=business_date.isoformat(),
            )
        )
        completed = failed = 0
        page_token = ""
        for _ in range(DEBIT_PAGES_MAX):
            page = await self._loan.list_due_auto_debits(
                lpb.ListDueAutoDebitsRequest(
                    business_date=business_date.isoformat(),
                    page=paging_pb2.PageRequest(page_size=DEBITS_PAGE_SIZE, page_token=page_token),
                )
            )
            for debit in page.debits:
                if await self._debit(debit):
                    completed += 1
                else:
                    failed += 1
            page_token = page.page.next_page_token
            if not page_token:
                break
        return LoanJobsReport(response.run, completed, failed)

    async def _debit(self, debit: lpb.DueAutoDebit) -> bool:
        """Start (or find) the debit's repayment saga; True if it completed."""
        amount = Money(debit.amount.amount_fen, debit.amount.currency or "CNY")
        sources = tuple(PaymentMethod(source) for source in debit.sources) or SOURCES_DEFAULT
        try:
            account = await self._payment.get_account(debit.borrower_id)
            funding = await self._funding.plan(debit.borrower_id, amount, sources, split=True)
            record = await self._engine.start(
                self._repayment,
                saga_id=derive_saga_id(account.owner_ref, debit.repayment_id),
                owner_user_id=account.owner_ref,
                saga_input=repayment_input(
                    repayment_id=debit.repayment_id,
                    borrower_account_id=debit.borrower_id,
                    target=debit.target,
                    account_id=debit.account_id,
                    ledger_account_id=debit.ledger_account_id,
                    amount=amount,
                    funding=funding,
                    automatic=True,
                ),
                fingerprint=debit.repayment_id,
                wait_seconds=self._wait_seconds,
            )
        except DomainError as error:
            log.warning(
                "auto-debit not taken: %s",
                error.message,
                extra={"repayment_id": debit.repayment_id, "reason": error.reason},
            )
            return False
        return record.state is SagaState.COMPLETED
