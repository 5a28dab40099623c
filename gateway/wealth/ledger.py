"""The wealth line's money in the payment ledger: its accounts, and how a payout is posted.

The wealth service keeps shares and holdings; the cash behind them sits in platform
accounts of the payment ledger (colony.wealth.v1 names them), which the gateway opens with
EnsurePlatformAccount before the first wealth operation, once per process.

- The omnibus accounts are *hot* (DESIGN.md "Hot accounts"): every purchase's capture
  credits one, so their credits spread over sub-accounts instead of queueing on one
  document; a payout debits them drawing from the sub-accounts.
- A payout (money a wealth account owes: a redemption, a maturity, the fund's daily
  income) is one PlatformTransfer of its amount from its from_account_id to its
  to_account_id, keyed by the payout ("wealth-payout:<payout_id>"), so whoever retries (a
  saga after a crash, the daily job run twice) posts it at most once.
- Undoing a payout (a saga compensating after it was posted) first replays that keyed
  transfer, which settles the race with a call still in flight: after the replay the
  payout is posted exactly once, or certainly never. Then, if it was posted, the amount
  goes back from the receiver (a hold captured into the paying account) -- refused, and
  the saga parked for an operator, if the receiver has spent it meanwhile.
- The fund's earnings (Yu'e Bao's daily income, the issuers' fixed-term interest) come
  into the ledger from outside it: their accounts (platform:wealth:yuebao_income,
  :fixed_term_interest) are *external-party* accounts which, like the bank's clearing
  account, may go negative -- their balance is what the portfolio has earned for investors.
"""

from __future__ import annotations

import asyncio
import logging

from chassis.errors import DomainError
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.representations import money_to_proto

log = logging.getLogger("colony.gateway.wealth")

YUEBAO_OMNIBUS_ACCOUNT_ID = "platform:wealth:yuebao_omnibus"
YUEBAO_INCOME_ACCOUNT_ID = "platform:wealth:yuebao_income"
FIXED_TERM_OMNIBUS_ACCOUNT_ID = "platform:wealth:fixed_term_omnibus"
FIXED_TERM_INTEREST_ACCOUNT_ID = "platform:wealth:fixed_term_interest"
FUNDS_OMNIBUS_ACCOUNT_ID = "platform:wealth:funds_omnibus"

# Credited by every purchase of their line: hot (see the module docstring).
OMNIBUS_HOT_SHARDS = 16
PLATFORM_ACCOUNTS = (
    (YUEBAO_OMNIBUS_ACCOUNT_ID, "余额宝 Yu'e Bao omnibus"),
    (FIXED_TERM_OMNIBUS_ACCOUNT_ID, "招财宝 Zhaocaibao omnibus"),
)
# Accounts standing for money outside the platform: external-party accounts, which may go
# negative. The portfolios' earnings enter the ledger through the first two. The fund
# marketplace's account is the fund houses' clearing: buys flow out to the funds and sales
# flow back at the day's NAV, so its balance is the net cash with the fund houses, and a
# sale at a gain (more back than went in) takes it below zero, as it should.
EXTERNAL_ACCOUNTS = (
    (YUEBAO_INCOME_ACCOUNT_ID, "余额宝 Yu'e Bao portfolio income"),
    (FIXED_TERM_INTEREST_ACCOUNT_ID, "招财宝 Zhaocaibao issuers' interest"),
    (FUNDS_OMNIBUS_ACCOUNT_ID, "蚂蚁聚宝 fund houses' clearing"),
)
EXTERNAL_ACCOUNT_IDS = frozenset(account_id for account_id, _ in EXTERNAL_ACCOUNTS)

PAYOUT_KEY_PREFIX = "wealth-payout:"
PAYOUT_MEMO = "wealth payout"
EARNINGS_MEMO = "wealth earnings"
PAYOUT_REVERSAL_MEMO = "wealth payout undone"


def payout_key(payout_id: str) -> str:
    """The payment idempotency key (and hold id) of a payout, as colony.wealth.v1 defines it."""
    return PAYOUT_KEY_PREFIX + payout_id


class WealthLedger:
    """Opens the wealth accounts in the payment ledger and posts payouts there."""

    def __init__(self, payment: PaymentClient) -> None:
        self._payment = payment
        self._accounts_ready = False
        self._lock = asyncio.Lock()

    async def ensure_accounts(self) -> None:
        """Open the wealth line's platform accounts (idempotent; once per process)."""
        if self._accounts_ready:
            return
        async with self._lock:
            if not self._accounts_ready:
                for account_id, display_name in PLATFORM_ACCOUNTS:
                    response = await self._payment.ensure_platform_account(
                        pb.EnsurePlatformAccountRequest(
                            account_id=account_id,
                            display_name=display_name,
                            hot_shards=OMNIBUS_HOT_SHARDS,
                        )
                    )
                    if not response.account.hot_shards:
                        await self._make_hot(account_id)
                for account_id, display_name in EXTERNAL_ACCOUNTS:
                    await self._payment.ensure_platform_account(
                        pb.EnsurePlatformAccountRequest(
                            account_id=account_id, display_name=display_name, external_party=True
                        )
                    )
                self._accounts_ready = True

    async def _make_hot(self, account_id: str) -> None:
        """Turn hot an omnibus account opened before they were (by an earlier version)."""
        try:
            await self._payment.set_account_hot(account_id, OMNIBUS_HOT_SHARDS)
        except DomainError as error:
            # Holds still open on it (an earlier version's payouts): it keeps working, not
            # hot, and the next process start tries again.
            log.warning(
                "omnibus account left not hot: %s", error.message, extra={"account_id": account_id}
            )

    async def post_payout(
        self, payout_id: str, from_account_id: str, to_account_id: str, amount: Money
    ) -> str:
        """Post a payout whole; the posting's id (the same on every retry)."""
        response = await self._payment.platform_transfer(
            pb.PlatformTransferRequest(
                idempotency_key=payout_key(payout_id),
                from_account_id=from_account_id,
                to_account_id=to_account_id,
                amount=money_to_proto(amount),
                memo=EARNINGS_MEMO if from_account_id in EXTERNAL_ACCOUNT_IDS else PAYOUT_MEMO,
                reference=payout_id,
            )
        )
        return response.posting.posting_id

    async def undo_payout(
        self,
        payout_id: str,
        from_account_id: str,
        to_account_id: str,
        amount: Money,
        reversal_key: str,
    ) -> bool:
        """Take back a payout a saga may have posted; True if there was one to take back.

        reversal_key names the reversal (a hold on the receiver, captured into the paying
        account), so a retried undo takes the money back once.
        """
        try:
            await self.post_payout(payout_id, from_account_id, to_account_id, amount)
        except DomainError as error:
            if error.is_refusal:
                return False  # refused again: it never moved anything
            raise
        await self._payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=reversal_key,
                account_id=to_account_id,
                amount=money_to_proto(amount),
                memo=PAYOUT_REVERSAL_MEMO,
            )
        )
        await self._payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=reversal_key, credit_account_id=from_account_id, memo=PAYOUT_REVERSAL_MEMO
            )
        )
        return True
