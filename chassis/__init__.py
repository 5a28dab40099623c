"""The chassis: mechanics every Colony service shares (DESIGN.md "Top-level layout").

MongoDB client and transactions, idempotency, outbox, gRPC server bootstrap, error
model, money, settings, clock and telemetry. Nothing here knows a business rule.
"""
