"""The insurance books seen from above: the operators' report and the ledger audit.

Audit, at rest (no saga in flight), from the movements the service recorded by transfer id:
- platform:insurance:omnibus receives every premium captured and the insurers' funding of
  refunds and claims, and pays the insurers' net premiums, the refunds and the claims; so it
  holds the commission kept: Σ commission - Σ commission returned on refunds.
- each insurer's account (external party, may go negative) receives its net premiums and
  pays its share of refunds and every claim paid.
The books must also agree with themselves: Σ claims paid on the policies = Σ paid claims.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.insurance.products import INSURANCE_OMNIBUS_ACCOUNT_ID


@dataclass(frozen=True, slots=True)
class ProductFigures:
    product_id: str
    policies_sold: int
    premiums_fen: int
    commission_fen: int
    refunds_fen: int
    claims_paid_fen: int
    claims_paid_count: int
    claims_awaiting_review: int


@dataclass(frozen=True, slots=True)
class InsurerFlows:
    """The recorded movements of one insurer (through the omnibus account)."""

    insurer_account_id: str
    premiums_fen: int
    commission_fen: int
    refunds_fen: int
    refund_insurer_share_fen: int
    claims_paid_fen: int

    @property
    def insurer_premiums_fen(self) -> int:
        return self.premiums_fen - self.commission_fen


@dataclass(frozen=True, slots=True)
class AccountFigures:
    account_id: str
    received_fen: int
    paid_out_fen: int
    pending_fen: int

    @property
    def expected_balance_fen(self) -> int:
        return self.received_fen - self.paid_out_fen


def ledger_accounts(flows: list[InsurerFlows], pending_fen: int) -> list[AccountFigures]:
    """The omnibus account first, then each insurer's account, with what it must hold."""
    omnibus = AccountFigures(
        INSURANCE_OMNIBUS_ACCOUNT_ID,
        received_fen=sum(
            f.premiums_fen + f.refund_insurer_share_fen + f.claims_paid_fen for f in flows
        ),
        paid_out_fen=sum(f.insurer_premiums_fen + f.refunds_fen + f.claims_paid_fen for f in flows),
        pending_fen=pending_fen,
    )
    insurers = [
        AccountFigures(
            f.insurer_account_id,
            received_fen=f.insurer_premiums_fen,
            paid_out_fen=f.refund_insurer_share_fen + f.claims_paid_fen,
            pending_fen=0,
        )
        for f in flows
    ]
    return [omnibus, *insurers]


def book_breaches(policy_claims_paid_fen: int, claims_paid_fen: int) -> list[str]:
    """Σ claims paid on the policies = Σ paid claims, or a breach."""
    if policy_claims_paid_fen == claims_paid_fen:
        return []
    return [
        f"the policies record {policy_claims_paid_fen} fen of claims paid, "
        f"the paid claims sum to {claims_paid_fen} fen"
    ]
