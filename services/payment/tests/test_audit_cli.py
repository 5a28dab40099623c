"""`colony audit`: the ledger invariants and escrow reconciliation, checked against the real
database a real payment service wrote, before and after a deliberate corruption."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document
from chassis.settings import ServiceSettings
from colony.payment.v1 import payment_pb2 as pb
from conftest import service_settings
from infra.cli import TOP_UP_PENDING_GRACE, audit, main
from services.payment.bank_channel import fake_bank_card_for
from services.payment.store import PaymentStore
from services.payment.tests.support import Stub, cny, open_person, top_up, transfer
from services.payment.tests.trade_support import (
    assert_books_balance,
    create_trade,
    pay_trade,
    trade_parties,
)


@dataclass(frozen=True, slots=True)
class BusyLedger:
    """A ledger with top-ups, a transfer, a trade in escrow and holds open and captured."""

    person: str
    trade_id: str


@pytest.fixture(scope="module")
async def busy_ledger(stub: Stub, store: PaymentStore) -> BusyLedger:
    person = (await open_person(stub)).account_id
    await top_up(stub, person, 50_000)
    parties = await trade_parties(stub, buyer_fen=20_000)
    await transfer(stub, parties.buyer, person, 1_000)
    trade = await create_trade(stub, parties, 10_750)
    await pay_trade(stub, trade)
    held, captured = f"audit-{uuid.uuid4().hex}", f"audit-{uuid.uuid4().hex}"
    for hold_id in (held, captured):
        await stub.CreateHold(
            pb.CreateHoldRequest(hold_id=hold_id, account_id=person, amount=cny(3_000))
        )
    await stub.CaptureHold(
        pb.CaptureHoldRequest(hold_id=captured, credit_account_id=parties.merchant)
    )
    await assert_books_balance(store)
    return BusyLedger(person=person, trade_id=trade.trade_id)


@pytest.fixture(scope="module")
def settings(mongo_url: str, database_name: str) -> ServiceSettings:
    """The settings of the module's payment service: the database `colony audit` checks."""
    return service_settings("payment", mongo_url, f"{database_name}_payment")


@pytest.fixture
def audit_environment(monkeypatch: pytest.MonkeyPatch, settings: ServiceSettings) -> None:
    """The environment `colony audit` reads, pointing at the module's payment database."""
    monkeypatch.setenv("COLONY_PAYMENT_MONGO_URL", settings.mongo_url)
    monkeypatch.setenv("COLONY_PAYMENT_DB", settings.database_name)
    # No wealth activity in this module: an empty wealth database owes nothing.
    monkeypatch.setenv("COLONY_WEALTH_MONGO_URL", settings.mongo_url)
    monkeypatch.setenv("COLONY_WEALTH_DB", f"{settings.database_name}_wealth_none")
    # Nor loan activity: an empty loan database has lent nothing.
    monkeypatch.setenv("COLONY_LOAN_MONGO_URL", settings.mongo_url)
    monkeypatch.setenv("COLONY_LOAN_DB", f"{settings.database_name}_loan_none")
    # Nor insurance: an empty insurance database collected and paid nothing.
    monkeypatch.setenv("COLONY_INSURANCE_MONGO_URL", settings.mongo_url)
    monkeypatch.setenv("COLONY_INSURANCE_DB", f"{settings.database_name}_insurance_none")


async def run_colony_audit() -> int:
    """`colony audit` as the shell runs it (its own event loop, so on its own thread)."""
    return await asyncio.to_thread(main, ["audit"])


class Corruptions:
    """Documents changed behind the ledger's back (as a bad script or a hand edit would)."""

    def __init__(self) -> None:
        self._done: list[tuple[AsyncCollection[Document], Document, dict[str, int]]] = []

    async def increment(
        self, collection: AsyncCollection[Document], query: Document, increments: dict[str, int]
    ) -> None:
        await collection.update_one(query, {"$inc": increments})
        self._done.append((collection, query, increments))

    async def undo(self) -> None:
        for collection, query, increments in reversed(self._done):
            undo = {field: -fen for field, fen in increments.items()}
            await collection.update_one(query, {"$inc": undo})


@pytest.fixture
async def corruptions(store: PaymentStore) -> AsyncIterator[Corruptions]:
    """Corrupt freely: each change is undone after the test, and the books balance again."""
    done = Corruptions()
    yield done
    await done.undo()
    await assert_books_balance(store)


