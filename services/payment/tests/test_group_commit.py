"""Property: movements decided in batches end exactly as the same ones one at a time.

Two payment services on their own databases, the same people and merchants in each, the
same clock: one commits every movement in its own transaction (group_commit=False, the
path before group commit); in the other the same movements, all queued at once, go
through the group-commit batcher (rpc_batching.py) in batches of a few. A random mix
(hypothesis) of overdrawing transfers, replays (the same request, or the same key with
another amount), transfers to and from a hot merchant, to a blacklisted person, ones risk
control challenges (large, from a new device, the eleventh in a minute), and bill payments
(PayBill), top-ups (TopUp, some declined by the bank), trade payments (PayTrade: some
of someone else's trade, some of a trade already paid) and withdrawals (Withdraw: to a
bound card or to one not bound, some overdrawing, some to a card whose payouts the bank
declines: reserved in the batch, paid out and settled after it, the declined ones refunded;
a movement after a declined withdrawal waits for its answer, as its client would, since its
refund lands after its batch), batched together, must give
every movement the same answer (the posting's entries and memo, the account's balance and
KYC level, or the same refusal reason) and leave the same balances, statement lines,
risk decisions and spent payment authorizations, nothing left in transit and the same in
the bank's clearing account, the same top-ups credited and declined (each reserved in a
batch, its card charged and settled after it; none left pending); the ledger and top-up
audits are clean on both. A
movement from a new device ("phone-1") offers a payment authorization (issued to person 0
for one of a few amounts: spent by the challenge it answers, refused if someone else's,
too small, or already spent, perhaps earlier in the same batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chassis.clock import ManualClock
from chassis.errors import DomainError
from chassis.idempotency import fingerprint_request
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from conftest import service_settings
from services.payment.bank_channel import (
    FAKE_BANK_CLEARING_ACCOUNT_ID,
    BankDeclined,
    BankReceipt,
    FakeBankChannel,
    fake_bank_card_for,
)
from services.payment.batch_model import MovementAsk
from services.payment.batch_top_ups import TopUpJob
from services.payment.batch_withdrawals import WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID, WithdrawJob
from services.payment.bills import DEMO_BILLERS
from services.payment.escrow import ESCROW_ACCOUNT_ID
from services.payment.ledger import PostingKind
from services.payment.payment_authorization import (
    authorization_digest,
    authorization_factor,
)
from services.payment.risk import DEFAULT_RULES, PaymentKind
from services.payment.rpc_accounts import top_up_reserved, withdrawal_response
from services.payment.rpc_batching import MovementBatcher
from services.payment.rpc_top_up_charges import TopUpCharges
from services.payment.rpc_withdrawal_payouts import WithdrawalPayouts
from services.payment.server import build_payment_service
from services.payment.store import PaymentStore
from services.payment.tests.support import (
    CARD,
    DECLINED_CARD,
    Stub,
    cny,
    open_merchant,
    open_person,
    top_up,
)
from services.payment.tests.trade_support import PAYMENT_PASSWORD, error_info, manual_clock

PERSONS = 4
MERCHANT, HOT_MERCHANT, UNKNOWN, BILL = PERSONS, PERSONS + 1, PERSONS + 2, PERSONS + 3
BANK = PERSONS + 4  # as a payer: a top-up of the payee (from a card the bank declines on phone-2)
TRADE = PERSONS + 5  # as a payee: the payer pays one of the trades (maybe not theirs, or paid)
WITHDRAW = PERSONS + 6  # as a payee: the payer withdraws to its card (phone-2: one not bound)
CARD_HOLDER = "张三"  # open_person's name: persons 0 and 2 bind cards the bank issued to it
BOUND = (0, 2)  # person 2's card (serial 1) takes no payouts at the test bank
AUTHORIZED_FEN = (100_000, 400_000, 2_500_000)  # person 0's payment authorizations
TRADE_AMOUNTS_FEN = (50_000, 400_000, 1_000_000, 2_500_000)
BLACKLISTED = PERSONS - 1
OPENING_FEN = 3_000_000  # 30,000 yuan: a few large transfers overdraw it
UNKNOWN_ACCOUNT_ID = "2088000000000000"
WATER = DEMO_BILLERS[0]
WATER_REFERENCE = "3301061234"
BATCH_SIZE = 5


def bound_card(person: int) -> str:
    return fake_bank_card_for(CARD_HOLDER, BOUND.index(person) if person in BOUND else 0)


class PayoutDecliningBank(FakeBankChannel):
    """The fake bank, declining payouts to person 2's card (say, the card takes no credits)."""

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        if card_number == bound_card(BOUND[1]):
            raise BankDeclined(f"the bank declined a payout to the card ending {card_number[-4:]}")
        return await super().pay_out(request_id, card_number, amount_fen)


