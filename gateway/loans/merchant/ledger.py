"""Merchant lending's money in the payment ledger: it lends the loan business's own cash.

Facilities and order loans are paid out of ``platform:loan:capital`` (the platform account,
never negative, that capital and bank borrowing pay into: gateway.loans.merchant.funding),
and every repayment, withholding (the payment service's settlement credits it), ABS
purchase price and excess spread comes back into it; collections passed to ABS pools and
excess given back leave it. So the capital the capacity rule counts is the cash lent: its
balance is capital + bank borrowing - merchant principal outstanding + income retained
(docs/loans.md "Funding"; `colony audit` checks it). MERCHANT_LOAN_ACCOUNT_ID and
ORDER_LOAN_ACCOUNT_ID name where each product's money moves (both the capital account); the
loan service keeps each product's books apart (platform:loan:merchant, platform:loan:order
are the books' names). Lending is one keyed PlatformTransfer into the merchant's balance
("loan-facility:<id>", "loan-draw:<id>", "loan-order:<id>"), undone by replaying it and
taking it back with a hold captured into the account; repayments are a keyed hold on the
merchant's balance captured into the account.
"""

from __future__ import annotations

from chassis.money import Money
from gateway.clients import PaymentClient
from gateway.loans.ledger import LoanAccounts
from gateway.loans.merchant.funding import CAPITAL_ACCOUNT_ID, CAPITAL_DISPLAY_NAME

MERCHANT_LOAN_ACCOUNT_ID = CAPITAL_ACCOUNT_ID
ORDER_LOAN_ACCOUNT_ID = CAPITAL_ACCOUNT_ID
ACCOUNTS = ((CAPITAL_ACCOUNT_ID, CAPITAL_DISPLAY_NAME, False),)
ORDER_KEY_PREFIX = "loan-order:"
EXCESS_KEY_PREFIX = "loan-order-excess:"
EXCESS_MEMO = "order loan: withheld beyond the debt, given back"
FACILITY_KEY_PREFIX = "loan-facility:"
DRAW_KEY_PREFIX = "loan-draw:"
LEND_MEMO = "merchant loan payout"


class MerchantLoanLedger(LoanAccounts):
    """Opens platform:loan:capital and moves merchant lending's money in and out of it
    (gateway.loans.ledger.LoanAccounts over that account)."""

    def __init__(self, payment: PaymentClient) -> None:
        super().__init__(payment, ACCOUNTS)

    async def ensure_account(self) -> None:
        await self.ensure_accounts()

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
        return await self.transfer(
            key, account_id, merchant_id, amount, memo=memo, reference=reference
        )

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
        return await self.undo_transfer(
            key,
            account_id,
            merchant_id,
            amount,
            memo=LEND_MEMO,
            reference=reference,
            reversal_key=reversal_key,
        )

    async def capture(
        self, hold_id: str, memo: str, *, account_id: str = MERCHANT_LOAN_ACCOUNT_ID
    ) -> str:
        return await super().capture(hold_id, memo, account_id=account_id)
