"""Merchant lending's money in the payment ledger: platform:loan:merchant (facilities) and
platform:loan:order (order loans, which the payment service's withholdings repay).

Like the consumer loan accounts (gateway.loans.ledger) it is an external-party account: the
lender's money comes from outside the ledger, so its balance is collected - lent. Lending
is one keyed PlatformTransfer into the merchant's balance ("loan-facility:<id>",
"loan-draw:<id>"), undone by replaying it and taking it back with a hold captured into the
account; repayments are a keyed hold on the merchant's balance captured into the account.
"""

from __future__ import annotations

from chassis.money import Money
from gateway.clients import PaymentClient
from gateway.loans.ledger import LoanAccounts

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


class MerchantLoanLedger(LoanAccounts):
    """Opens platform:loan:merchant and platform:loan:order and moves money in and out of
    them (gateway.loans.ledger.LoanAccounts over these accounts)."""

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
