"""Property: holds, platform transfers, settlements and refund decisions decided in batches
end exactly as the same ones one at a time (group commit's jobs, batch_*.py).

As test_group_commit.py does for movements: two payment services on their own databases,
the same parties in each, the same clock; one serves every request in its own transaction
(group_commit=False), in the other the same requests, all queued at once, go through a
batcher (rpc_batching.py) in batches of a few, each job made as its RPC makes it and
answered by the RPC's own response function. A random mix (hypothesis) of holds placed (some
reserving a payment, so screened by risk control; some repeated, some with another amount
under the same id, some overdrawing), captured (in part or whole, to an ordinary or a hot
merchant, to an unknown account, twice), released (before they exist, after a capture),
platform transfers (from a platform account of the example's, which some overdraw, from the
bank's clearing account, from a person's account), settlements of shipped trades (by their
buyer or someone else; a merchant with a trade-tied and a merchant-wide withholding
instruction, which the settlements of one batch share) and refund decisions (by the merchant
or the platform, approving or rejecting), payment codes charged (some twice, some never
issued, some by a hot merchant, some by a person; some overdrawing), interleaved with
transfers, must give each request the same answer and leave the same balances, statement
lines, holds, trades, withholding instructions and spent payment authorizations; the
ledger audit is clean on both. Some holds reserving a payment come from a new device with
one of person 0's payment authorizations (spent by the challenge it answers, refused if
someone else's, too small or spent already), and large code charges offer one too.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from chassis.clock import ManualClock
from chassis.errors import DomainError
from chassis.idempotency import fingerprint_request
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc, withholding_pb2_grpc
from colony.payment.v1 import withholding_pb2 as wpb
from conftest import service_settings
from services.payment.bank_channel import FAKE_BANK_CLEARING_ACCOUNT_ID
from services.payment.batch_holds import CaptureHoldJob, PlaceHoldJob, VoidHoldJob
from services.payment.batch_jobs import PlatformTransferJob
from services.payment.batch_model import BatchJob, MovementAsk
from services.payment.batch_retail import ChargeCodeJob
from services.payment.batch_trades import DecideRefundJob, SettleTradeJob
from services.payment.escrow import TradeAction, confirm_receipt
from services.payment.holds import plan_hold
from services.payment.payment_authorization import (
    NO_SECOND_FACTOR,
    authorization_digest,
    authorization_factor,
)
from services.payment.payment_code import code_digest, validate_payment_code
from services.payment.risk import DEFAULT_RULES
from services.payment.rpc_batching import MovementBatcher
from services.payment.rpc_holds import (
    hold_captured_response,
    hold_placed_response,
    hold_voided_response,
)
from services.payment.rpc_platform_transfer import platform_transfer_response
from services.payment.rpc_retail import code_charged_response
from services.payment.rpc_trades import refund_decided_response, trade_settled_response
from services.payment.server import build_payment_service
from services.payment.store import PaymentStore
from services.payment.tests.support import Stub, cny, open_merchant, open_person, top_up
from services.payment.tests.trade_support import PAYMENT_PASSWORD, error_info

PERSONS = 3
MERCHANT, HOT, UNKNOWN, FUND, BANK, LENDER = range(PERSONS, PERSONS + 6)
# Shared by every example (their balances carry over): not compared.
SHARED = (BANK,)
FUND_FEN = 40_000  # a platform account of the example's, which some payouts overdraw
UNKNOWN_ACCOUNT_ID = "2088000000000000"
OPENING_FEN = 200_000
HOLD_SLOTS = 4
PLACED = 2  # of them placed before the steps
CODES = 2  # payment codes shown by the first persons
UNKNOWN_CODE = "280000000000000000"
# Trades: (buyer, merchant, fen, refund requested fen: None none, 0 all).
TRADES = (
    (0, MERCHANT, 30_000, None),
    (1, MERCHANT, 12_000, None),
    (0, HOT, 20_000, None),
    (1, MERCHANT, 9_000, 0),
    (2, MERCHANT, 15_000, 5_000),
)
BATCH_SIZE = 5
AUTHORIZED_FEN = (5_000, 100_000, 300_000)


@dataclass
class Side:
    stub: Stub
    withholding: withholding_pb2_grpc.WithholdingServiceStub
    store: PaymentStore
    ids: list[str]
    trades: list[str]
    prefix: str  # of this example's hold ids
    codes: list[str]  # payment codes the first persons showed, and one never issued
    authorizations: list[str]  # person 0's payment authorizations (AUTHORIZED_FEN)


@contextlib.asynccontextmanager
async def payment_service(
    mongo_url: str, client: MongoClient, database: str, clock: ManualClock, group_commit: bool
) -> AsyncIterator[tuple[grpc.aio.Channel, PaymentStore]]:
    settings_ = service_settings("payment", mongo_url, database)
    service = await build_payment_service(settings_, client, clock, group_commit=group_commit)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield channel, PaymentStore(client[database])
    finally:
        await service.stop()


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    # Near the real time, not trade_support's 2025 start: mongod's TTL monitor deletes a
    # payment code an hour after its expires_at by the real clock, so codes issued on a
    # 2025 clock vanished from one database or the other at random (a charge then answered
    # INVALID_PAYMENT_CODE on one side only).
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


Services = tuple[tuple[grpc.aio.Channel, PaymentStore], tuple[grpc.aio.Channel, PaymentStore]]


@pytest.fixture(scope="module")
async def services(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[Services]:
    async with (
        payment_service(mongo_url, mongo_client, f"{database_name}_jb", clock, True) as batched,
        payment_service(mongo_url, mongo_client, f"{database_name}_js", clock, False) as single,
    ):
        yield batched, single


async def open_parties(channel: grpc.aio.Channel, store: PaymentStore) -> Side:
    stub = payment_pb2_grpc.PaymentServiceStub(channel)
    withholding = withholding_pb2_grpc.WithholdingServiceStub(channel)
    ids = [(await open_person(stub)).account_id for _ in range(PERSONS)]
    ids.append((await open_merchant(stub)).account_id)
    hot = (await open_merchant(stub, "Hot Tea")).account_id
    await stub.SetAccountHot(pb.SetAccountHotRequest(account_id=hot, hot_shards=3))
    prefix = uuid.uuid4().hex[:8]
    fund, lender = f"platform:test_fund_{prefix}", f"platform:test_lender_{prefix}"
    ids += [hot, UNKNOWN_ACCOUNT_ID, fund, FAKE_BANK_CLEARING_ACCOUNT_ID, lender]
    for account_id in (fund, lender):
        await stub.EnsurePlatformAccount(
            pb.EnsurePlatformAccountRequest(account_id=account_id, display_name="Lender")
        )
    await stub.PlatformTransfer(
        pb.PlatformTransferRequest(
            idempotency_key=uuid.uuid4().hex,
            from_account_id=FAKE_BANK_CLEARING_ACCOUNT_ID,
            to_account_id=fund,
            amount=cny(FUND_FEN),
        )
    )
    for index in range(PERSONS):
        await top_up(stub, ids[index], OPENING_FEN)
    trades = []
    for buyer, merchant, fen, refund_fen in TRADES:
        created = await stub.CreateTrade(
            pb.CreateTradeRequest(
                idempotency_key=uuid.uuid4().hex,
                merchant_account_id=ids[merchant],
                buyer_account_id=ids[buyer],
                amount=cny(fen),
                description="tea",
            )
        )
        trade_id = created.trade.trade_id
        await stub.PayTrade(
            pb.PayTradeRequest(
                idempotency_key=uuid.uuid4().hex, trade_id=trade_id, buyer_account_id=ids[buyer]
            )
        )
        await stub.MarkTradeShipped(
            pb.MarkTradeShippedRequest(trade_id=trade_id, merchant_account_id=ids[merchant])
        )
        if refund_fen is not None:
            await stub.RequestTradeRefund(
                pb.RequestTradeRefundRequest(
                    trade_id=trade_id,
                    buyer_account_id=ids[buyer],
                    amount=cny(refund_fen) if refund_fen else None,
                    reason="dented",
                )
            )
        trades.append(trade_id)
    # The first trade's own instruction, and one on every settlement of the merchant.
    for number, (trade_id, fen) in enumerate(((trades[0], 3_000), ("", 20_000))):
        await withholding.SetWithholding(
            wpb.SetWithholdingRequest(
                idempotency_key=uuid.uuid4().hex,
                withholding_id=f"{trades[0]}-w{number}",
                merchant_account_id=ids[MERCHANT],
                trade_id=trade_id,
                account_id=lender,
                reference=f"loan-{trades[0]}",
                amount=cny(fen),
            )
        )
    for slot in range(PLACED):  # holds the steps find in place (the others they may place)
        await stub.CreateHold(
            pb.CreateHoldRequest(
                hold_id=f"{prefix}-{slot}", account_id=ids[slot], amount=cny(20_000 * (slot + 1))
            )
        )
    codes = [
        (await stub.IssuePaymentCode(pb.IssuePaymentCodeRequest(account_id=ids[p]))).code
        for p in range(CODES)
    ]
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
    codes_shown = [*codes, UNKNOWN_CODE]
    return Side(stub, withholding, store, ids, trades, prefix, codes_shown, authorizations)


# Steps: a kind and four small numbers, read by the kind (see requests()).
fens = st.sampled_from([1_000, 5_000, 40_000, 90_000, 150_000, 250_000])
steps = st.one_of(
    st.tuples(
        st.just("place"),
        st.integers(0, PERSONS - 1),
        fens,
        st.sampled_from([0, 1, 2, 3, 2, 3]),
        st.booleans(),
    ),
    st.tuples(
        st.just("capture"),
        st.integers(0, HOLD_SLOTS - 1),
        st.sampled_from([0, 0, 1_000, 3_000]),
        st.sampled_from([MERCHANT, HOT, UNKNOWN, 0]),
        st.booleans(),
    ),
    st.tuples(
        st.just("void"), st.integers(0, HOLD_SLOTS - 1), st.just(0), st.just(0), st.booleans()
    ),
    st.tuples(
        st.just("confirm"),
        st.integers(0, len(TRADES) - 1),
        st.just(0),
        st.integers(0, 2),
        st.booleans(),
    ),
    st.tuples(
        st.just("refund"),
        st.integers(0, len(TRADES) - 1),
        st.just(0),
        st.integers(0, 1),
        st.booleans(),
    ),
    st.tuples(
        st.just("platform"),
        st.sampled_from([FUND, BANK, 0]),
        st.sampled_from([300, 2_000, 25_000]),
        st.sampled_from([1, HOT, LENDER]),
        st.booleans(),
    ),
    st.tuples(
        st.just("charge"),
        st.integers(0, CODES),
        st.sampled_from([500, 40_000, 250_000]),
        st.sampled_from([MERCHANT, MERCHANT, HOT, 0]),
        st.booleans(),
    ),
    st.tuples(st.just("transfer"), st.integers(0, PERSONS - 1), fens, st.just(0), st.booleans()),
)

Call = tuple[str, Message]  # the RPC's name and its request


def requests(step_list: list[tuple[Any, ...]], side: Side) -> list[Call]:
    """The requests the steps make, against one side's parties."""
    ids, made = side.ids, []
    for number, (kind, a, fen, c, flag) in enumerate(step_list):
        key = uuid.uuid4().hex
        if kind == "place":
            hold_id = f"{side.prefix}-{c}"
            payee = ids[MERCHANT] if flag else ""
            request: Message = pb.CreateHoldRequest(
                hold_id=hold_id, account_id=ids[a], amount=cny(fen), payee_account_id=payee
            )
            if payee and fen < 100_000:  # from a new device: challenged (but the first)
                bearer = side.authorizations[c % len(side.authorizations)]
                request.risk.CopyFrom(
                    pb.RiskSignals(device_id=f"phone-{number}", payment_authorization=bearer)
                )
            made.append(("CreateHold", request))
        elif kind == "capture":
            hold_id = f"{side.prefix}-{a}"
            request = pb.CaptureHoldRequest(
                hold_id=hold_id, credit_account_id=ids[c], memo="captured" if flag else ""
            )
            if fen:
                request.amount.CopyFrom(cny(fen))
            made.append(("CaptureHold", request))
        elif kind == "void":
            made.append(("VoidHold", pb.VoidHoldRequest(hold_id=f"{side.prefix}-{a}")))
        elif kind == "confirm":
            buyer = TRADES[a][0] if flag else c
            request = pb.ConfirmTradeReceiptRequest(
                trade_id=side.trades[a], buyer_account_id=ids[buyer]
            )
            made.append(("ConfirmTradeReceipt", request))
        elif kind == "refund":
            merchant = ids[TRADES[a][1]] if c else ""  # else the platform decides
            request = pb.DecideTradeRefundRequest(
                trade_id=side.trades[a], merchant_account_id=merchant, approve=flag
            )
            made.append(("DecideTradeRefund", request))
        elif kind == "charge":
            request = pb.ChargePaymentCodeRequest(
                idempotency_key=key,
                merchant_account_id=ids[c],
                code=side.codes[a],
                amount=cny(fen),
                memo="till 3" if flag else "",
                # A large charge is challenged: a wallet offers an authorization with it.
                payment_authorization=side.authorizations[-1] if fen > 200_000 else "",
            )
            made.append(("ChargePaymentCode", request))
        elif kind == "platform":
            request = pb.PlatformTransferRequest(
                idempotency_key=key,
                from_account_id=ids[a],
                to_account_id=ids[c],
                amount=cny(fen),
                memo="payout",
                reference="ref" if flag else "",
            )
            made.append(("PlatformTransfer", request))
        else:
            request = pb.TransferRequest(
                idempotency_key=key,
                from_account_id=ids[a],
                to_account_id=ids[MERCHANT if flag else HOT],
                amount=cny(fen),
            )
            made.append(("Transfer", request))
    return made


