"""The loan line at the edge (DOMAIN.md §4, docs/loans.md): Huabei (花呗), its bills and
installments, Jiebei (借呗) cash loans, repayment, auto-debit and the loan operators' tools.

- ``routes``: huabei (line, bills, installments), cash_loans, repayments (and auto-debit),
  admin (portfolio, the business-date job).
- ``sagas``: the cash-loan disbursement and the repayment. The Huabei payment is wallet
  pay's saga (gateway.payment.sagas.wallet_payment) with a Huabei part.
- ``ledger`` (the loan line's external-party accounts in the payment ledger, and how money
  moves in and out of them), ``lines`` (the Huabei line synced from the credit advice),
  ``jobs`` and ``schedule`` (the business-date job, on a schedule), ``representations``
  (JSON of loan objects).
"""
