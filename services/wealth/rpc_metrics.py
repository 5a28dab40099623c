"""The wealth service's business metrics: Yu'e Bao assets under management."""

from __future__ import annotations

from chassis.metrics import YUEBAO_AUM_FEN, PeriodicJobs, refresh_figures
from services.wealth.store import WealthStore


def export_wealth_metrics(service: PeriodicJobs, store: WealthStore) -> None:
    """colony_yuebao_aum_fen: the shares outstanding, summed every refresh (not per scrape)."""

    async def read() -> None:
        YUEBAO_AUM_FEN.set(await store.shares_outstanding_fen())

    refresh_figures(service, read, YUEBAO_AUM_FEN)
