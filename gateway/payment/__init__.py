"""The payment line at the edge (DOMAIN.md §1 and §6): the wallet, money movement, escrow
trades, everyday payments, wallet pay, the merchant API and payment operators' tools.

- ``routes``: one module per group of REST routes (the wallet, wallet pay, money movement,
  trades, payments, merchant payments, the merchant API, admin).
- ``sagas``: merchant payment and wallet pay.
- ``trade_access`` (a caller sees their own trades only), ``methods`` (payment methods and
  how an amount is split over them), ``code_wallets`` (the methods a payer chose for each
  payment code), ``wallet_funding`` (what each method can pay now).

Wallet pay can spend Yu'e Bao, so its saga and funding read gateway.wealth's ledger and
redemption steps; nothing in gateway.wealth imports this package.
"""
