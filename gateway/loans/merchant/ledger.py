"""Merchant lending's money in the payment ledger: platform:loan:merchant (facilities) and
platform:loan:order (order loans, which the payment service's withholdings repay).

Like the consumer loan accounts (gateway.loans.ledger) it is an external-party account: the
lender's money comes from outside the ledger, so its balance is collected - lent. Lending
is one keyed PlatformTransfer into the merchant's balance ("loan-facility:<id>",
"loan-draw:<id>"), undone by replaying it and taking it back with a hold captured into the
account; repayments are a keyed hold on the merchant's balance captured into the account.
"""

from __future__ import annotations

import asyncio

from chassis.errors import DomainError
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.representations import money_to_proto

MERCHANT_LOAN_ACCOUNT_ID = "platform:loan:merchant"
ORDER_LOAN_ACCOUNT_ID = "platform:loan:order"
ACCOUNTS = (
    (MERCHANT_LOAN_ACCOUNT_ID, "阿里小贷 merchant facilities"),
    (ORDER_LOAN_ACCOUNT_ID, "订单贷款 order loans"),
)
ORDER_KEY_PREFIX = "loan-order:"
EXCESS_KEY_PREFIX = "loan-order-excess:"
EXCESS_MEMO = "order loan: withheld beyond the debt, given back"
FACILITY_KEY_PREFIX = "loan-facility:"
DRAW_KEY_PREFIX = "loan-draw:"
LEND_MEMO = "merchant loan payout"
REVERSAL_MEMO = "merchant loan payout undone"


class MerchantLoanLedger:
    """Opens platform:loan:merchant and moves money in and out of it."""

    def __init__(self, payment: PaymentClient) -> None:
        self._payment = payment
        self._ready = False
        self._lock = asyncio.Lock()

    @property
    def payment(self) -> PaymentClient:
        return self._payment

    async def ensure_account(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                for account_id, display_name in ACCOUNTS:
                    await self._payment.ensure_platform_account(
                        pb.EnsurePlatformAccountRequest(
                            account_id=account_id, display_name=display_name, external_party=True
                        )
                    )
                self._ready = True

    async def lend(
        self,
        key: str,
        merchant_id: str,
        amount: Money,
        reference: str,
        *,
        account_id: str = MERCHANT_LOAN_ACCOUNT_ID,
        memo: str = LEND_MEMO,
    ) -> str:
        """The keyed transfer into the merchant's balance; its posting id."""
        await self.ensure_account()
        response = await self._payment.platform_transfer(
            pb.PlatformTransferRequest(
                idempotency_key=key,
                from_account_id=account_id,
                to_account_id=merchant_id,
                amount=money_to_proto(amount),
                memo=memo,
                reference=reference,
            )
        )
        return response.posting.posting_id

    async def undo_lend(
        self,
        key: str,
        merchant_id: str,
        amount: Money,
        reference: str,
        reversal_key: str,
        *,
        account_id: str = MERCHANT_LOAN_ACCOUNT_ID,
    ) -> bool:
        """Take back a payout the saga may have made; True if there was one."""
        try:
            await self.lend(key, merchant_id, amount, reference, account_id=account_id)
        except DomainError as error:
            if error.is_refusal:
                return False  # refused again: it never moved anything
            raise
        await self.hold(reversal_key, merchant_id, amount, REVERSAL_MEMO)
        await self.capture(reversal_key, REVERSAL_MEMO, account_id=account_id)
        return True

    async def hold(self, hold_id: str, merchant_id: str, amount: Money, memo: str) -> None:
        await self.ensure_account()
        await self._payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=hold_id, account_id=merchant_id, amount=money_to_proto(amount), memo=memo
            )
        )

    async def capture(
        self, hold_id: str, memo: str, *, account_id: str = MERCHANT_LOAN_ACCOUNT_ID
    ) -> str:
        response = await self._payment.capture_hold(
            pb.CaptureHoldRequest(hold_id=hold_id, credit_account_id=account_id, memo=memo)
        )
        return response.posting.posting_id

    async def void(self, hold_id: str, reason: str) -> None:
        await self._payment.void_hold(pb.VoidHoldRequest(hold_id=hold_id, reason=reason))
