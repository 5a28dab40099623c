"""The loan book seen from above: the portfolio report (outstanding by product and bucket, the
NPL ratio) and the audit that reconciles the books with the ledger accounts.

NPL ratio = principal 90+ days past due ÷ all principal outstanding, to 4 decimals
ROUND_HALF_EVEN ("0" when nothing is lent).

Audit, per ledger account (at rest, no saga in flight): its payment balance must equal
collected - lent. For Huabei, lent = captured purchases and collected = repayments applied
+ refunds returned; for cash loans, lent = disbursed principal and collected = repayments
applied. And the books must agree with themselves: lent - refunds - principal repaid -
prepaid credit = principal outstanding (Huabei: the lines' used), and for cash loans lent -
principal repaid = the loans' principal outstanding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from services.loan.delinquency import Bucket

NPL_QUANTUM = Decimal("0.0001")


class Product(StrEnum):
    HUABEI = "huabei"
    CASH_LOAN = "cash_loan"


@dataclass(frozen=True, slots=True)
class BucketFigures:
    product: Product
    bucket: Bucket
    principal_fen: int
    accounts: int


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    rows: tuple[BucketFigures, ...]

    @property
    def principal_fen(self) -> int:
        return sum(row.principal_fen for row in self.rows)

    @property
    def principal_90_plus_fen(self) -> int:
        return sum(row.principal_fen for row in self.rows if row.bucket is Bucket.DPD_90_PLUS)

    @property
    def npl_ratio(self) -> Decimal:
        if self.principal_fen == 0:
            return Decimal(0)
        ratio = Decimal(self.principal_90_plus_fen) / Decimal(self.principal_fen)
        return ratio.quantize(NPL_QUANTUM, rounding=ROUND_HALF_EVEN)

    def of(self, product: Product) -> list[BucketFigures]:
        return [row for row in self.rows if row.product is product]


@dataclass(frozen=True, slots=True)
class LedgerFlows:
    """The sums of one product's books that the audit compares."""

    account_id: str
    lent_fen: int
    refunded_fen: int
    repaid_fen: int
    principal_repaid_fen: int
    credit_prepaid_fen: int
    principal_outstanding_fen: int
    pending_fen: int

    @property
    def collected_fen(self) -> int:
        return self.repaid_fen + self.refunded_fen

    @property
    def expected_balance_fen(self) -> int:
        return self.collected_fen - self.lent_fen

    @property
    def income_collected_fen(self) -> int:
        return self.repaid_fen - self.principal_repaid_fen - self.credit_prepaid_fen


def book_breaches(flows: LedgerFlows) -> list[str]:
    """lent - refunds - principal repaid - credit prepaid = principal outstanding, or a breach."""
    computed = (
        flows.lent_fen - flows.refunded_fen - flows.principal_repaid_fen - flows.credit_prepaid_fen
    )
    if computed == flows.principal_outstanding_fen:
        return []
    return [
        f"{flows.account_id}: lent {flows.lent_fen} - refunded {flows.refunded_fen} - principal "
        f"repaid {flows.principal_repaid_fen} - credit {flows.credit_prepaid_fen} = {computed} "
        f"fen, but the books hold {flows.principal_outstanding_fen} fen outstanding"
    ]
