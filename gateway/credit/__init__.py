"""The credit line at the edge (DOMAIN.md §3, docs/credit.md): the caller's Sesame-style
score, self-declared data, consent grants and the access log; merchants' deposit-waiver
checks and score reads with the owner's consent; the credit operators' tools.

- ``routes``: ``score`` (the caller's score, history, declarations), ``consents`` (grants
  and "who read my score"), ``merchant`` (deposit waivers, score reads), ``admin``
  (blacklist, feed status, scorecard models).
- ``callers`` (the credit ``Caller`` of a request, from the authenticated identity only),
  ``representations`` (JSON of credit objects), ``overview`` (the score line of the wallet
  overview).

The credit service authorises every read from the caller the gateway names; the gateway
never restates who may see what, it only makes sure the caller it names is the one who
authenticated.
"""