@pytest.mark.usefixtures("audit_environment")
async def test_a_consistent_ledger_passes_the_audit(
    busy_ledger: BusyLedger,
    settings: ServiceSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await audit(settings) == []
    assert await run_colony_audit() == 0
    assert "every invariant holds" in capsys.readouterr().out


@pytest.mark.usefixtures("audit_environment")
async def test_a_balance_changed_behind_the_ledgers_back_is_a_breach_and_exits_1(
    busy_ledger: BusyLedger,
    store: PaymentStore,
    settings: ServiceSettings,
    corruptions: Corruptions,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await corruptions.increment(store.accounts, {"_id": busy_ledger.person}, {"balance_fen": 1})
    # 50,000 topped up + 1,000 received - 3,000 captured = 48,000 fen, plus the forged fen.
    assert await audit(settings) == [
        f"account {busy_ledger.person}: balance 48001 fen, entries sum to 48000 fen",
        "all balances sum to 1 fen, not zero",
    ]
    assert await run_colony_audit() == 1
    printed = capsys.readouterr().out
    assert f"BREACH: account {busy_ledger.person}" in printed


@pytest.mark.usefixtures("audit_environment")
async def test_escrow_that_disagrees_with_its_trades_is_a_breach(
    busy_ledger: BusyLedger,
    store: PaymentStore,
    settings: ServiceSettings,
    corruptions: Corruptions,
) -> None:
    await corruptions.increment(store.trades, {"_id": busy_ledger.trade_id}, {"escrow_held_fen": 1})
    assert await audit(settings) == ["escrow balance 10750 fen, trades in escrow hold 10751 fen"]
    assert await run_colony_audit() == 1


@pytest.mark.usefixtures("audit_environment")
async def test_held_funds_that_disagree_with_the_open_holds_are_a_breach(
    busy_ledger: BusyLedger,
    store: PaymentStore,
    settings: ServiceSettings,
    corruptions: Corruptions,
) -> None:
    await corruptions.increment(store.accounts, {"_id": busy_ledger.person}, {"held_fen": 1})
    assert await audit(settings) == [
        f"account {busy_ledger.person}: held 3001 fen, open holds sum to 3000 fen"
    ]
    assert await run_colony_audit() == 1


@pytest.mark.usefixtures("audit_environment")
async def test_an_omnibus_balance_the_wealth_service_does_not_owe_is_a_breach(
    stub: Stub, settings: ServiceSettings
) -> None:
    wealth = ServiceSettings.from_env("wealth")  # the empty wealth database of this module
    assert await audit(settings, wealth) == []
    income, omnibus = "platform:wealth:yuebao_income", "platform:wealth:yuebao_omnibus"
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(
            account_id=income, display_name="Yu'e Bao income", external_party=True
        )
    )
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(account_id=omnibus, display_name="Yu'e Bao omnibus")
    )
    # Cash in the fund's omnibus account for which no share was ever issued.
    await stub.PlatformTransfer(
        pb.PlatformTransferRequest(
            idempotency_key="stray-cash",
            from_account_id=income,
            to_account_id=omnibus,
            amount=cny(100),
        )
    )
    assert await audit(settings, wealth) == [
        f"{omnibus}: ledger balance 100 fen, the wealth service owes 0 fen"
    ]


@pytest.mark.usefixtures("audit_environment")
async def test_money_lent_from_a_loan_account_without_a_loan_on_the_books_is_a_breach(
    stub: Stub, settings: ServiceSettings
) -> None:
    loan = ServiceSettings.from_env("loan")  # the empty loan database of this module
    assert await audit(settings, None, loan) == []
    huabei = "platform:loan:huabei"
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(
            account_id=huabei, display_name="Huabei funding", external_party=True
        )
    )
    person = (await open_person(stub)).account_id
    # 100 fen paid out of the Huabei line's account for which the loan service booked nothing.
    await stub.PlatformTransfer(
        pb.PlatformTransferRequest(
            idempotency_key="stray-loan",
            from_account_id=huabei,
            to_account_id=person,
            amount=cny(100),
        )
    )
    assert await audit(settings, None, loan) == [
        f"{huabei}: ledger balance -100 fen, the loan books say 0 fen (collected 0 - lent 0)"
    ]