def answer(response: Message, side: Side) -> tuple[object, ...]:
    """What a response says, with the side's account and trade ids as their index."""
    ids = side.ids

    def index(account_id: str) -> int:
        return ids.index(account_id) if account_id in ids else -1

    said: list[object] = ["ok"]
    if "payer_name" in response.DESCRIPTOR.fields_by_name:
        said.append(response.payer_name)
    for name in ("hold", "trade", "posting", "account"):
        if name not in response.DESCRIPTOR.fields_by_name or not response.HasField(name):
            continue
        part: Any = getattr(response, name)
        if name == "hold":
            said += [part.state, part.amount.amount_fen, part.captured_amount.amount_fen]
            said += [index(part.account_id), index(part.credit_account_id)]
            said += [part.voided_before_created]
        elif name == "trade":
            said += [part.state, part.refunded.amount_fen, part.refund_requested.amount_fen]
        elif name == "posting":
            memo = part.memo
            for number, trade_id in enumerate(side.trades):
                memo = memo.replace(trade_id, f"trade {number}")
            said += [part.kind, memo]
            said += [(index(e.account_id), e.amount.amount_fen) for e in part.entries]
        else:
            said += [part.balance.amount_fen, part.available.amount_fen]
    return tuple(said)


async def one_at_a_time(side: Side, made: list[Call]) -> list[tuple[object, ...]]:
    answers: list[tuple[object, ...]] = []
    for name, request in made:
        try:
            answers.append(answer(await getattr(side.stub, name)(request), side))
        except grpc.aio.AioRpcError as error:
            answers.append(("refused", error_info(error).reason))
    return answers


