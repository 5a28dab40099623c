"""The wealth service's store: the only package that knows collections and queries.

One module per aggregate — purchases.py (purchases, payouts), yuebao.py (accounts,
redemptions, the fund, income runs), fixed_term.py (products, holdings, listings,
reservations), funds.py (funds, NAVs, orders, positions, risk profiles), audit.py (the
audit's sums) — over the collections of collections.py, with one mapping of documents to
domain objects (mapping.py). Every write takes the caller's session; reads return domain
objects.
"""

from __future__ import annotations

from services.wealth.store.audit import AuditStore
from services.wealth.store.fixed_term import FixedTermStore
from services.wealth.store.funds import FundsStore
from services.wealth.store.purchases import PayoutStore, PurchaseStore
from services.wealth.store.yuebao import YuebaoStore


class WealthStore(PurchaseStore, PayoutStore, YuebaoStore, FixedTermStore, FundsStore, AuditStore):
    """Every aggregate's store over one wealth database (the servicer's one store)."""


__all__ = ["WealthStore"]