@pytest.mark.usefixtures("audit_environment")
async def test_cash_in_the_insurance_omnibus_the_books_do_not_know_is_a_breach(
    stub: Stub, settings: ServiceSettings
) -> None:
    insurance = ServiceSettings.from_env("insurance")  # the empty insurance database
    assert await audit(settings, None, None, insurance) == []
    insurer, omnibus = "platform:insurance:insurer:zhongan", "platform:insurance:omnibus"
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(
            account_id=insurer, display_name="ZhongAn (fake insurer)", external_party=True
        )
    )
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(account_id=omnibus, display_name="Insurance omnibus")
    )
    await stub.PlatformTransfer(
        pb.PlatformTransferRequest(
            idempotency_key="stray-premium",
            from_account_id=insurer,
            to_account_id=omnibus,
            amount=cny(88),
        )
    )
    assert await audit(settings, None, None, insurance) == [
        f"{omnibus}: ledger balance 88 fen, the insurance books say 0 fen"
    ]


@pytest.mark.usefixtures("audit_environment")
async def test_withdrawals_in_transit_that_disagree_with_the_pending_withdrawals_are_a_breach(
    busy_ledger: BusyLedger, stub: Stub, store: PaymentStore, settings: ServiceSettings
) -> None:
    person = (await open_person(stub)).account_id  # its own: the busy ledger's figures stay
    await top_up(stub, person, 1_000)
    card = fake_bank_card_for("张三")  # open_person's name
    await stub.BindCard(
        pb.BindCardRequest(
            idempotency_key=uuid.uuid4().hex, account_id=person, bank_card_number=card
        )
    )
    withdrawal = pb.WithdrawRequest(
        idempotency_key=uuid.uuid4().hex, account_id=person, amount=cny(700), bank_card_number=card
    )
    await stub.Withdraw(withdrawal)
    settled = await store.get_withdrawal(withdrawal.idempotency_key)
    assert settled is not None and settled.state.value == "paid"
    assert await audit(settings) == [], "a settled withdrawal leaves nothing in transit"
    # A pending withdrawal whose money is not in transit (a record written by hand).
    forged = {
        "_id": f"forged-{uuid.uuid4().hex}",
        "account_id": person,
        "card_number": card,
        "amount_fen": 1,
        "state": "pending",
        "created_at": datetime.now(UTC),
    }
    await store.withdrawals.insert_one(forged)
    try:
        assert await audit(settings) == [
            "withdrawals in transit 0 fen, pending withdrawals sum to 1 fen"
        ]
        assert await run_colony_audit() == 1
    finally:
        await store.withdrawals.delete_one({"_id": forged["_id"]})


@pytest.mark.usefixtures("audit_environment")
async def test_a_top_up_pending_at_rest_or_a_credit_without_its_record_is_a_breach(
    busy_ledger: BusyLedger, stub: Stub, store: PaymentStore, settings: ServiceSettings
) -> None:
    person = (await open_person(stub)).account_id
    credited = await top_up(stub, person, 1_000)
    assert await audit(settings) == [], "a credited top-up has its record and its posting"
    # A pending top-up older than the grace (a card maybe charged, never credited).
    key = f"forged-{uuid.uuid4().hex}"
    forged = {
        "_id": key,
        "account_id": person,
        "card_number": fake_bank_card_for("张三"),
        "amount_fen": 1,
        "state": "pending",
        "created_at": datetime.now(UTC) - TOP_UP_PENDING_GRACE - timedelta(seconds=1),
    }
    await store.top_ups.insert_one(forged)
    try:
        [pending] = await audit(settings)
        assert pending.startswith(f"top-up {key} (1 fen to {person}) pending since")
        assert await run_colony_audit() == 1
        # Younger than the grace: its request (or the recovery job) is still driving it.
        await store.top_ups.update_one({"_id": key}, {"$set": {"created_at": datetime.now(UTC)}})
        assert await audit(settings) == []
    finally:
        await store.top_ups.delete_one({"_id": key})
    # A credit posting whose top-up record is gone: money from the bank with no record.
    posting_id = credited.posting.posting_id
    record = await store.top_ups.find_one({"posting_id": posting_id})
    assert record is not None
    await store.top_ups.delete_one({"_id": record["_id"]})
    try:
        assert await audit(settings) == [
            f"top-up credit posting {posting_id} has no credited top-up {record['_id']}"
        ]
    finally:
        await store.top_ups.insert_one(record)
    assert await audit(settings) == []