def job_of(
    name: str, request: Any, clock: ManualClock
) -> tuple[BatchJob, Callable[[object], Message]]:
    """The job the RPC makes of the request (rpc_holds.py, rpc_trades.py, ...)."""
    if name == "CreateHold":
        hold = plan_hold(
            hold_id=request.hold_id,
            account_id=request.account_id,
            amount_fen=request.amount.amount_fen,
            ttl_seconds=0,
            memo="",
            now=clock.now(),
        )
        factor = NO_SECOND_FACTOR
        if request.payee_account_id:
            factor = authorization_factor(request.risk.payment_authorization)
        job: BatchJob = PlaceHoldJob(hold, request.payee_account_id, request.risk.device_id, factor)
        return job, hold_placed_response
    if name == "CaptureHold":
        job = CaptureHoldJob(
            request.hold_id, request.amount.amount_fen, request.credit_account_id, request.memo
        )
        return job, hold_captured_response
    if name == "VoidHold":
        return VoidHoldJob(request.hold_id), hold_voided_response
    if name == "ConfirmTradeReceipt":
        job = SettleTradeJob(
            request.trade_id, request.buyer_account_id, TradeAction.CONFIRM_RECEIPT, confirm_receipt
        )
        return job, trade_settled_response
    if name == "DecideTradeRefund":
        job = DecideRefundJob(request.trade_id, request.merchant_account_id, request.approve)
        return job, refund_decided_response
    if name == "ChargePaymentCode":
        job = ChargeCodeJob(
            record_id=f"charge-code:{request.merchant_account_id}:{request.idempotency_key}",
            fingerprint=fingerprint_request(request),
            idempotency_key=request.idempotency_key,
            code_digest=code_digest(validate_payment_code(request.code)),
            merchant_account_id=request.merchant_account_id,
            amount_fen=request.amount.amount_fen,
            memo=request.memo,
            second_factor=authorization_factor(request.payment_authorization),
        )
        return job, code_charged_response
    assert name == "PlatformTransfer"
    job = PlatformTransferJob(
        record_id=f"platform-transfer:{request.idempotency_key}",
        fingerprint=fingerprint_request(request),
        idempotency_key=request.idempotency_key,
        from_account_id=request.from_account_id,
        to_account_id=request.to_account_id,
        amount_fen=request.amount.amount_fen,
        memo=request.memo,
        reference=request.reference,
    )
    return job, platform_transfer_response


