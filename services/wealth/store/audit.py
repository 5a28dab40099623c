"""The wealth audit's reads (audit.py holds its rules): sums over the books, each omnibus
account's figures, and every internal breach found."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from chassis.mongo import Document
from services.wealth.audit import (
    OmnibusFigures,
    WealthAudit,
    product_sales_breaches,
    yuebao_shares_breaches,
)
from services.wealth.fixed_term import HoldingState
from services.wealth.payouts import (
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    FUNDS_OMNIBUS_ACCOUNT_ID,
    YUEBAO_OMNIBUS_ACCOUNT_ID,
    PayoutKind,
    PayoutState,
)
from services.wealth.purchases import PurchaseKind, PurchaseState
from services.wealth.store.collections import WealthCollections, sum_of
from services.wealth.yuebao_accounts import RedemptionState

if TYPE_CHECKING:
    from services.wealth.store import WealthStore


class AuditStore(WealthCollections):
    """The sums the audit compares."""

    async def payouts_due_fen(self, *, from_account_id: str = "", to_account_id: str = "") -> int:
        match: Document = {"state": PayoutState.DUE.value}
        if from_account_id:
            match["from_account_id"] = from_account_id
        if to_account_id:
            match["to_account_id"] = to_account_id
        return await sum_of(self.payouts, match, "amount_fen")

    async def payouts_fen(self, kind: PayoutKind, states: Iterable[PayoutState]) -> int:
        match = {"kind": kind.value, "state": {"$in": [state.value for state in states]}}
        return await sum_of(self.payouts, match, "amount_fen")

    async def purchases_fen(self, kind: PurchaseKind, state: PurchaseState) -> int:
        return await sum_of(
            self.purchases, {"kind": kind.value, "state": state.value}, "amount_fen"
        )

    async def running_income_credited_fen(self) -> int:
        return await sum_of(self.yuebao_income_runs, {"state": "running"}, "credited_fen")

    async def income_credited_fen(self) -> int:
        return await sum_of(self.yuebao_income, {}, "income_fen")

    async def redeemed_fen(self) -> int:
        match = {"state": RedemptionState.ACTIVE.value}
        return await sum_of(self.yuebao_redemptions, match, "amount_fen")

    async def principal_outstanding_fen(self) -> int:
        match = {"state": {"$in": [HoldingState.HELD.value, HoldingState.LISTED.value]}}
        return await sum_of(self.holdings, match, "principal_fen")

    async def product_sales_breaches(self) -> list[str]:
        """Each product's sold_fen = its subscriptions not cancelled (pending ones included)."""
        pipeline: list[Document] = [
            {
                "$match": {
                    "kind": PurchaseKind.PRODUCT_SUBSCRIPTION.value,
                    "state": {"$ne": PurchaseState.CANCELLED.value},
                }
            },
            {"$group": {"_id": "$product_id", "sold_fen": {"$sum": "$amount_fen"}}},
        ]
        sold_by_purchases = {
            row["_id"]: row["sold_fen"] async for row in await self.purchases.aggregate(pipeline)
        }
        breaches = []
        async for document in self.products.find({}, {"sold_fen": 1, "quota_fen": 1}):
            breaches.extend(
                product_sales_breaches(
                    document["_id"],
                    sold_fen=document["sold_fen"],
                    quota_fen=document["quota_fen"],
                    subscribed_fen=sold_by_purchases.get(document["_id"], 0),
                )
            )
        return breaches


async def read_wealth_audit(store: WealthStore) -> WealthAudit:
    """Each omnibus account's expected balance at rest, and every internal breach found."""
    shares_fen = await store.shares_outstanding_fen()
    breaches = yuebao_shares_breaches(
        shares_fen,
        issued_fen=await store.purchases_fen(
            PurchaseKind.YUEBAO_SUBSCRIPTION, PurchaseState.CONFIRMED
        ),
        income_fen=await store.income_credited_fen(),
        redeemed_fen=await store.redeemed_fen(),
    )
    yuebao = OmnibusFigures(
        YUEBAO_OMNIBUS_ACCOUNT_ID,
        liabilities_fen=shares_fen,
        payouts_owed_fen=await store.payouts_due_fen(from_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID),
        receivable_fen=await store.payouts_due_fen(to_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID)
        + await store.running_income_credited_fen(),
        pending_purchases_fen=await store.pending_purchases_fen([PurchaseKind.YUEBAO_SUBSCRIPTION]),
    )
    fixed_term = OmnibusFigures(
        FIXED_TERM_OMNIBUS_ACCOUNT_ID,
        liabilities_fen=await store.principal_outstanding_fen(),
        payouts_owed_fen=await store.payouts_due_fen(from_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID),
        receivable_fen=0,
        pending_purchases_fen=await store.pending_purchases_fen(
            [PurchaseKind.PRODUCT_SUBSCRIPTION, PurchaseKind.TRANSFER]
        ),
    )
    breaches.extend(await store.product_sales_breaches())
    sales_fen = await store.payouts_fen(PayoutKind.FUND_SALE, [PayoutState.DUE, PayoutState.PAID])
    funds = OmnibusFigures(
        FUNDS_OMNIBUS_ACCOUNT_ID,
        liabilities_fen=await store.purchases_fen(PurchaseKind.FUND_BUY, PurchaseState.CONFIRMED)
        - sales_fen,
        payouts_owed_fen=await store.payouts_due_fen(from_account_id=FUNDS_OMNIBUS_ACCOUNT_ID),
        receivable_fen=0,
        pending_purchases_fen=await store.pending_purchases_fen([PurchaseKind.FUND_BUY]),
    )
    return WealthAudit(omnibus=(yuebao, fixed_term, funds), breaches=tuple(breaches))
