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
- The fund's earnings (Yu'e Bao's daily income, the issuers' fixed-term interest) have to
  come into the ledger from outside it, and platform accounts can neither be topped up nor
  go negative. They arrive through the *custodian*: a merchant account of the fund's
  custodian bank, topped up from the bank channel with the day's earnings and passed on to
  the earnings account (platform:wealth:yuebao_income or :fixed_term_interest) right
  before the payout from it, each step keyed by the payout.
"""

from __future__ import annotations

import asyncio
import logging

from chassis.errors import DomainError
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.representations import money_to_proto
from gateway.settings import CustodianSettings

log = logging.getLogger("colony.gateway.wealth")

YUEBAO_OMNIBUS_ACCOUNT_ID = "platform:wealth:yuebao_omnibus"
YUEBAO_INCOME_ACCOUNT_ID = "platform:wealth:yuebao_income"
FIXED_TERM_OMNIBUS_ACCOUNT_ID = "platform:wealth:fixed_term_omnibus"
FIXED_TERM_INTEREST_ACCOUNT_ID = "platform:wealth:fixed_term_interest"
FUNDS_OMNIBUS_ACCOUNT_ID = "platform:wealth:funds_omnibus"

# Opened with hot_shards 0: see the module docstring.
PLATFORM_ACCOUNTS = (
    (YUEBAO_OMNIBUS_ACCOUNT_ID, "余额宝 Yu'e Bao omnibus"),
    (YUEBAO_INCOME_ACCOUNT_ID, "余额宝 Yu'e Bao income"),
    (FIXED_TERM_OMNIBUS_ACCOUNT_ID, "招财宝 Zhaocaibao omnibus"),
    (FIXED_TERM_INTEREST_ACCOUNT_ID, "招财宝 Zhaocaibao interest"),
    (FUNDS_OMNIBUS_ACCOUNT_ID, "蚂蚁聚宝 fund marketplace omnibus"),
)
# Accounts that only pass earnings on: each payout from one is funded by the custodian first.
EARNINGS_ACCOUNT_IDS = frozenset({YUEBAO_INCOME_ACCOUNT_ID, FIXED_TERM_INTEREST_ACCOUNT_ID})

PAYOUT_KEY_PREFIX = "wealth-payout:"
FUNDING_KEY_PREFIX = "wealth-funding:"
# The payment service keeps a hold at most 7 days: a payout hold must never lapse
# between its creation and its capture, or its key could not be paid again.
PAYOUT_HOLD_TTL_SECONDS = 7 * 24 * 3600
CUSTODIAN_OWNER_REF = "platform:wealth:custodian"
CUSTODIAN_OPENING_KEY = "colony-wealth-custodian-account"


def payout_key(payout_id: str) -> str:
    """The payment idempotency key (and hold id) of a payout, as colony.wealth.v1 defines it."""
    return PAYOUT_KEY_PREFIX + payout_id


def _funding_key(payout_id: str) -> str:
    return FUNDING_KEY_PREFIX + payout_id


class WealthLedger:
    """Opens the wealth accounts in the payment ledger and posts payouts there."""

    def __init__(self, payment: PaymentClient, custodian: CustodianSettings) -> None:
        self._payment = payment
        self._custodian = custodian
        self._accounts_ready = False
        self._custodian_account_id: str | None = None
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
                self._accounts_ready = True

    async def custodian_account_id(self) -> str:
        """The custodian's merchant account, opened on first use (once per process)."""
        if self._custodian_account_id is None:
            async with self._lock:
                if self._custodian_account_id is None:
                    # Idempotent by its fixed key: every replica gets the same account back.
                    opened = await self._payment.open_merchant_account(
                        pb.OpenMerchantAccountRequest(
                            idempotency_key=CUSTODIAN_OPENING_KEY,
                            owner_ref=CUSTODIAN_OWNER_REF,
                            merchant_name=self._custodian.name,
                            phone=self._custodian.phone,
                            business_licence=self._custodian.business_licence,
                        )
                    )
                    self._custodian_account_id = opened.account.account_id
                    log.info("wealth custodian account ready")
        return self._custodian_account_id

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
        """Post a payout whole (funding an earnings account first); the posting's id."""
        if from_account_id in EARNINGS_ACCOUNT_IDS:
            await self._fund_earnings(payout_id, from_account_id, amount)
        await self.reserve_payout(payout_id, from_account_id, amount)
        return await self.capture_payout(payout_id, to_account_id)

    async def _fund_earnings(self, payout_id: str, earnings_account_id: str, amount: Money) -> None:
        """Bring the payout's amount in from the custodian bank to the earnings account."""
        custodian_account_id = await self.custodian_account_id()
        key = _funding_key(payout_id)
        await self._payment.top_up(
            pb.TopUpRequest(
                idempotency_key=key,
                account_id=custodian_account_id,
                amount=money_to_proto(amount),
                bank_card_number=self._custodian.bank_card_number,
            )
        )
        await self._payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=key,
                account_id=custodian_account_id,
                amount=money_to_proto(amount),
                ttl_seconds=PAYOUT_HOLD_TTL_SECONDS,
                memo="wealth earnings",
            )
        )
        await self._payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=key, credit_account_id=earnings_account_id, memo="wealth earnings"
            )
        )
