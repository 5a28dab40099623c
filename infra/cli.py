"""The `colony` command: operator tasks against a running platform's databases.

  colony audit   check the payment ledger's invariants, reconcile escrow and withdrawals in
                 transit (= the pending withdrawals' sum), list top-ups pending past
                 the grace (a card maybe charged, not credited) and credits without
                 their credited top-up record, reconcile each
                 wealth omnibus account with what the wealth service owes, and each loan
                 ledger account (Huabei, cash loans, merchant lending, the funding:
                 capital and bank borrowing, each ABS pool's cash and units) with the
                 loan service's books, and the
                 insurance omnibus and insurer accounts with the insurance books; exit 1
                 on a breach
  colony operator grant PHONE [--by WHO] [--reason TEXT]
                 make the registered identity with PHONE a platform operator (recorded with
                 who granted it and when; the gateway checks it on every request)
  colony operator revoke PHONE [--by WHO] [--reason TEXT]
  colony operator list
                 the latest grants and revocations, newest first

It reads the same settings as the services (MONGO_URL or COLONY_<NAME>_MONGO_URL,
COLONY_<NAME>_DB), so it checks exactly the databases they write. An operator tool may read
every line's database; the services never read each other's. The omnibus reconciliation
holds at rest: run it when no wealth or loan operation is in flight.

The operator commands write the gateway's database (MONGO_URL or COLONY_GATEWAY_MONGO_URL,
COLONY_GATEWAY_DB): granting is for whoever may reach the platform's databases, never an
API call. For the RPCs operators' tools may call (the audit reports), the tool's
certificate under `make run` is var/tls/colony-cli.pem (docs/security.md).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import socket
import sys
from collections.abc import Mapping
from datetime import timedelta

from chassis.clock import SystemClock
from chassis.errors import DomainError
from chassis.mongo import create_client
from chassis.settings import DEFAULT_MONGO_URL, ServiceSettings
from gateway.edge.identities import IdentityStore
from gateway.edge.operator_grants import OPERATOR_GRANTS_COLLECTION, OperatorGrants
from services.insurance.store import InsuranceStore
from services.insurance.store.reports import read_insurance_audit
from services.loan.merchant.abs_pool import pool_account_id
from services.loan.merchant.audit import capital_expected_fen
from services.loan.merchant.funding import CAPITAL_LEDGER_ACCOUNT_ID
from services.loan.merchant.store import MerchantLendingStore
from services.loan.merchant.store.abs_pools import PoolRecord
from services.loan.portfolio import book_breaches
from services.loan.store import LoanStore
from services.loan.store.reports import read_ledger_flows
from services.payment.escrow import ESCROW_ACCOUNT_ID
from services.payment.store import PaymentStore
from services.wealth.store import WealthStore
from services.wealth.store.audit import read_wealth_audit

# A top-up pending longer than this at rest is a breach: the recovery job settles one within
# seconds (services/payment/rpc_bank_requests.py), so its card may be charged, not credited.
TOP_UP_PENDING_GRACE = timedelta(minutes=1)


async def audit(
    settings: ServiceSettings,
    wealth_settings: ServiceSettings | None = None,
    loan_settings: ServiceSettings | None = None,
    insurance_settings: ServiceSettings | None = None,
) -> list[str]:
    """Every breach of the ledger invariants, held funds, escrow and omnibus reconciliation."""
    client = create_client(settings.mongo_url, "colony-audit")
    try:
        store = PaymentStore(client[settings.database_name])
        breaches = await store.audit_ledger()
        if await store.accounts.find_one({"_id": ESCROW_ACCOUNT_ID}) is not None:
            breaches += await store.audit_escrow(ESCROW_ACCOUNT_ID)
        # Withdrawals in transit hold exactly the pending withdrawals (reserved, not settled).
        breaches += await store.audit_withdrawals_in_transit()
        # Top-ups: none pending at rest (the recovery job settles them), every credit its record.
        breaches += await store.audit_top_ups(SystemClock().now() - TOP_UP_PENDING_GRACE)
        if wealth_settings is not None:
            breaches += await _reconcile_wealth(store, wealth_settings)
        if loan_settings is not None:
            breaches += await _reconcile_loans(store, loan_settings)
        if insurance_settings is not None:
            breaches += await _reconcile_insurance(store, insurance_settings)
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
        balance_fen = await _ledger_balance_fen(payments, figures.account_id)
        if balance_fen != figures.expected_balance_fen:
            breaches.append(
                f"{figures.account_id}: ledger balance {balance_fen} fen, the wealth service "
                f"owes {figures.expected_balance_fen} fen"
            )
    return breaches


async def _ledger_balance_fen(payments: PaymentStore, account_id: str) -> int:
    if await payments.accounts.find_one({"_id": account_id}) is None:
        return 0
    return (await payments.get_account(account_id)).balance_fen


async def _reconcile_pools(payments: PaymentStore, pools: list[PoolRecord]) -> list[str]:
    """Each ABS pool's account holds the cash the pool reports; its investors' units sum to
    the pool's units."""
    breaches = []
    for record in pools:
        pool = record.pool
        account_id = pool_account_id(pool.pool_id)
        balance_fen = await _ledger_balance_fen(payments, account_id)
        if balance_fen != pool.cash_fen:
            breaches.append(
                f"{account_id}: ledger balance {balance_fen} fen, the pool reports cash "
                f"{pool.cash_fen} fen"
            )
        held = sum(holding.units_fen for holding in record.holdings.values())
        if held != pool.units_fen:
            breaches.append(
                f"loan: pool {pool.pool_id}: investors hold {held} fen of units, the pool "
                f"{pool.units_fen}"
            )
    return breaches


