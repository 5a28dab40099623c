"""The wealth line at the edge (DOMAIN.md §2): Yu'e Bao (余额宝), Zhaocaibao (招财宝)
fixed-term products, the fund marketplace (蚂蚁聚宝) and the wealth operators' tools.

- ``routes``: yuebao, fixed_term, funds, admin.
- ``sagas``: the purchases paid from the balance (``purchase`` is their template) and the
  Yu'e Bao redemption.
- ``ledger`` (the wealth line's accounts in the payment ledger, and payouts), ``jobs`` (the
  business-date job), ``schedule`` (that job on a schedule), ``reservations`` (matching a
  new product's reservations), ``representations`` (JSON of wealth objects), ``requests``
  (reading wealth request bodies).
"""
