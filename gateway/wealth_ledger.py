"""The wealth line's money in the payment ledger: its accounts, and how a payout is posted.

The wealth service keeps shares and holdings; the cash behind them sits in platform
accounts of the payment ledger (colony.wealth.v1 names them), which the gateway opens with
EnsurePlatformAccount before the first wealth operation, once per process.

A payout (money a wealth account owes: a redemption, a maturity, the fund's daily income)
is one movement of its amount from its from_account_id to its to_account_id, made with the
payment RPCs that exist today: a hold on the paying account whose id is the payout's key
("wealth-payout:<payout_id>"), captured into the receiving account. Both calls are
idempotent by that id, so whoever retries (a saga after a crash, the daily job run twice)
posts the payout at most once. Two consequences of the payment contract as it stands:

- The omnibus accounts are opened *not hot*: the payment service refuses holds on a hot
  account, and a hold is the only way to debit a platform account (Transfer takes personal
  and merchant payers only). Every purchase's capture credits one omnibus document, so
  purchases of one product line serialise on it; a payment RPC that debits a hot platform
  account would let them spread over sub-accounts.
- The fund's earnings (Yu'e Bao's daily income, the issuers' fixed-term interest) come
  into the ledger from outside it: their accounts (platform:wealth:yuebao_income,
  :fixed_term_interest) are *external-party* accounts which, like the bank's clearing
  account, may go negative — their balance is what the portfolio has earned for investors.
  A payout from one is a single PlatformTransfer keyed by the payout (nothing to reserve).
"""

from __future__ import annotations

import asyncio
import logging

from chassis.errors import DomainError
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.representations import money_to_proto

log = logging.getLogger("colony.gateway.wealth")

YUEBAO_OMNIBUS_ACCOUNT_ID = "platform:wealth:yuebao_omnibus"
YUEBAO_INCOME_ACCOUNT_ID = "platform:wealth:yuebao_income"
FIXED_TERM_OMNIBUS_ACCOUNT_ID = "platform:wealth:fixed_term_omnibus"
FIXED_TERM_INTEREST_ACCOUNT_ID = "platform:wealth:fixed_term_interest"
FUNDS_OMNIBUS_ACCOUNT_ID = "platform:wealth:funds_omnibus"

# Opened with hot_shards 0: see the module docstring.
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
# The payment service keeps a hold at most 7 days: a payout hold must never lapse
# between its creation and its capture, or its key could not be paid again.
PAYOUT_HOLD_TTL_SECONDS = 7 * 24 * 3600


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
                    await self._payment.ensure_platform_account(
                        pb.EnsurePlatformAccountRequest(
                            account_id=account_id, display_name=display_name, hot_shards=0
                        )
                    )
                for account_id, display_name in EXTERNAL_ACCOUNTS:
                    await self._payment.ensure_platform_account(
                        pb.EnsurePlatformAccountRequest(
                            account_id=account_id, display_name=display_name, external_party=True
                        )
                    )
                self._accounts_ready = True

    async def reserve_payout(self, payout_id: str, from_account_id: str, amount: Money) -> None:
        """Reserve the payout's amount on the paying account (the hold named by its key)."""
        await self._payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=payout_key(payout_id),
                account_id=from_account_id,
                amount=money_to_proto(amount),
                ttl_seconds=PAYOUT_HOLD_TTL_SECONDS,
                memo="wealth payout",
            )
        )

    async def release_payout(self, payout_id: str) -> bool:
        """Void the payout's hold (a tombstone if never made); False if it was already posted."""
        try:
            await self._payment.void_hold(
                pb.VoidHoldRequest(hold_id=payout_key(payout_id), reason="wealth payout undone")
            )
        except DomainError as error:
            if error.reason == "HOLD_ALREADY_CAPTURED":
                return False
            raise
        return True

    async def capture_payout(self, payout_id: str, to_account_id: str) -> str:
        """Post the reserved payout into the receiving account; the posting's id."""
        response = await self._payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=payout_key(payout_id), credit_account_id=to_account_id, memo="wealth payout"
            )
        )
        return response.posting.posting_id

    async def post_payout(
        self, payout_id: str, from_account_id: str, to_account_id: str, amount: Money
    ) -> str:
        """Post a payout whole; the posting's id (the same on every retry)."""
        if from_account_id in EXTERNAL_ACCOUNT_IDS:
            # Money from outside the platform: one keyed movement, nothing to hold.
            response = await self._payment.platform_transfer(
                pb.PlatformTransferRequest(
                    idempotency_key=payout_key(payout_id),
                    from_account_id=from_account_id,
                    to_account_id=to_account_id,
                    amount=money_to_proto(amount),
                    memo="wealth earnings",
                    reference=payout_id,
                )
            )
            return response.posting.posting_id
        await self.reserve_payout(payout_id, from_account_id, amount)
        return await self.capture_payout(payout_id, to_account_id)
