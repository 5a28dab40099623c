"""Helpers of the wealth tests: the books check that closes every step, and REST shorthands.

The books check is the issue's invariant, asked of the real services after every step:
- the payment ledger's own audit finds nothing (every balance = its entries, all sum to 0);
- the wealth service finds no breach of its own invariants;
- each wealth omnibus account's payment balance is what the wealth records say it must be
  (GetWealthAudit's expected_balance: what is owed to investors, plus payouts owed, less
  payouts receivable);
- and, once no payout is owed either way, the Yu'e Bao omnibus balance equals the shares
  outstanding exactly;
- with the loan service (``Books.of(..., loans=True)``): the loan service finds no breach
  of its books, and each loan ledger account's payment balance is what they say it must
  hold at rest (collected less lent; GetLoanAudit's expected_balance_fen).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from aiohttp.test_utils import TestClient

from chassis.errors import DomainError
from chassis.mongo import MongoClient
from colony.loan.v1 import loan_pb2 as lpb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import LoanClient, PaymentClient, ServiceChannels, WealthClient
from gateway.tests.conftest import User, log_in
from gateway.tests.saga_support import new_key
from gateway.wealth.ledger import YUEBAO_OMNIBUS_ACCOUNT_ID
from services.payment.store import PaymentStore

Client = TestClient[Any, Any]
RPC_DEADLINE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class YuebaoBooks:
    """The Yu'e Bao figures of one books check."""

    omnibus_fen: int
    shares_outstanding_fen: int
    payouts_owed_fen: int
    receivable_fen: int


@dataclass(frozen=True, slots=True)
class Books:
    """The two ledgers a wealth test reconciles: payment's and wealth's, through their RPCs."""

    payment: PaymentClient
    wealth: WealthClient
    store: PaymentStore
    loan: LoanClient | None = None

    @classmethod
    def of(
        cls,
        channels: ServiceChannels,
        mongo_client: MongoClient,
        database_name: str,
        *,
        loans: bool = False,
    ) -> Books:
        """The books of a test module's services (the payment database of the root conftest)."""
        return cls(
            payment=PaymentClient(channels.payment, RPC_DEADLINE_SECONDS),
            wealth=WealthClient(channels.wealth, RPC_DEADLINE_SECONDS),
            store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            loan=LoanClient(channels.loan, RPC_DEADLINE_SECONDS) if loans else None,
        )

    async def check_loans(self) -> dict[str, int]:
        """The loan books against the payment ledger, at rest; each loan account's balance."""
        assert self.loan is not None
        assert await self.store.audit_ledger() == []
        audit = await self.loan.get_loan_audit(lpb.GetLoanAuditRequest())
        assert list(audit.breaches) == []
        balances: dict[str, int] = {}
        for figures in audit.accounts:
            assert figures.pending.amount_fen == 0, figures
            try:
                account = await self.payment.get_account(figures.account_id)
            except DomainError:
                assert figures.expected_balance_fen == 0, figures  # never opened: nothing lent
                continue
            assert account.balance.amount_fen == figures.expected_balance_fen, (figures, account)
            balances[figures.account_id] = account.balance.amount_fen
        return balances

    async def check(self, *, settled: bool = False) -> YuebaoBooks:
        """Assert the invariants (see the module docstring); settled: nothing owed either way."""
        assert await self.store.audit_ledger() == []
        audit = await self.wealth.get_wealth_audit(wpb.GetWealthAuditRequest())
        assert list(audit.breaches) == []
        yuebao: wpb.OmnibusFigures | None = None
        for figures in audit.omnibus:
            account = await self.payment.get_account(figures.account_id)
            assert account.balance.amount_fen == figures.expected_balance.amount_fen, (
                figures,
                account.balance,
            )
            assert figures.pending_purchases.amount_fen == 0, figures
            if figures.account_id == YUEBAO_OMNIBUS_ACCOUNT_ID:
                yuebao = figures
        assert yuebao is not None
        fund = await self.wealth.get_yuebao_fund(wpb.GetYuebaoFundRequest())
        omnibus = await self.payment.get_account(YUEBAO_OMNIBUS_ACCOUNT_ID)
        books = YuebaoBooks(
            omnibus_fen=omnibus.balance.amount_fen,
            shares_outstanding_fen=fund.shares_outstanding.amount_fen,
            payouts_owed_fen=yuebao.payouts_owed.amount_fen,
            receivable_fen=yuebao.receivable.amount_fen,
        )
        assert books.shares_outstanding_fen == yuebao.liabilities.amount_fen
        assert books.omnibus_fen == (
            books.shares_outstanding_fen + books.payouts_owed_fen - books.receivable_fen
        )
        if settled:
            assert (books.payouts_owed_fen, books.receivable_fen) == (0, 0), books
            assert books.omnibus_fen == books.shares_outstanding_fen
        if self.loan is not None:
            await self.check_loans()
        return books


async def relog(gateway: Client, *users: User) -> None:
    """Fresh access tokens (a moved clock expires the old ones)."""
    for user in users:
        user.access_token = await log_in(gateway, user.phone, user.password)


async def subscribe_yuebao(
    gateway: Client, user: User, amount_fen: int, key: str | None = None
) -> Any:
    return await gateway.post(
        "/v1/wealth/yuebao/subscriptions",
        json={"amount_fen": amount_fen},
        headers=user.keyed(key or new_key()),
    )


async def redeem_yuebao(
    gateway: Client, user: User, amount_fen: int, key: str | None = None
) -> Any:
    return await gateway.post(
        "/v1/wealth/yuebao/redemptions",
        json={"amount_fen": amount_fen},
        headers=user.keyed(key or new_key()),
    )


async def completed(response: Any) -> dict[str, Any]:
    """The result of an operation that completed inline (201)."""
    body_text = await response.text()
    assert response.status == 201, body_text
    operation = await response.json()
    assert operation["state"] == "completed", operation
    return dict(operation["result"])


async def yuebao_holding(gateway: Client, user: User) -> dict[str, Any]:
    response = await gateway.get("/v1/wealth/yuebao", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def run_wealth_jobs(gateway: Client, operator: User, business_date: date) -> dict[str, Any]:
    response = await gateway.post(
        "/v1/admin/jobs/wealth",
        json={"business_date": business_date.isoformat()},
        headers=operator.headers,
    )
    assert response.status == 200, await response.text()
    report = dict(await response.json())
    assert report["payouts"]["failed"] == 0, report
    return report


def fen(money: dict[str, Any]) -> int:
    return int(money["amount_fen"])