@dataclass
class Side:
    stub: Stub
    store: PaymentStore
    ids: list[str]
    trades: list[str]
    authorizations: list[str]  # bearer values, issued to person 0 (AUTHORIZED_FEN)


@contextlib.asynccontextmanager
async def payment_service(
    mongo_url: str, client: MongoClient, database: str, clock: ManualClock, group_commit: bool
) -> AsyncIterator[tuple[Stub, PaymentStore]]:
    settings_ = service_settings("payment", mongo_url, database)
    service = await build_payment_service(
        settings_, client, clock, PayoutDecliningBank(), group_commit=group_commit
    )
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield payment_pb2_grpc.PaymentServiceStub(channel), PaymentStore(client[database])
    finally:
        await service.stop()


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return manual_clock()


@pytest.fixture(scope="module")
async def services(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[tuple[tuple[Stub, PaymentStore], tuple[Stub, PaymentStore]]]:
    async with (
        payment_service(mongo_url, mongo_client, f"{database_name}_b", clock, True) as batched,
        payment_service(mongo_url, mongo_client, f"{database_name}_s", clock, False) as single,
    ):
        yield batched, single


async def open_parties(stub: Stub, store: PaymentStore) -> Side:
    ids = [(await open_person(stub)).account_id for _ in range(PERSONS)]
    ids.append((await open_merchant(stub)).account_id)
    hot = (await open_merchant(stub, "Hot Tea")).account_id
    await stub.SetAccountHot(pb.SetAccountHotRequest(account_id=hot, hot_shards=3))
    ids += [hot, UNKNOWN_ACCOUNT_ID, WATER.merchant_account_id]
    for index in range(PERSONS):
        await top_up(stub, ids[index], OPENING_FEN)
    for index in BOUND:
        await stub.BindCard(
            pb.BindCardRequest(
                idempotency_key=uuid.uuid4().hex,
                account_id=ids[index],
                bank_card_number=bound_card(index),
            )
        )
    await stub.SetBlacklisted(
        pb.SetBlacklistedRequest(account_id=ids[BLACKLISTED], blacklisted=True, reason="test")
    )
    await stub.SetPaymentPassword(
        pb.SetPaymentPasswordRequest(account_id=ids[0], new_password=PAYMENT_PASSWORD)
    )
    authorizations = [
        (
            await stub.AuthorizePayment(
                pb.AuthorizePaymentRequest(
                    account_id=ids[0], payment_password=PAYMENT_PASSWORD, amount=cny(fen)
                )
            )
        ).authorization
        for fen in AUTHORIZED_FEN
    ]
    trades = []
    for number, fen in enumerate(TRADE_AMOUNTS_FEN):
        created = await stub.CreateTrade(
            pb.CreateTradeRequest(
                idempotency_key=uuid.uuid4().hex,
                merchant_account_id=ids[MERCHANT],
                buyer_account_id=ids[number % 2],
                amount=cny(fen),
                description=f"trade {number}",
            )
        )
        trades.append(created.trade.trade_id)
    return Side(stub, store, ids, trades, authorizations)


# A step: payer, payee, amount, device, and which earlier step's key it reuses (if any).
# The last range: above a real-name account's top-up maximum (TOP_UP_LIMIT_EXCEEDED).
amounts = st.one_of(
    st.integers(1, 400_000), st.integers(400_001, 2_500_000), st.integers(5_000_001, 5_100_000)
)
steps = st.tuples(
    st.sampled_from([0, 1, 2, 3, MERCHANT, HOT_MERCHANT, UNKNOWN, BANK]),
    st.sampled_from([0, 1, 2, 3, MERCHANT, HOT_MERCHANT, UNKNOWN, BILL, TRADE, WITHDRAW]),
    amounts,
    st.sampled_from(["", "", "phone-1", "phone-2"]),
    st.one_of(st.none(), st.integers(1, 4)),
    st.booleans(),
)
# Extra weight on the hot merchant, on one payer (the velocity rule), on withdrawals and on
# person 0 offering a payment authorization.
weighted = st.one_of(
    steps,
    steps.map(lambda s: (0, HOT_MERCHANT, *s[2:])),
    steps.map(lambda s: (HOT_MERCHANT, s[1], *s[2:])),
    steps.map(lambda s: (BOUND[s[2] % 2], WITHDRAW, *s[2:])),  # a payer with a bound card
    steps.map(lambda s: (0, s[1], s[2], "phone-1", *s[4:])),  # offering an authorization
)


Request = (
    pb.TransferRequest
    | pb.PayBillRequest
    | pb.TopUpRequest
    | pb.PayTradeRequest
    | pb.WithdrawRequest
)


def risk_signals(side: Side, device: str, fen: int) -> pb.RiskSignals:
    """The device; from a new one ("phone-1"), one of person 0's payment authorizations."""
    if device != "phone-1":
        return pb.RiskSignals(device_id=device)
    bearer = side.authorizations[fen % len(side.authorizations)]
    return pb.RiskSignals(device_id=device, payment_authorization=bearer)


def requests(step_list: list[tuple], side: Side) -> list[Request]:
    ids = side.ids
    made: list[Request] = []
    for number, (payer, payee, fen, device, reuse, same) in enumerate(step_list):
        if payee == TRADE:
            made.append(
                pb.PayTradeRequest(
                    idempotency_key=uuid.uuid4().hex,
                    trade_id=side.trades[fen % len(side.trades)],
                    buyer_account_id=ids[payer if payer != BANK else 0],
                    risk=risk_signals(side, device, fen),
                )
            )
            continue
        if payee == WITHDRAW:
            made.append(withdrawal(step_list, number, made, side))
            continue
        request: Request = pb.TransferRequest(
            idempotency_key=uuid.uuid4().hex,
            from_account_id=ids[payer] if payer != BANK else ids[payee],
            to_account_id=ids[payee],
            amount=cny(fen),
            memo=f"step {number}",
            risk=risk_signals(side, device, fen),
        )
        if payee == BILL:
            request = pb.PayBillRequest(
                idempotency_key=uuid.uuid4().hex,
                account_id=ids[payer] if payer != BANK else ids[payee],
                biller_id=WATER.biller_id,
                reference=WATER_REFERENCE,
                amount=cny(fen),
                risk=risk_signals(side, device, fen),
            )
        if payer == BANK:
            request = pb.TopUpRequest(
                idempotency_key=uuid.uuid4().hex,
                account_id=ids[payee],
                amount=cny(fen),
                bank_card_number=DECLINED_CARD if device == "phone-2" else CARD,
            )
        if reuse is not None and reuse <= number:
            earlier = made[number - reuse]
            request = type(earlier)()
            request.CopyFrom(earlier)
            if not same and not isinstance(request, pb.PayTradeRequest):
                # The same key for another movement: IDEMPOTENCY_KEY_REUSED.
                request.amount.CopyFrom(cny(fen))
        made.append(request)
    return made


def withdrawal(step_list: list[tuple], number: int, made: list[Request], side: Side) -> Request:
    """A withdrawal (or, reusing an earlier step's key, that step's request or another amount)."""
    payer, _, fen, device, reuse, same = step_list[number]
    earlier = made[number - reuse] if reuse is not None and reuse <= number else None
    if isinstance(earlier, pb.WithdrawRequest):
        request = pb.WithdrawRequest()
        request.CopyFrom(earlier)
        if not same:
            request.amount.CopyFrom(cny(fen))  # IDEMPOTENCY_KEY_REUSED
        return request
    return pb.WithdrawRequest(
        idempotency_key=uuid.uuid4().hex,
        account_id=side.ids[payer if payer != BANK else 0],
        amount=cny(fen),
        bank_card_number=CARD if device == "phone-2" else bound_card(payer),
        risk=risk_signals(side, device, fen),
    )


def answer(
    response: pb.TransferResponse
    | pb.PayBillResponse
    | pb.TopUpResponse
    | pb.PayTradeResponse
    | pb.WithdrawResponse,
    ids: list[str],
) -> tuple[object, ...]:
    entries = tuple(
        (ids.index(e.account_id) if e.account_id in ids else -1, e.amount.amount_fen)
        for e in response.posting.entries
    )
    if isinstance(response, pb.PayTradeResponse):
        trade = response.trade
        return ("ok", entries, response.posting.memo, trade.state, trade.amount.amount_fen)
    account = response.account
    return (
        "ok",
        entries,
        response.posting.memo,
        account.balance.amount_fen,
        account.available.amount_fen,
        account.kyc_level,
    )


async def one_at_a_time(side: Side, made: list[Request]) -> list[tuple[object, ...]]:
    answers: list[tuple[object, ...]] = []
    for request in made:
        try:
            if isinstance(request, pb.PayBillRequest):
                answers.append(answer(await side.stub.PayBill(request), side.ids))
                continue
            if isinstance(request, pb.TopUpRequest):
                answers.append(answer(await side.stub.TopUp(request), side.ids))
                continue
            if isinstance(request, pb.PayTradeRequest):
                answers.append(answer(await side.stub.PayTrade(request), side.ids))
                continue
            if isinstance(request, pb.WithdrawRequest):
                answers.append(answer(await side.stub.Withdraw(request), side.ids))
                continue
            answers.append(answer(await side.stub.Transfer(request), side.ids))
        except grpc.aio.AioRpcError as error:
            answers.append(("refused", error_info(error).reason))
    return answers


async def batched(
    side: Side, client: MongoClient, clock: ManualClock, made: list[Request]
) -> tuple[list[tuple[object, ...]], MovementBatcher]:
    batcher = MovementBatcher(
        client,
        side.store,
        clock,
        lambda: DEFAULT_RULES,
        size_max=BATCH_SIZE,
        # One batch at a time: arrival order is the order applied (two in flight may commit
        # batches on disjoint accounts in either order, as concurrent requests may).
        in_flight_max=1,
    )
    payouts = WithdrawalPayouts(client, side.store, PayoutDecliningBank(), clock)
    charges = TopUpCharges(client, side.store, PayoutDecliningBank(), clock)

    async def send(request: Request) -> tuple[object, ...]:
        if isinstance(request, pb.PayBillRequest):
            return await pay_bill(request)
        if isinstance(request, pb.TopUpRequest):
            return await top_up(request)
        if isinstance(request, pb.PayTradeRequest):
            return await pay_trade(request)
        if isinstance(request, pb.WithdrawRequest):
            return await withdraw(request)
        ask = MovementAsk(
            record_id=f"transfer:{request.idempotency_key}",
            fingerprint=fingerprint_request(request),
            idempotency_key=request.idempotency_key,
            from_account_id=request.from_account_id,
            to_account_id=request.to_account_id,
            amount_fen=request.amount.amount_fen,
            memo=request.memo,
            device_id=request.risk.device_id,
            second_factor=authorization_factor(request.risk.payment_authorization),
        )
        try:
            return answer(await batcher.transfer(ask), side.ids)
        except DomainError as error:
            return ("refused", error.reason)

    async def pay_trade(request: pb.PayTradeRequest) -> tuple[object, ...]:
        ask = MovementAsk(
            record_id=f"pay-trade:{request.idempotency_key}",
            fingerprint=fingerprint_request(request),
            idempotency_key=request.idempotency_key,
            from_account_id=request.buyer_account_id,
            to_account_id=ESCROW_ACCOUNT_ID,
            amount_fen=0,
            memo="",
            device_id=request.risk.device_id,
            second_factor=authorization_factor(request.risk.payment_authorization),
            posting_kind=PostingKind.TRADE_PAYMENT,
            payment_kind=PaymentKind.PAYMENT,
            trade_id=request.trade_id,
        )
        try:
            return answer(await batcher.submit(ask, pb.PayTradeResponse), side.ids)
        except DomainError as error:
            return ("refused", error.reason)

    async def withdraw(request: pb.WithdrawRequest) -> tuple[object, ...]:
        job = WithdrawJob(
            record_id=f"withdraw:{request.idempotency_key}",
            fingerprint=fingerprint_request(request),
            idempotency_key=request.idempotency_key,
            account_id=request.account_id,
            amount_fen=request.amount.amount_fen,
            bank_card_number=request.bank_card_number,
            device_id=request.risk.device_id,
            second_factor=authorization_factor(request.risk.payment_authorization),
        )
        try:
            response = await batcher.submit_job(job, pb.WithdrawResponse, withdrawal_response)
            await payouts.answer(request.idempotency_key)  # Withdraw's steps 2 and 3
            return answer(response, side.ids)
        except DomainError as error:
            return ("refused", error.reason)

    async def top_up(request: pb.TopUpRequest) -> tuple[object, ...]:
        job = TopUpJob(
            record_id=f"top-up:{request.idempotency_key}",
            fingerprint=fingerprint_request(request),
            idempotency_key=request.idempotency_key,
            account_id=request.account_id,
            amount_fen=request.amount.amount_fen,
            bank_card_number=request.bank_card_number,
        )
        try:
            reserved = await batcher.submit_job(job, pb.TopUpResponse, top_up_reserved)
            # TopUp's steps 2 and 3: the card charged by the key, then credited or declined.
            credited = await charges.answer(request.idempotency_key)
            assert credited is not None, "every batched top-up keeps a record"
            assert reserved == pb.TopUpResponse(), "the reserve moves no money"
            return answer(credited, side.ids)
        except DomainError as error:
            return ("refused", error.reason)

    async def pay_bill(request: pb.PayBillRequest) -> tuple[object, ...]:
        ask = MovementAsk(
            record_id=f"pay-bill:{request.idempotency_key}",
            fingerprint=fingerprint_request(request),
            idempotency_key=request.idempotency_key,
            from_account_id=request.account_id,
            to_account_id=WATER.merchant_account_id,
            amount_fen=request.amount.amount_fen,
            memo=f"{WATER.name} {request.reference}",
            device_id=request.risk.device_id,
            second_factor=authorization_factor(request.risk.payment_authorization),
            posting_kind=PostingKind.BILL_PAYMENT,
            payment_kind=PaymentKind.PAYMENT,
            reference=request.reference,
            payer_may="pay bills",
            payee_may="",
        )
        try:
            return answer(await batcher.submit(ask, pb.PayBillResponse), side.ids)
        except DomainError as error:
            return ("refused", error.reason)

    # Queued at once, in order: they commit in batches of BATCH_SIZE, each batch deciding
    # its transfers in arrival order after the batches before it committed. A withdrawal
    # the bank declines gives its money back after its batch committed, a declined top-up
    # the day's figure: what follows it is queued once it is answered (its client waits
    # for its answer).
    answers: list[tuple[object, ...]] = []
    segment: list[Request] = []
    for request in made:
        segment.append(request)
        declined_card = bound_card(BOUND[1])
        if (
            isinstance(request, pb.WithdrawRequest) and request.bank_card_number == declined_card
        ) or (isinstance(request, pb.TopUpRequest) and request.bank_card_number == DECLINED_CARD):
            answers += await asyncio.gather(*(send(r) for r in segment))
            segment = []
    answers += await asyncio.gather(*(send(r) for r in segment))
    return answers, batcher


async def books(side: Side) -> tuple[object, ...]:
    balances = []
    for account_id in [*side.ids[:UNKNOWN], side.ids[BILL]]:
        account = (await side.stub.GetAccount(pb.GetAccountRequest(account_id=account_id))).account
        lines = await side.store.entries.count_documents({"account_id": account_id})
        balances.append((account.balance.amount_fen, account.available.amount_fen, lines))
    payers = side.ids[:UNKNOWN]
    decisions = [
        await side.store.risk_decisions.count_documents(
            {"payer_account_id": {"$in": payers}, "proceeded": proceeded}
        )
        for proceeded in (True, False)
    ]
    states = [(await side.store.get_trade(t)).state.value for t in side.trades]
    withdrawn = await side.store.postings.count_documents({"kind": "withdrawal"})
    pending = await side.store.withdrawals.count_documents({"state": "pending"})
    for account_id in (WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID, FAKE_BANK_CLEARING_ACCOUNT_ID):
        account = (await side.stub.GetAccount(pb.GetAccountRequest(account_id=account_id))).account
        balances.append((account.balance.amount_fen, pending, 0))
    top_ups = [
        await side.store.top_ups.count_documents({"state": state})
        for state in ("pending", "credited", "declined")
    ]
    spent = [
        await side.store.payment_authorizations.count_documents(
            {"_id": authorization_digest(bearer), "used_at": {"$ne": None}}
        )
        for bearer in side.authorizations
    ]
    return tuple(balances), tuple(decisions), tuple(states), withdrawn, tuple(top_ups), tuple(spent)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_list=st.lists(weighted, min_size=8, max_size=30))
