"""Payment authorizations (免密授权): single-use stand-ins for the payment password.

A payer who proves the payment password once gets a bearer authorization for one movement
of up to amount_fen, started within AUTHORIZATION_TTL_SECONDS. The service keeps only its
sha256. Rule: an authorization is spent only on the risk challenge it answers; one offered
up front to a movement that risk control lets through unchallenged stays unspent (so it
cannot fail that movement by having lapsed).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.errors import FailedPrecondition
from services.payment.risk import RiskAction, RiskDecision

# A payment authorization answers for one movement started within this long.
AUTHORIZATION_TTL_SECONDS = 300
AUTHORIZATION_BYTES = 24


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """What answers a risk challenge for one movement: a verified password or authorization."""

    verified: bool = False
    # Set when it is a payment authorization, which the movement's transaction spends.
    authorization_digest: str = ""


NO_SECOND_FACTOR = SecondFactor()
PASSWORD_VERIFIED = SecondFactor(verified=True)


@dataclass(frozen=True, slots=True)
class PaymentAuthorization:
    """An issued authorization as stored: its digest, never the bearer value."""

    digest: str
    account_id: str
    amount_fen: int
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedAuthorization:
    """The bearer value (shown once, to the payer) and what is stored of it."""

    bearer: str
    authorization: PaymentAuthorization


def authorization_digest(authorization: str) -> str:
    """How a payment authorization is stored: its sha256, never the bearer value itself."""
    return hashlib.sha256(authorization.encode()).hexdigest()


def authorization_factor(authorization: str) -> SecondFactor:
    """A payment authorization offered as the second factor (or none, if empty).

    It counts as verified here; the movement's transaction checks and spends it, and only
    if risk control challenges the movement (see authorization_to_spend).
    """
    if not authorization:
        return NO_SECOND_FACTOR
    return SecondFactor(verified=True, authorization_digest=authorization_digest(authorization))


def issue_payment_authorization(
    account_id: str, amount_fen: int, now: datetime
) -> IssuedAuthorization:
    """A fresh authorization for one movement of up to amount_fen by this account."""
    bearer = secrets.token_urlsafe(AUTHORIZATION_BYTES)
    authorization = PaymentAuthorization(
        digest=authorization_digest(bearer),
        account_id=account_id,
        amount_fen=amount_fen,
        issued_at=now,
        expires_at=now + timedelta(seconds=AUTHORIZATION_TTL_SECONDS),
    )
    return IssuedAuthorization(bearer=bearer, authorization=authorization)


def authorization_to_spend(second_factor: SecondFactor, decision: RiskDecision) -> str:
    """The digest of the authorization this movement spends ("" when it spends none).

    Only a CHALLENGE spends one: an authorization offered to a movement that needs none
    stays unspent, for the movement it was asked for.
    """
    if decision.action is RiskAction.CHALLENGE:
        return second_factor.authorization_digest
    return ""


def invalid_authorization() -> FailedPrecondition:
    """The refusal when the authorization a challenge needs cannot be spent."""
    return FailedPrecondition(
        "the payment authorization is unknown, expired, already used, or not for this payment",
        reason="PAYMENT_AUTHORIZATION_INVALID",
    )
