"""The `colony` command: operator tasks against a running platform's databases.

  colony audit   check the payment ledger's invariants and reconcile escrow; exit 1 on a breach

It reads MONGO_URL (or COLONY_PAYMENT_MONGO_URL) and COLONY_PAYMENT_DB like the payment
service itself, so it checks exactly the database the service writes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chassis.mongo import create_client
from chassis.settings import ServiceSettings
from services.payment.rpc_base import ESCROW_ACCOUNT_ID
from services.payment.store import PaymentStore


async def audit(settings: ServiceSettings) -> list[str]:
    """Every breach of the ledger invariants, held funds, and escrow reconciliation."""
    client = create_client(settings.mongo_url, "colony-audit")
    try:
        store = PaymentStore(client[settings.database_name])
        breaches = await store.audit_ledger()
        if await store.accounts.find_one({"_id": ESCROW_ACCOUNT_ID}) is not None:
            breaches += await store.audit_escrow(ESCROW_ACCOUNT_ID)
        return breaches
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="colony", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("audit", help="check ledger invariants and escrow reconciliation")
    options = parser.parse_args(argv)
    if options.command == "audit":
        settings = ServiceSettings.from_env("payment")
        breaches = asyncio.run(audit(settings))
        for breach in breaches:
            print(f"BREACH: {breach}")
        if breaches:
            return 1
        print(f"ledger of database {settings.database_name!r}: every invariant holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