async def test_batched_transfers_end_as_one_at_a_time(
    services: tuple[tuple[Stub, PaymentStore], tuple[Stub, PaymentStore]],
    mongo_client: MongoClient,
    clock: ManualClock,
    step_list: list[tuple],
) -> None:
    (batched_stub, batched_store), (single_stub, single_store) = services
    one = await open_parties(batched_stub, batched_store)
    other = await open_parties(single_stub, single_store)

    made = requests(step_list, one)
    in_batches, batcher = await batched(one, mongo_client, clock, made)
    in_turn = await one_at_a_time(other, requests(step_list, other))

    for number, (got, expected) in enumerate(zip(in_batches, in_turn, strict=True)):
        kind = type(made[number]).__name__.removesuffix("Request")
        if getattr(made[number], "risk", pb.RiskSignals()).payment_authorization:
            kind += " (authorization)"
        event(f"{kind} {expected[0] if expected[0] == 'ok' else expected[1]}")
        assert got == expected, (number, step_list[number])
    assert batcher.movements == len(step_list)
    assert batcher.batches < len(step_list), "transfers shared transactions"
    assert await books(one) == await books(other)
    assert await batched_store.audit_ledger() == []
    assert await single_store.audit_ledger() == []
    for store in (batched_store, single_store):
        assert await store.withdrawals.count_documents({"state": "pending"}) == 0
        assert await store.audit_withdrawals_in_transit() == []
        assert await store.top_ups.count_documents({"state": "pending"}) == 0
        assert await store.audit_top_ups(clock.now()) == []
