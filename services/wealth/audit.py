"""The wealth audit: what each omnibus account's payment balance must be at rest, and the
internal identities of the wealth books (run when no wealth operation is in flight).

- Yu'e Bao: the omnibus holds a fen for every share, plus the redemptions not yet paid out,
  less the income credited as shares whose cash is still to come in; and the shares
  outstanding = confirmed issues + income credited - redemptions.
- Zhaocaibao: the principal of every unmatured holding, plus payouts not yet paid; each
  product's sold amount = its subscriptions not cancelled, never above its quota.
- Funds: the cash of confirmed buys, less the sale proceeds owed or paid.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OmnibusFigures:
    """One omnibus account's figures; pending purchases are shown, not counted."""

    account_id: str
    liabilities_fen: int
    payouts_owed_fen: int
    receivable_fen: int
    pending_purchases_fen: int

    @property
    def expected_balance_fen(self) -> int:
        """What the account's payment balance must be at rest: owed, less receivable."""
        return self.liabilities_fen + self.payouts_owed_fen - self.receivable_fen


@dataclass(frozen=True, slots=True)
class WealthAudit:
    """Each omnibus account's figures, and every internal breach found."""

    omnibus: tuple[OmnibusFigures, ...]
    breaches: tuple[str, ...]


def yuebao_shares_breaches(
    shares_fen: int, issued_fen: int, income_fen: int, redeemed_fen: int
) -> list[str]:
    """Shares outstanding = confirmed issues + income credited - redemptions, or a breach."""
    if shares_fen == issued_fen + income_fen - redeemed_fen:
        return []
    return [
        f"Yu'e Bao shares outstanding {shares_fen} fen != confirmed issues {issued_fen} "
        f"+ income {income_fen} - redemptions {redeemed_fen}"
    ]


def product_sales_breaches(
    product_id: str, sold_fen: int, quota_fen: int, subscribed_fen: int
) -> list[str]:
    """A product's sold_fen = its subscriptions not cancelled, and never above its quota."""
    breaches = []
    if sold_fen != subscribed_fen:
        breaches.append(
            f"product {product_id}: sold {sold_fen} fen, subscriptions sum to {subscribed_fen} fen"
        )
    if sold_fen > quota_fen:
        breaches.append(f"product {product_id} is oversold")
    return breaches