async def _reconcile_loans(payments: PaymentStore, settings: ServiceSettings) -> list[str]:
    """Each loan ledger account's balance = what the loan books say was collected less lent."""
    client = create_client(settings.mongo_url, "colony-audit-loan")
    try:
        flows = await read_ledger_flows(LoanStore(client[settings.database_name]))
        lending = MerchantLendingStore(client[settings.database_name])
        merchant = [await lending.merchant_flows(), await lending.order_flows()]
        funding = await lending.funding_book()
        pools = await lending.all_pools()
    finally:
        await client.close()
    breaches = await _reconcile_pools(payments, pools)
    # Merchant lending lends platform:loan:capital's cash (its books are kept apart):
    # capital = capital paid in + bank borrowing - principal outstanding + income retained.
    expected = {
        **funding.expected_ledger_balances(),
        CAPITAL_LEDGER_ACCOUNT_ID: capital_expected_fen(funding, merchant),
    }
    for account_id, expected_fen in expected.items():
        balance_fen = await _ledger_balance_fen(payments, account_id)
        if balance_fen != expected_fen:
            lent_from_it = ", ".join(f"{b.account_id} {b.expected_balance_fen}" for b in merchant)
            breaches.append(
                f"{account_id}: ledger balance {balance_fen} fen, the funding book and the "
                f"lending books say {expected_fen} fen (capital {funding.capital_fen}, bank "
                f"borrowing {funding.borrowing_fen}; collected - lent: {lent_from_it})"
            )
    for books in merchant:
        breaches += [f"loan: {breach}" for breach in books.breaches()]
    for account in flows:
        breaches += [f"loan: {breach}" for breach in book_breaches(account)]
        balance_fen = await _ledger_balance_fen(payments, account.account_id)
        if balance_fen != account.expected_balance_fen:
            breaches.append(
                f"{account.account_id}: ledger balance {balance_fen} fen, the loan books say "
                f"{account.expected_balance_fen} fen (collected {account.collected_fen} - lent "
                f"{account.lent_fen})"
            )
    return breaches


