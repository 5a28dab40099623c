"""The insurance line's money in the payment ledger: its accounts, and how money moves there.

The insurance service keeps the books; the cash sits in the payment ledger
(colony.insurance.v1 names the accounts):

- ``platform:insurance:omnibus`` (an ordinary platform account: it never goes negative)
  receives every premium, passes the net premium on to the insurer, and pays refunds and
  claims once the insurer has funded them;
- ``platform:insurance:insurer:<id>``, one per partner insurer, external-party accounts:
  an insurer's money comes from outside the ledger, so its balance is net premiums less what
  it funded, and may go negative.

The gateway opens them with EnsurePlatformAccount before the first insurance movement, once
per process. Every movement between them is one PlatformTransfer keyed by what it pays
("insurance-premium:<policy id>", ...), so a retried saga step posts it at most once.
"""

from __future__ import annotations

import asyncio

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import InsuranceClient, PaymentClient
from gateway.edge.representations import money_to_proto

OMNIBUS_ACCOUNT_ID = "platform:insurance:omnibus"
OMNIBUS_DISPLAY_NAME = "保险 insurance omnibus"


def premium_key(policy_id: str) -> str:
    """The key of the net premium passed on to the insurer (as colony.insurance.v1 names it)."""
    return f"insurance-premium:{policy_id}"


def refund_funding_key(policy_id: str) -> str:
    return f"insurance-refund-funding:{policy_id}"


def refund_key(policy_id: str) -> str:
    return f"insurance-refund:{policy_id}"


def claim_funding_key(claim_id: str) -> str:
    return f"insurance-claim-funding:{claim_id}"


def claim_payout_key(claim_id: str) -> str:
    return f"insurance-claim:{claim_id}"


class InsuranceLedger:
    """Opens the insurance accounts in the payment ledger and moves money between them."""

    def __init__(self, payment: PaymentClient, insurance: InsuranceClient) -> None:
        self._payment = payment
        self._insurance = insurance
        self._accounts_ready = False
        self._lock = asyncio.Lock()

    async def ensure_accounts(self) -> None:
        """Open the omnibus and every insurer's account (idempotent; once per process)."""
        if self._accounts_ready:
            return
        async with self._lock:
            if self._accounts_ready:
                return
            await self._payment.ensure_platform_account(
                pb.EnsurePlatformAccountRequest(
                    account_id=OMNIBUS_ACCOUNT_ID, display_name=OMNIBUS_DISPLAY_NAME
                )
            )
            products = (await self._insurance.list_products()).products
            insurers = {product.insurer_account_id: product.insurer_id for product in products}
            for account_id, insurer_id in sorted(insurers.items()):
                await self._payment.ensure_platform_account(
                    pb.EnsurePlatformAccountRequest(
                        account_id=account_id,
                        display_name=f"insurer {insurer_id}",
                        external_party=True,
                    )
                )
            self._accounts_ready = True

    async def transfer(
        self, key: str, from_account_id: str, to_account_id: str, amount: Money, memo: str
    ) -> str:
        """One keyed PlatformTransfer; its posting id (the same on every retry)."""
        await self.ensure_accounts()
        response = await self._payment.platform_transfer(
            pb.PlatformTransferRequest(
                idempotency_key=key,
                from_account_id=from_account_id,
                to_account_id=to_account_id,
                amount=money_to_proto(amount),
                memo=memo,
                reference=key,
            )
        )
        return response.posting.posting_id
