"""The gateway: the platform's only public entry (DESIGN.md "The shape").

An aiohttp app that authenticates callers, checks that every account they touch is their
own, validates input, and turns REST calls into gRPC calls on the business-line services.
It holds identities, HTTP idempotency records and the saga log (gateway.sagas: wallet
operations across services) in its own database, and no business rule that belongs to a
service.
"""
