"""The loan service's business metrics: Huabei and all principal outstanding, the 90+ part."""

from __future__ import annotations

from chassis.metrics import (
    HUABEI_OUTSTANDING_FEN,
    LOANS_NONPERFORMING_FEN,
    LOANS_OUTSTANDING_FEN,
    PeriodicJobs,
    refresh_figures,
)
from services.loan.portfolio import Product
from services.loan.store import LoanStore
from services.loan.store.reports import read_portfolio


def export_loan_metrics(service: PeriodicJobs, store: LoanStore) -> None:
    """The portfolio report's figures (NPL ratio = nonperforming ÷ outstanding), refreshed."""

    async def read() -> None:
        report = await read_portfolio(store)
        HUABEI_OUTSTANDING_FEN.set(sum(row.principal_fen for row in report.of(Product.HUABEI)))
        LOANS_OUTSTANDING_FEN.set(report.principal_fen)
        LOANS_NONPERFORMING_FEN.set(report.principal_90_plus_fen)

    refresh_figures(
        service, read, HUABEI_OUTSTANDING_FEN, LOANS_OUTSTANDING_FEN, LOANS_NONPERFORMING_FEN
    )
