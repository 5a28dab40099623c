"""The loan service's store: the only package that knows collections and queries.

One module per aggregate — huabei.py (lines, purchases), bills.py (bills, installment
plans), cash_loans.py, repayments.py (repayments, auto-debit settings, job runs),
reports.py (the portfolio's and the audit's sums) — over the collections of collections.py,
with one mapping of documents to domain objects (mapping.py). Every write takes the
caller's session; reads return domain objects.
"""

from __future__ import annotations

from services.loan.store.bills import BillStore
from services.loan.store.cash_loans import CashLoanStore
from services.loan.store.huabei import HuabeiStore
from services.loan.store.repayments import RepaymentStore


class LoanStore(HuabeiStore, BillStore, CashLoanStore, RepaymentStore):
    """Every aggregate's store over one loan database (the servicer's one store)."""


__all__ = ["LoanStore"]
