"""The HTTP edge: what every request goes through, whatever business it is about.

- Routing and documentation: ``routing`` (a Route is a handler and its documentation),
  ``openapi`` (the OpenAPI document built from the routes), ``routes`` (the edge's own
  routes: accounts and log-in, health, the API description).
- Who is calling: ``authentication`` (log-in and the middleware), ``tokens`` (JWTs),
  ``passwords`` (policy and argon2), ``api_keys`` (merchant keys), ``identities`` (the
  gateway's users), ``registration`` (an identity plus its payment account).
- Reading requests and writing answers: ``payloads`` (strict JSON bodies), ``paging``
  (page_size and page_token), ``ownership`` ("the caller's X": list them, or get one and
  answer 404 unless it is theirs), ``risk_signals`` (device id and payment password),
  ``idempotency`` (Idempotency-Key), ``representations`` (JSON of money, times, ledger
  objects), ``problems`` (every error as problem+json).

The edge imports no business area; the areas (gateway.payment, gateway.wealth, …) import
the edge.
"""
