"""Merchant lending and funding (DOMAIN.md §4, issue 19; docs/loans.md "Merchant lending").

Served by the loan process as colony.loan.v1.MerchantLendingService, beside the consumer
products: facilities.py (the credit decision, the facility's rules, interest by the day),
funding.py (capital, bank borrowing, lending capacity), store/ (its collections), rpc_*.py.
"""
