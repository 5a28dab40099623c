"""Face-to-face payment codes (付款码): the payer shows a code, the merchant scans and charges it.

DOMAIN.md §1. Like Alipay's, a code is 18 digits starting with "28", random, valid for a
minute and good for one charge. Whoever holds the digits can spend from the payer's
account until the code is used or expires, so the plaintext goes only to the payer's
screen: the stored PaymentCode carries its SHA-256 digest, and a scanned code is looked up
by `code_digest(scanned)`. A plain hash is enough here (no salt or slow hash): the 16
random digits give 10^16 possibilities, far beyond a search in the code's 60-second life.

Codes do not pile up (issue 21, item 11): an account has at most PAYMENT_CODES_LIVE_MAX
unused codes (issuing another retires the oldest, which then answers INVALID_PAYMENT_CODE),
and a TTL index removes every code PAYMENT_CODE_RETENTION after it expired (used or not).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from services.payment.ledger import Account, Posting, PostingKind, plan_movement
from services.payment.risk import PaymentKind
from services.payment.screening import OutgoingPayment

MEMO_LENGTH_MAX = 64

PAYMENT_CODE_PREFIX = "28"
PAYMENT_CODE_LENGTH = 18
_RANDOM_DIGITS = PAYMENT_CODE_LENGTH - len(PAYMENT_CODE_PREFIX)
# A code refreshes every minute on the payer's screen, as Alipay's does (market).
PAYMENT_CODE_TTL = timedelta(seconds=60)
PAYMENT_CODE_TTL_MIN = timedelta(seconds=10)
PAYMENT_CODE_TTL_MAX = timedelta(minutes=5)
_PAYMENT_CODE_PATTERN = re.compile(r"28[0-9]{16}")
# Unused codes an account may hold at once; a screen shows one, refreshed each minute.
PAYMENT_CODES_LIVE_MAX = 5
# How long an expired code stays, so a late scan answers PAYMENT_CODE_EXPIRED, not unknown.
PAYMENT_CODE_RETENTION = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PaymentCode:
    """A payment code as stored: its digest, its owner and its short life (never the digits)."""

    code_digest: str
    account_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    @property
    def used(self) -> bool:
        """True once a merchant has charged the code."""
        return self.used_at is not None


@dataclass(frozen=True, slots=True)
class IssuedPaymentCode:
    """A freshly issued code: the digits for the payer's screen and the record to store."""

    code: str
    payment_code: PaymentCode


def generate_payment_code() -> str:
    """18 digits: "28" and 16 digits from the operating system's CSPRNG."""
    return PAYMENT_CODE_PREFIX + f"{secrets.randbelow(10**_RANDOM_DIGITS):0{_RANDOM_DIGITS}d}"


def code_digest(code: str) -> str:
    """The SHA-256 hex digest a code is stored and looked up by."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def issue_payment_code(
    account_id: str, now: datetime, ttl: timedelta = PAYMENT_CODE_TTL
) -> IssuedPaymentCode:
    """A new one-time code for account_id, valid from now for ttl."""
    if not PAYMENT_CODE_TTL_MIN <= ttl <= PAYMENT_CODE_TTL_MAX:
        raise InvalidArgument(
            f"a payment code lives between {PAYMENT_CODE_TTL_MIN} and {PAYMENT_CODE_TTL_MAX}",
            metadata={"field": "ttl"},
        )
    code = generate_payment_code()
    return IssuedPaymentCode(
        code=code,
        payment_code=PaymentCode(
            code_digest=code_digest(code),
            account_id=account_id,
            issued_at=now,
            expires_at=now + ttl,
        ),
    )


def validate_payment_code(scanned: str) -> str:
    """Return the scanned text if it looks like a payment code, else INVALID_PAYMENT_CODE."""
    if not isinstance(scanned, str) or not _PAYMENT_CODE_PATTERN.fullmatch(scanned):
        raise InvalidArgument(
            'a payment code is 18 digits starting with "28"', reason="INVALID_PAYMENT_CODE"
        )
    return scanned


def require_known(payment_code: PaymentCode | None) -> PaymentCode:
    """Refuse a scanned code that was never issued (INVALID_PAYMENT_CODE)."""
    if payment_code is None:
        raise NotFound("no such payment code", reason="INVALID_PAYMENT_CODE")
    return payment_code


def code_payment(payer: Account, merchant_account_id: str, amount_fen: int) -> OutgoingPayment:
    """What risk control sees of a code payment: a payment from the payer's latest device.

    The code was made on the payer's own phone, so that device is the payer's (and a
    challenge is met only by an authorization the payer's wallet gave with the code).
    """
    device_id = payer.activity.devices[-1] if payer.activity.devices else ""
    return OutgoingPayment(merchant_account_id, PaymentKind.PAYMENT, amount_fen, device_id)


def require_usable(payment_code: PaymentCode, now: datetime) -> None:
    """Refuse a code already charged (PAYMENT_CODE_USED) or past its life (PAYMENT_CODE_EXPIRED)."""
    # Used is checked first: a replayed code is the more telling refusal for the audit.
    if payment_code.used_at is not None:
        raise FailedPrecondition(
            "this payment code has already been used; ask the payer to refresh it",
            reason="PAYMENT_CODE_USED",
            metadata={"used_at": payment_code.used_at.isoformat()},
        )
    if now >= payment_code.expires_at:
        raise FailedPrecondition(
            "this payment code has expired; ask the payer to refresh it",
            reason="PAYMENT_CODE_EXPIRED",
            metadata={"expires_at": payment_code.expires_at.isoformat()},
        )


def mark_used(payment_code: PaymentCode, now: datetime) -> PaymentCode:
    """The code after a successful charge at now (refused if it was not usable)."""
    require_usable(payment_code, now)
    return replace(payment_code, used_at=now)


def code_payment_posting(
    payment_code: PaymentCode,
    merchant: Account,
    amount_fen: int,
    memo: str,
    now: datetime,
    *,
    posting_id: str,
) -> Posting:
    """The payer pays the merchant who charged the code (memo: the merchant's, or its name)."""
    return plan_movement(
        posting_id=posting_id,
        kind=PostingKind.CODE_PAYMENT,
        from_account_id=payment_code.account_id,
        to_account_id=merchant.account_id,
        amount_fen=amount_fen,
        posted_at=now,
        memo=memo or f"payment at {merchant.display_name}"[:MEMO_LENGTH_MAX],
    )