async def _reconcile_insurance(payments: PaymentStore, settings: ServiceSettings) -> list[str]:
    """The insurance omnibus and each insurer's account = what the insurance books say."""
    client = create_client(settings.mongo_url, "colony-audit-insurance")
    try:
        accounts, book_breaches_found = await read_insurance_audit(
            InsuranceStore(client[settings.database_name])
        )
    finally:
        await client.close()
    breaches = [f"insurance: {breach}" for breach in book_breaches_found]
    for account in accounts:
        balance_fen = await _ledger_balance_fen(payments, account.account_id)
        if balance_fen != account.expected_balance_fen:
            breaches.append(
                f"{account.account_id}: ledger balance {balance_fen} fen, the insurance books "
                f"say {account.expected_balance_fen} fen"
            )
    return breaches


USERS_COLLECTION = "users"


def gateway_database(environ: Mapping[str, str]) -> tuple[str, str]:
    """The gateway's MongoDB URL and database name, read as the gateway reads them."""
    url = environ.get("COLONY_GATEWAY_MONGO_URL") or environ.get("MONGO_URL") or DEFAULT_MONGO_URL
    return url, environ.get("COLONY_GATEWAY_DB", "gateway")


async def change_operator(
    mongo_url: str, database_name: str, phone: str, by: str, reason: str, *, grant: bool
) -> str:
    """Grant (or revoke) the operator role of the identity registered with phone."""
    client = create_client(mongo_url, "colony-operator")
    try:
        database = client[database_name]
        clock = SystemClock()
        grants = OperatorGrants(database[OPERATOR_GRANTS_COLLECTION], clock)
        await grants.ensure_indexes()
        identities = IdentityStore(database[USERS_COLLECTION], clock)
        change = grants.grant if grant else grants.revoke
        event = await change(identities, phone, by, reason)
        return (
            f"{event.action.value}: {event.phone} (user {event.user_id}) by {event.by} "
            f"at {event.at.isoformat()}"
        )
    finally:
        await client.close()


async def operator_history(mongo_url: str, database_name: str) -> list[str]:
    """The latest grants and revocations, newest first, one line each."""
    client = create_client(mongo_url, "colony-operator")
    try:
        grants = OperatorGrants(client[database_name][OPERATOR_GRANTS_COLLECTION], SystemClock())
        return [
            f"{event.at.isoformat()} {event.action.value:6} {event.phone} "
            f"(user {event.user_id}) by {event.by}" + (f": {event.reason}" if event.reason else "")
            for event in await grants.history()
        ]
    finally:
        await client.close()


def _operator(options: argparse.Namespace) -> int:
    url, database_name = gateway_database(os.environ)
    if options.action == "list":
        for line in asyncio.run(operator_history(url, database_name)):
            print(line)
        return 0
    grant = options.action == "grant"
    try:
        change = change_operator(
            url, database_name, options.phone, options.by, options.reason, grant=grant
        )
        print(asyncio.run(change))
    except DomainError as error:
        print(f"colony operator {options.action}: {error.message}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="colony", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("audit", help="check ledger invariants and escrow reconciliation")
    operator = commands.add_parser("operator", help="grant, revoke or list platform operators")
    actions = operator.add_subparsers(dest="action", required=True)
    for action in ("grant", "revoke"):
        change = actions.add_parser(action, help=f"{action} the operator role")
        change.add_argument("phone", help="the phone of a registered identity")
        change.add_argument(
            "--by",
            default=f"{getpass.getuser()}@{socket.gethostname()}",
            help="who grants or revokes (recorded; default: this login and host)",
        )
        change.add_argument("--reason", default="", help="why (recorded)")
    actions.add_parser("list", help="the latest grants and revocations")
    options = parser.parse_args(argv)
    if options.command == "operator":
        return _operator(options)
    if options.command == "audit":
        settings = ServiceSettings.from_env("payment")
        breaches = asyncio.run(
            audit(
                settings,
                ServiceSettings.from_env("wealth"),
                ServiceSettings.from_env("loan"),
                ServiceSettings.from_env("insurance"),
            )
        )
        for breach in breaches:
            print(f"BREACH: {breach}")
        if breaches:
            return 1
        print(f"ledger of database {settings.database_name!r}: every invariant holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
