"""Wallet operations: a saga as the caller who started it sees it (DESIGN.md "Sagas").

``answers`` is how an operation looks and how a route answers with one (201, the refusal
that undid it, or 202 with its URL); ``start`` is how a route starts one for the caller
under its Idempotency-Key; ``routes`` serves GET /v1/operations/{id} and the operators'
list and retry. Business areas import ``answers`` and ``start``, never ``routes``.
"""
