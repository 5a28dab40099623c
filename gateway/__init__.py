"""The gateway: the platform's only public entry (DESIGN.md "The shape").

An aiohttp app that authenticates callers, checks that every account they touch is their
own, validates input, and turns REST calls into gRPC calls on the business-line services.
It holds identities, HTTP idempotency records and the saga log in its own database, and no
business rule that belongs to a service.

Laid out like the services, by what a module is about:
- ``app`` (the composition root: every area's routes, stores and jobs wired once),
  ``__main__`` (settings, telemetry, database, serve), ``settings``, ``clients`` (one
  client module per business-line service over ``clients.base``, a deadline on every call).
- ``edge``: the HTTP edge every request goes through — routing and OpenAPI, authentication,
  tokens, passwords, API keys, identities and registration, payloads, paging, ownership
  ("the caller's X"), risk signals, idempotency, representations, problems — and its own
  routes (accounts, health, the API description).
- ``sagas``: the saga engine (definition, log, engine, recovery, failpoints) and the
  catalogue of the sagas this gateway runs.
- ``operations``: a saga as its owner sees it — how a route starts one and answers with
  it, and the operation routes.
- one package per business area, holding that area's routes, sagas, jobs and
  representations: ``payment`` (wallet, money movement, trades, payments, wallet pay, the
  merchant API, payment admin), ``wealth`` (Yu'e Bao, Zhaocaibao, funds, the business-
  date job, wealth admin), ``credit`` (the caller's score, declarations, consent grants
  and access log, merchant deposit waivers, credit admin) and ``loans`` (the Huabei line,
  bills and installments, cash loans, repayment and auto-debit, the loan business-date
  job, loan admin, refunds of Huabei purchases back to the line from the payment feed,
  the statement's loan lines; a Huabei payment is wallet pay's saga). Insurance is added
  the same way.

Imports point inward: areas import the edge, the engine and operations; the edge imports
no area; only the composition root imports route modules (``<package>.routes``).
"""
