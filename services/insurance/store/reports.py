"""The sums behind the operators' report and the insurance audit (reads only)."""

from __future__ import annotations

from chassis.mongo import Document
from services.insurance.books import (
    AccountFigures,
    InsurerFlows,
    ProductFigures,
    book_breaches,
    ledger_accounts,
)
from services.insurance.claims import ClaimState
from services.insurance.policies import PolicyState, RefundState
from services.insurance.store.collections import InsuranceCollections, sum_of

SOLD_STATES = [PolicyState.ACTIVE.value, PolicyState.EXPIRED.value, PolicyState.CANCELLED.value]
REFUND_PAID = {"refund_state": RefundState.PAID.value}
CLAIM_PAID = {"state": ClaimState.PAID.value}


async def _grouped(
    collection: object, match: Document, key: str, fields: list[str]
) -> dict[str, Document]:
    """key value → {field: sum, "count": n} over the matching documents."""
    group: Document = {"_id": f"${key}", "count": {"$sum": 1}}
    group.update({field: {"$sum": f"${field}"} for field in fields})
    rows = await collection.aggregate([{"$match": match}, {"$group": group}])  # type: ignore[attr-defined]
    return {row["_id"]: row async for row in rows}


async def read_product_figures(store: InsuranceCollections) -> list[ProductFigures]:
    """Premiums, commission, refunds and claims paid per product that sold a policy."""
    sold = await _grouped(
        store.policies,
        {"state": {"$in": SOLD_STATES}},
        "product_id",
        ["premium_fen", "commission_fen"],
    )
    refunds = await _grouped(store.policies, REFUND_PAID, "product_id", ["refund_fen"])
    paid = await _grouped(store.claims, CLAIM_PAID, "product_id", ["amount_fen"])
    waiting = await _grouped(
        store.claims, {"state": ClaimState.ADJUDICATING.value}, "product_id", []
    )
    figures = []
    for product_id in sorted(set(sold) | set(paid) | set(waiting)):
        row = sold.get(product_id, {})
        figures.append(
            ProductFigures(
                product_id=product_id,
                policies_sold=int(row.get("count", 0)),
                premiums_fen=int(row.get("premium_fen", 0)),
                commission_fen=int(row.get("commission_fen", 0)),
                refunds_fen=int(refunds.get(product_id, {}).get("refund_fen", 0)),
                claims_paid_fen=int(paid.get(product_id, {}).get("amount_fen", 0)),
                claims_paid_count=int(paid.get(product_id, {}).get("count", 0)),
                claims_awaiting_review=int(waiting.get(product_id, {}).get("count", 0)),
            )
        )
    return figures


async def read_insurer_flows(store: InsuranceCollections) -> list[InsurerFlows]:
    """The movements recorded per insurer account (premiums confirmed, refunds and claims paid)."""
    key = "insurer_account_id"
    sold = await _grouped(
        store.policies, {"state": {"$in": SOLD_STATES}}, key, ["premium_fen", "commission_fen"]
    )
    refunds = await _grouped(
        store.policies, REFUND_PAID, key, ["refund_fen", "refund_insurer_share_fen"]
    )
    paid = await _grouped(store.claims, CLAIM_PAID, key, ["amount_fen"])
    flows = []
    for account_id in sorted(set(sold) | set(paid)):
        refund = refunds.get(account_id, {})
        flows.append(
            InsurerFlows(
                insurer_account_id=account_id,
                premiums_fen=int(sold.get(account_id, {}).get("premium_fen", 0)),
                commission_fen=int(sold.get(account_id, {}).get("commission_fen", 0)),
                refunds_fen=int(refund.get("refund_fen", 0)),
                refund_insurer_share_fen=int(refund.get("refund_insurer_share_fen", 0)),
                claims_paid_fen=int(paid.get(account_id, {}).get("amount_fen", 0)),
            )
        )
    return flows


async def read_pending_fen(store: InsuranceCollections) -> int:
    """Premiums tried, refunds owed and claims approved: money a saga may be moving."""
    pending = await sum_of(store.policies, {"state": PolicyState.PENDING.value}, "premium_fen")
    owed = await sum_of(store.policies, {"refund_state": RefundState.OWED.value}, "refund_fen")
    approved = await sum_of(store.claims, {"state": ClaimState.APPROVED.value}, "amount_fen")
    return pending + owed + approved


async def read_claims_paid_totals(store: InsuranceCollections) -> tuple[int, int]:
    """(Σ claims paid recorded on the policies, Σ paid claims)."""
    on_policies = await sum_of(store.policies, {}, "claims_paid_fen")
    return on_policies, await sum_of(store.claims, CLAIM_PAID, "amount_fen")


async def read_insurance_audit(
    store: InsuranceCollections,
) -> tuple[list[AccountFigures], list[str]]:
    """What each insurance ledger account must hold at rest, and the books' own breaches."""
    accounts = ledger_accounts(await read_insurer_flows(store), await read_pending_fen(store))
    on_policies_fen, claims_paid_fen = await read_claims_paid_totals(store)
    return accounts, book_breaches(on_policies_fen, claims_paid_fen)
