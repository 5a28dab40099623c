"""Payouts: money a wealth account owes, paid by a posting in the payment ledger.

The wealth service never moves money. When it owes some (a Yu'e Bao redemption, a
Zhaocaibao maturity, a transfer's proceeds and fee, a fund sale, the fund's daily income
into its omnibus account) it records a payout in the same transaction as the change that
created the debt. The gateway posts it in the payment ledger under the idempotency key
"wealth-payout:<payout_id>" and then marks it paid here, so a payout is paid at most once
whoever retries.

A payout is settled either by the saga that made it (a fast redemption: the saga may still
cancel it, so nobody else may pay it) or by the gateway's scheduled payout job once due.

    DUE ──paid──► PAID
     └──cancel──► CANCELLED   (a compensated redemption)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition
from chassis.money import require_positive_amount

# The payment accounts of the wealth business line (opened by the gateway with
# EnsurePlatformAccount), and the platform's fee account in the payment ledger.
YUEBAO_OMNIBUS_ACCOUNT_ID = "platform:wealth:yuebao_omnibus"
YUEBAO_INCOME_ACCOUNT_ID = "platform:wealth:yuebao_income"
FIXED_TERM_OMNIBUS_ACCOUNT_ID = "platform:wealth:fixed_term_omnibus"
FIXED_TERM_INTEREST_ACCOUNT_ID = "platform:wealth:fixed_term_interest"
FUNDS_OMNIBUS_ACCOUNT_ID = "platform:wealth:funds_omnibus"
PLATFORM_FEE_INCOME_ACCOUNT_ID = "platform:fee_income"
PAYMENT_IDEMPOTENCY_KEY_PREFIX = "wealth-payout:"


class PayoutKind(StrEnum):
    YUEBAO_FAST_REDEMPTION = "yuebao_fast_redemption"
    YUEBAO_NORMAL_REDEMPTION = "yuebao_normal_redemption"
    YUEBAO_INCOME = "yuebao_income"
    MATURITY_PRINCIPAL = "maturity_principal"
    MATURITY_INTEREST = "maturity_interest"
    TRANSFER_PROCEEDS = "transfer_proceeds"
    TRANSFER_FEE = "transfer_fee"
    FUND_SALE = "fund_sale"


class PayoutState(StrEnum):
    DUE = "due"
    PAID = "paid"
    CANCELLED = "cancelled"


class PayoutSettlement(StrEnum):
    SAGA = "saga"  # paid (or cancelled) by the saga that created it
    SCHEDULED = "scheduled"  # paid by the payout job once due


@dataclass(frozen=True, slots=True)
class Payout:
    """amount_fen owed from from_account_id to to_account_id, payable from due_on."""

    payout_id: str
    kind: PayoutKind
    from_account_id: str
    to_account_id: str
    amount_fen: int
    due_on: date
    settlement: PayoutSettlement
    investor_id: str
    reference: str
    created_at: datetime
    state: PayoutState = PayoutState.DUE
    paid_at: datetime | None = None
    payment_posting_id: str = ""

    def __post_init__(self) -> None:
        if self.from_account_id == self.to_account_id:
            raise AssertionError(f"payout {self.payout_id} pays an account to itself")

    @property
    def is_due(self) -> bool:
        return self.state is PayoutState.DUE


def plan_payout(
    *,
    payout_id: str,
    kind: PayoutKind,
    from_account_id: str,
    to_account_id: str,
    amount_fen: int,
    due_on: date,
    settlement: PayoutSettlement,
    investor_id: str,
    reference: str,
    now: datetime,
) -> Payout:
    """A new DUE payout of a positive amount."""
    return Payout(
        payout_id=payout_id,
        kind=kind,
        from_account_id=from_account_id,
        to_account_id=to_account_id,
        amount_fen=require_positive_amount(amount_fen, "payout amount"),
        due_on=due_on,
        settlement=settlement,
        investor_id=investor_id,
        reference=reference,
        created_at=now,
    )


def mark_paid(payout: Payout, payment_posting_id: str, now: datetime) -> Payout:
    """DUE → PAID with its posting; a repeat with the same posting returns it unchanged."""
    if payout.state is PayoutState.PAID:
        if payout.payment_posting_id != payment_posting_id:
            raise FailedPrecondition(
                f"payout {payout.payout_id} was paid by posting {payout.payment_posting_id}",
                reason="PAYOUT_ALREADY_PAID",
                metadata={
                    "payout_id": payout.payout_id,
                    "payment_posting_id": payout.payment_posting_id,
                },
            )
        return payout
    if payout.state is PayoutState.CANCELLED:
        raise FailedPrecondition(
            f"payout {payout.payout_id} was cancelled; reverse its posting",
            reason="PAYOUT_CANCELLED",
            metadata={"payout_id": payout.payout_id},
        )
    return replace(
        payout, state=PayoutState.PAID, paid_at=now, payment_posting_id=payment_posting_id
    )


def cancel_payout(payout: Payout) -> Payout:
    """DUE → CANCELLED (its cause was compensated); a paid payout cannot be cancelled."""
    if payout.state is PayoutState.PAID:
        raise FailedPrecondition(
            f"payout {payout.payout_id} is already paid",
            reason="PAYOUT_ALREADY_PAID",
            metadata={"payout_id": payout.payout_id},
        )
    return replace(payout, state=PayoutState.CANCELLED)
