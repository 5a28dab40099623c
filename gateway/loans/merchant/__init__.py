"""Merchant lending through the gateway (issue 19; docs/loans.md "Merchant lending").

- ``ledger``: platform:loan:capital (merchant loans lent from it) and the keyed movements;
- ``figures``: the merchant's last 12 months read from their trades (the pre-loan data);
- ``sagas``: lend (a facility's fixed part, a revolving draw) and repay;
- ``routes``: the merchant's facility, draws and repayments; the operator's funding,
  capacity, credit policy and audit.
"""