async def batched(
    side: Side, client: MongoClient, clock: ManualClock, made: list[Call]
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

    async def send(name: str, request: Any) -> tuple[object, ...]:
        call: Awaitable[Message]
        if name == "Transfer":
            ask = MovementAsk(
                record_id=f"transfer:{request.idempotency_key}",
                fingerprint=fingerprint_request(request),
                idempotency_key=request.idempotency_key,
                from_account_id=request.from_account_id,
                to_account_id=request.to_account_id,
                amount_fen=request.amount.amount_fen,
                memo=request.memo,
                device_id="",
                second_factor=NO_SECOND_FACTOR,
            )
            call = batcher.transfer(ask)
        else:
            job, respond = job_of(name, request, clock)
            call = batcher.submit_job(job, Message, respond)
        try:
            return answer(await call, side)
        except DomainError as error:
            return ("refused", error.reason)

    # All queued at once, in order: they commit in batches of BATCH_SIZE.
    return list(await asyncio.gather(*(send(n, r) for n, r in made))), batcher


async def books(side: Side) -> tuple[object, ...]:
    accounts = []
    for number, account_id in enumerate(side.ids):
        if number in (UNKNOWN, *SHARED):
            continue
        account = (await side.stub.GetAccount(pb.GetAccountRequest(account_id=account_id))).account
        lines = await side.store.entries.count_documents({"account_id": account_id})
        accounts.append((account.balance.amount_fen, account.available.amount_fen, lines))
    holds = []
    for slot in range(HOLD_SLOTS):
        hold = await side.store.get_hold(f"{side.prefix}-{slot}")
        holds.append(None if hold is None else (hold.state, hold.amount_fen, hold.captured_fen))
    trades = []
    for trade_id in side.trades:
        trade = await side.store.get_trade(trade_id)
        trades.append((trade.state, trade.refund_fen))
    withholdings = []
    for number in range(2):
        found = await side.store.find_withholding(f"{side.trades[0]}-w{number}")
        assert found is not None
        withholdings.append((found.state, found.withheld_fen, len(found.applications)))
    decisions = await side.store.risk_decisions.count_documents(
        {"payer_account_id": {"$in": side.ids[:PERSONS]}}
    )
    spent = [
        await side.store.payment_authorizations.count_documents(
            {"_id": authorization_digest(bearer), "used_at": {"$ne": None}}
        )
        for bearer in side.authorizations
    ]
    return (
        tuple(accounts),
        tuple(holds),
        tuple(trades),
        tuple(withholdings),
        decisions,
        tuple(spent),
    )


@settings(
    max_examples=25,
    # No shrinking: an example takes a second, and a failing one says what differed.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(step_list=st.lists(steps, min_size=8, max_size=24))
async def test_batched_jobs_end_as_one_at_a_time(
    services: Services, mongo_client: MongoClient, clock: ManualClock, step_list: list[tuple]
) -> None:
    (batched_channel, batched_store), (single_channel, single_store) = services
    one = await open_parties(batched_channel, batched_store)
    other = await open_parties(single_channel, single_store)

    made_one = requests(step_list, one)
    in_batches, batcher = await batched(one, mongo_client, clock, made_one)
    in_turn = await one_at_a_time(other, requests(step_list, other))

    for number, (got, expected) in enumerate(zip(in_batches, in_turn, strict=True)):
        kind = step_list[number][0]
        if getattr(made_one[number][1], "risk", pb.RiskSignals()).payment_authorization:
            kind += " (authorization)"
        event(f"{kind} {expected[0] if expected[0] == 'ok' else expected[1]}")
        assert got == expected, (number, step_list[number], got, expected)
    assert batcher.movements == len(step_list)
    assert batcher.batches < len(step_list), "jobs shared transactions"
    assert await books(one) == await books(other)
    assert await batched_store.audit_ledger() == []
    assert await single_store.audit_ledger() == []
