"""The `colony` command: operator tasks against a running platform's databases.

  colony audit   check the payment ledger's invariants, reconcile escrow, and reconcile each
                 wealth omnibus account with what the wealth service owes; exit 1 on a breach

It reads the same settings as the services (MONGO_URL or COLONY_<NAME>_MONGO_URL,
COLONY_<NAME>_DB), so it checks exactly the databases they write. An operator tool may read
every line's database; the services never read each other's. The omnibus reconciliation
holds at rest: run it when no wealth operation is in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chassis.mongo import create_client
from chassis.settings import ServiceSettings
from services.payment.escrow import ESCROW_ACCOUNT_ID
from services.payment.store import PaymentStore
from services.wealth.store import WealthStore
from services.wealth.store.audit import read_wealth_audit


async def audit(
    settings: ServiceSettings, wealth_settings: ServiceSettings | None = None
) -> list[str]:
    """Every breach of the ledger invariants, held funds, escrow and omnibus reconciliation."""
    client = create_client(settings.mongo_url, "colony-audit")
    try:
        store = PaymentStore(client[settings.database_name])
        breaches = await store.audit_ledger()
        if await store.accounts.find_one({"_id": ESCROW_ACCOUNT_ID}) is not None:
            breaches += await store.audit_escrow(ESCROW_ACCOUNT_ID)
        if wealth_settings is not None:
            breaches += await _reconcile_wealth(store, wealth_settings)
        return breaches
    finally:
        await client.close()


async def _reconcile_wealth(payments: PaymentStore, settings: ServiceSettings) -> list[str]:
    """Each wealth omnibus account's ledger balance = what the wealth service says it owes."""
    client = create_client(settings.mongo_url, "colony-audit-wealth")
    try:
        report = await read_wealth_audit(WealthStore(client[settings.database_name]))
    finally:
        await client.close()
    breaches = [f"wealth: {breach}" for breach in report.breaches]
    for figures in report.omnibus:
        if await payments.accounts.find_one({"_id": figures.account_id}) is None:
            balance_fen = 0
        else:
            balance_fen = (await payments.get_account(figures.account_id)).balance_fen
        if balance_fen != figures.expected_balance_fen:
            breaches.append(
                f"{figures.account_id}: ledger balance {balance_fen} fen, the wealth service "
                f"owes {figures.expected_balance_fen} fen"
            )
    return breaches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="colony", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("audit", help="check ledger invariants and escrow reconciliation")
    options = parser.parse_args(argv)
    if options.command == "audit":
        settings = ServiceSettings.from_env("payment")
        breaches = asyncio.run(audit(settings, ServiceSettings.from_env("wealth")))
        for breach in breaches:
            print(f"BREACH: {breach}")
        if breaches:
            return 1
        print(f"ledger of database {settings.database_name!r}: every invariant holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
