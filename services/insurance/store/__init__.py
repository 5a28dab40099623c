"""The insurance service's store: the only package that knows collections and queries.

One module per aggregate — quotes.py, policies.py (with the expiry job's runs), claims.py,
reports.py (the report's and the audit's sums) — over the collections of collections.py,
with one mapping of documents to domain objects (mapping.py). Every write takes the
caller's session; reads return domain objects.
"""

from __future__ import annotations

from services.insurance.store.claims import ClaimStore
from services.insurance.store.policies import PolicyStore
from services.insurance.store.quotes import QuoteStore


class InsuranceStore(QuoteStore, PolicyStore, ClaimStore):
    """Every aggregate's store over one insurance database (the servicer's one store)."""


__all__ = ["InsuranceStore"]
