"""What the Zhaocaibao (招财宝) accounts owe on a holding, as payouts (payouts.py).

At maturity the holder is owed principal (from the omnibus account) and interest (from the
issuers' interest account); on a transfer the seller is owed the proceeds and the platform
its fee, both from the omnibus account the buyer paid into. A part that rounds to nothing
owes nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from services.wealth.fixed_term import Holding, holding_payout
from services.wealth.fixed_term_transfers import Transfer
from services.wealth.payouts import (
    FIXED_TERM_INTEREST_ACCOUNT_ID,
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    PLATFORM_FEE_INCOME_ACCOUNT_ID,
    Payout,
    PayoutKind,
    PayoutSettlement,
    plan_payout,
)


def maturity_payouts(holding: Holding, business_date: date, now: datetime) -> tuple[Payout, ...]:
    """Principal from the omnibus account, interest from the issuers' interest account."""
    payout = holding_payout(holding)
    parts = (
        (
            "principal",
            PayoutKind.MATURITY_PRINCIPAL,
            FIXED_TERM_OMNIBUS_ACCOUNT_ID,
            payout.principal_fen,
        ),
        (
            "interest",
            PayoutKind.MATURITY_INTEREST,
            FIXED_TERM_INTEREST_ACCOUNT_ID,
            payout.interest_fen,
        ),
    )
    return tuple(
        plan_payout(
            payout_id=f"{holding.holding_id}:{part}",
            kind=kind,
            from_account_id=from_account_id,
            to_account_id=holding.holder_id,
            amount_fen=amount_fen,
            due_on=business_date,
            settlement=PayoutSettlement.SCHEDULED,
            investor_id=holding.holder_id,
            reference=holding.holding_id,
            now=now,
        )
        for part, kind, from_account_id, amount_fen in parts
        if amount_fen > 0
    )


def transfer_payout_ids(purchase_id: str) -> tuple[str, str]:
    """The ids of a transfer's proceeds and fee payouts."""
    return f"{purchase_id}:proceeds", f"{purchase_id}:fee"


def transfer_payouts(
    transfer: Transfer, purchase_id: str, due_on: date, now: datetime
) -> tuple[Payout, ...]:
    """The seller's proceeds and the platform's fee, owed from the omnibus account."""
    seller_id = transfer.seller_holding.holder_id
    proceeds_id, fee_id = transfer_payout_ids(purchase_id)
    owed = (
        (PayoutKind.TRANSFER_PROCEEDS, proceeds_id, seller_id, transfer.terms.seller_proceeds_fen),
        (PayoutKind.TRANSFER_FEE, fee_id, PLATFORM_FEE_INCOME_ACCOUNT_ID, transfer.terms.fee_fen),
    )
    return tuple(
        plan_payout(
            payout_id=payout_id,
            kind=kind,
            from_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
            to_account_id=to_account_id,
            amount_fen=amount_fen,
            due_on=due_on,
            settlement=PayoutSettlement.SCHEDULED,
            investor_id=seller_id,
            reference=purchase_id,
            now=now,
        )
        for kind, payout_id, to_account_id, amount_fen in owed
        if amount_fen > 0  # a fee rounds to nothing on a principal under 2.5 yuan
    )
