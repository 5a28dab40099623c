"""Helpers of the insurance tests: the books checked against the ledger, quotes, purchases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from chassis.errors import DomainError
from chassis.settings import ServiceSettings
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient, PaymentClient
from gateway.tests.conftest import User
from gateway.tests.saga_support import new_key
from infra.cli import audit
from services.payment.store import PaymentStore

Client = TestClient[Any, Any]


@dataclass(frozen=True, slots=True)
class InsuranceBooks:
    """The payment ledger and the insurance books, reconciled at rest."""

    payment: PaymentClient
    insurance: InsuranceClient
    store: PaymentStore
    settings: tuple[ServiceSettings, ...]

    async def balance_fen(self, account_id: str) -> int:
        try:
            return (await self.payment.get_account(account_id)).balance.amount_fen
        except DomainError:
            return 0

    async def check(self) -> dict[str, int]:
        """Every insurance account holds what the insurance books say, nothing pending, the
        ledger's own audit and `colony audit` clean; each account's balance."""
        assert await self.store.audit_ledger() == []
        report = await self.insurance.get_insurance_audit()
        assert list(report.breaches) == []
        balances: dict[str, int] = {}
        for figures in report.accounts:
            assert figures.pending.amount_fen == 0, figures
            balance = await self.balance_fen(figures.account_id)
            assert balance == figures.expected_balance_fen, (figures, balance)
            balances[figures.account_id] = balance
        assert await audit(*self.settings) == []
        return balances


async def quote(gateway: Client, user: User, **body: Any) -> dict[str, Any]:
    response = await gateway.post("/v1/insurance/quotes", json=body, headers=user.headers)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def buy(
    gateway: Client, user: User, quote_id: str, key: str | None = None, **options: Any
) -> Any:
    return await gateway.post(
        "/v1/insurance/policies",
        json={"quote_id": quote_id, **options},
        headers=user.keyed(key or new_key()),
    )


async def policy_of(gateway: Client, user: User, policy_id: str) -> dict[str, Any]:
    response = await gateway.get(f"/v1/insurance/policies/{policy_id}", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def claim_of(gateway: Client, user: User, claim_id: str) -> dict[str, Any]:
    response = await gateway.get(f"/v1/insurance/claims/{claim_id}", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


def insurance_pb() -> Any:
    return ipb


NewUser = Callable[..., Awaitable[User]]
