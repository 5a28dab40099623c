"""The loan line's money in the payment ledger: its accounts, and how money moves there.

The loan service keeps the books; the cash sits in two external-party accounts of the
payment ledger (colony.loan.v1 names them), which, like the bank's clearing account, may
go negative: the lender's money comes from outside the ledger, so their balances are what
was collected less what was lent. The gateway opens them with EnsurePlatformAccount before
the first loan operation, once per process.

- Lending (a Huabei purchase's funding, a cash-loan disbursement) is one PlatformTransfer
  from the loan account to the borrower, keyed ("loan-huabei:<id>", "loan-disburse:<id>")
  so a retried step posts it at most once.
- Undoing a lending transfer replays that keyed transfer first (after the replay it has
  happened exactly once, or certainly never), then takes the amount back from the borrower
  with a hold captured into the loan account -- refused, and the saga parked for an
  operator, if the borrower has spent it meanwhile (as gateway.wealth.ledger undoes a
  payout).
"""

from __future__ import annotations

import asyncio

from chassis.errors import DomainError
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.representations import money_to_proto

HUABEI_ACCOUNT_ID = "platform:loan:huabei"
CASH_LOAN_ACCOUNT_ID = "platform:loan:cash_loan"
# (account id, display name, external party)
LOAN_ACCOUNTS = (
    (HUABEI_ACCOUNT_ID, "花呗 Huabei credit line", True),
    (CASH_LOAN_ACCOUNT_ID, "借呗 Jiebei cash loans", True),
)

HUABEI_KEY_PREFIX = "loan-huabei:"
DISBURSEMENT_KEY_PREFIX = "loan-disburse:"
HUABEI_MEMO = "Huabei purchase funding"
DISBURSEMENT_MEMO = "cash loan disbursement"
REVERSAL_MEMO = "loan transfer undone"


def huabei_key(reservation_id: str) -> str:
    """The payment idempotency key of a Huabei purchase's funding, as colony.loan.v1 names it."""
    return HUABEI_KEY_PREFIX + reservation_id


def disbursement_key(loan_id: str) -> str:
    """The payment idempotency key of a cash loan's disbursement."""
    return DISBURSEMENT_KEY_PREFIX + loan_id


class LoanAccounts:
    """External-party loan accounts of the payment ledger (opened once per process) and the
    moves every loan line makes: a keyed transfer out to a borrower, a keyed hold on a
    borrower captured into an account, and the undoing of a transfer. LoanLedger (consumer
    loans) and gateway.loans.merchant.ledger.MerchantLoanLedger are this over their accounts."""

    def __init__(self, payment: PaymentClient, accounts: tuple[tuple[str, str, bool], ...]) -> None:
        self._payment = payment
        self._accounts = accounts
        self._accounts_ready = False
        self._lock = asyncio.Lock()

    @property
    def payment(self) -> PaymentClient:
        return self._payment

    async def ensure_accounts(self) -> None:
        """Open the accounts (idempotent; once per process)."""
        if self._accounts_ready:
            return
        async with self._lock:
            if not self._accounts_ready:
                for account_id, display_name, external in self._accounts:
                    await self._payment.ensure_platform_account(
                        pb.EnsurePlatformAccountRequest(
                            account_id=account_id,
                            display_name=display_name,
                            external_party=external,
                        )
                    )
                self._accounts_ready = True

    async def transfer(
        self,
        key: str,
        from_account_id: str,
        to_account_id: str,
        amount: Money,
        *,
        memo: str,
        reference: str,
    ) -> str:
        """A keyed transfer (the same posting on every retry); its posting id."""
        await self.ensure_accounts()
        response = await self._payment.platform_transfer(
            pb.PlatformTransferRequest(
                idempotency_key=key,
                from_account_id=from_account_id,
                to_account_id=to_account_id,
                amount=money_to_proto(amount),
                memo=memo,
                reference=reference,
            )
        )
        return str(response.posting.posting_id)

    async def hold(self, hold_id: str, account_id: str, amount: Money, memo: str) -> None:
        await self.ensure_accounts()
        await self._payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=hold_id, account_id=account_id, amount=money_to_proto(amount), memo=memo
            )
        )

    async def capture(self, hold_id: str, memo: str, *, account_id: str) -> str:
        response = await self._payment.capture_hold(
            pb.CaptureHoldRequest(hold_id=hold_id, credit_account_id=account_id, memo=memo)
        )
        return str(response.posting.posting_id)

    async def void(self, hold_id: str, reason: str) -> None:
        await self._payment.void_hold(pb.VoidHoldRequest(hold_id=hold_id, reason=reason))

    async def collect(
        self, hold_id: str, borrower_id: str, account_id: str, amount: Money, memo: str
    ) -> str:
        """Move amount from the borrower into a loan account: a keyed hold, captured; the
        posting id (the same on every retry)."""
        await self.hold(hold_id, borrower_id, amount, memo)
        return await self.capture(hold_id, memo, account_id=account_id)

    async def undo_transfer(
        self,
        key: str,
        from_account_id: str,
        to_account_id: str,
        amount: Money,
        *,
        memo: str,
        reference: str,
        reversal_key: str,
    ) -> bool:
        """Take back a keyed transfer a saga may have posted; True if there was one."""
        try:
            await self.transfer(
                key, from_account_id, to_account_id, amount, memo=memo, reference=reference
            )
        except DomainError as error:
            if error.is_refusal:
                return False  # refused again: it never moved anything
            raise
        await self.collect(reversal_key, to_account_id, from_account_id, amount, REVERSAL_MEMO)
        return True


def _lend_memo(from_account_id: str) -> str:
    return HUABEI_MEMO if from_account_id == HUABEI_ACCOUNT_ID else DISBURSEMENT_MEMO


class LoanLedger(LoanAccounts):
    """Opens the loan accounts in the payment ledger and moves money in and out of them."""

    def __init__(self, payment: PaymentClient) -> None:
        super().__init__(payment, LOAN_ACCOUNTS)

    async def lend(
        self, key: str, from_account_id: str, to_account_id: str, amount: Money, *, reference: str
    ) -> str:
        """Post a keyed transfer from a loan account to a borrower; the posting id."""
        return await self.transfer(
            key,
            from_account_id,
            to_account_id,
            amount,
            memo=_lend_memo(from_account_id),
            reference=reference,
        )

    async def undo_lend(
        self,
        key: str,
        *,
        from_account_id: str,
        to_account_id: str,
        amount: Money,
        reference: str,
        reversal_key: str,
    ) -> bool:
        """Take back a lending transfer a saga may have posted; True if there was one."""
        return await self.undo_transfer(
            key,
            from_account_id,
            to_account_id,
            amount,
            memo=_lend_memo(from_account_id),
            reference=reference,
            reversal_key=reversal_key,
        )
