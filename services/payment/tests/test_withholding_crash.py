"""SIGKILL of a payment-service process while settlements with withholdings are committing.

Merchants each have paid and shipped trades, a withholding on one trade (an order loan's)
and a merchant-wide one (an overdue loan's). Every trade's receipt is confirmed at once and
the process is killed once some settlements have been acknowledged. After a restart every
confirmation is sent again (a settled trade refuses it: ILLEGAL_TRANSITION). Then each trade
settled exactly once, in one posting whose legs are the merchant, the fee and what was
withheld; each instruction's withheld amount is the sum of its applications, each
application a leg of its own settlement's posting; the lender's balance is everything
withheld; each merchant holds its nets less what was withheld from it; the ledger audit is
clean: the merchant was never paid without the loan being paid, nor the loan twice.
"""

from __future__ import annotations

import asyncio

import grpc

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc, withholding_pb2, withholding_pb2_grpc
from services.payment.escrow import split_settlement
from services.payment.store import PaymentStore
from services.payment.tests.support import cny, new_key, open_merchant, open_person, top_up
from tests.service_process import ServiceProcess

MERCHANTS = 6
TRADES_PER_MERCHANT = 4
TRADE_FEN = 10_000
LENDER = "platform:loan:order_crash"
# Settlements share batches (group commit): the second batch holds most of them, so the
# kill comes as soon as the first is acknowledged.
ACKNOWLEDGED_BEFORE_KILL = 1


async def open_merchant_with_trades(
    stub: payment_pb2_grpc.PaymentServiceStub,
    withholding: withholding_pb2_grpc.WithholdingServiceStub,
) -> list[pb.Trade]:
    """A merchant with shipped trades, a withholding on its first and one merchant-wide."""
    merchant = (await open_merchant(stub)).account_id
    buyer = (await open_person(stub)).account_id
    await top_up(stub, buyer, TRADE_FEN * TRADES_PER_MERCHANT)
    trades = []
    for _ in range(TRADES_PER_MERCHANT):
        created = await stub.CreateTrade(
            pb.CreateTradeRequest(
                idempotency_key=new_key(),
                merchant_account_id=merchant,
                buyer_account_id=buyer,
                amount=cny(TRADE_FEN),
                description="tea",
            )
        )
        trade = created.trade
        await stub.PayTrade(
            pb.PayTradeRequest(
                idempotency_key=new_key(), trade_id=trade.trade_id, buyer_account_id=buyer
            )
        )
        await stub.MarkTradeShipped(
            pb.MarkTradeShippedRequest(trade_id=trade.trade_id, merchant_account_id=merchant)
        )
        trades.append(trade)
    for wid, trade_id, fen in (
        (f"own:{merchant}", trades[0].trade_id, 7_000),
        (f"all:{merchant}", "", 15_000),
    ):
        await withholding.SetWithholding(
            withholding_pb2.SetWithholdingRequest(
                idempotency_key=new_key(),
                withholding_id=wid,
                merchant_account_id=merchant,
                trade_id=trade_id,
                account_id=LENDER,
                reference=f"loan:{merchant}",
                amount=cny(fen),
            )
        )
    return trades


async def confirm(stub: payment_pb2_grpc.PaymentServiceStub, trade: pb.Trade) -> bool:
    """Confirm receipt; False if refused as already settled."""
    try:
        await stub.ConfirmTradeReceipt(
            pb.ConfirmTradeReceiptRequest(
                trade_id=trade.trade_id, buyer_account_id=trade.buyer_account_id
            ),
            timeout=30,
        )
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        return False
    return True


async def test_sigkill_mid_settlement_never_pays_the_merchant_without_the_loan(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    database = f"{database_name}_withholding_crash"
    service = ServiceProcess("payment", mongo_url, database)
    await service.start()
    trades: list[pb.Trade] = []
    acknowledged: set[str] = set()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            withholding = withholding_pb2_grpc.WithholdingServiceStub(channel)
            await stub.EnsurePlatformAccount(
                pb.EnsurePlatformAccountRequest(
                    account_id=LENDER, display_name="order loans", external_party=True
                )
            )
            for _ in range(MERCHANTS):
                trades += await open_merchant_with_trades(stub, withholding)
            enough = asyncio.Event()

            async def confirm_before_the_kill(trade: pb.Trade) -> None:
                try:
                    settled = await confirm(stub, trade)
                except grpc.aio.AioRpcError:
                    return  # the process died under it
                if settled:
                    acknowledged.add(trade.trade_id)
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()

            confirming = [asyncio.create_task(confirm_before_the_kill(t)) for t in trades]
            await asyncio.wait_for(enough.wait(), timeout=60)
            service.kill()
            await asyncio.gather(*confirming)
        assert len(acknowledged) < len(trades), "the kill came while settlements were in flight"

        await service.start()
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            settled_after = {t.trade_id for t in trades if await confirm(stub, t)}
        assert not settled_after & acknowledged, "an acknowledged settlement stays settled"
    finally:
        service.stop()
    await check_books(PaymentStore(mongo_client[database]), trades)


async def check_books(store: PaymentStore, trades: list[pb.Trade]) -> None:
    for trade in trades:
        query = {"kind": "trade_settlement", "reference": trade.trade_id}
        assert await store.postings.count_documents(query) == 1, "each trade settled once"
    withheld_by_merchant: dict[str, int] = {}
    async for document in store.withholdings.find({}):
        applied = sum(a["amount_fen"] for a in document["applications"])
        assert applied == document["withheld_fen"] <= document["amount_fen"]
        for application in document["applications"]:
            posting = await store.postings.find_one({"_id": application["posting_id"]})
            assert posting is not None, "the application's settlement posting exists"
            assert posting["reference"] == application["trade_id"]
        merchant = document["merchant_account_id"]
        withheld_by_merchant[merchant] = withheld_by_merchant.get(merchant, 0) + applied
    net_fen = split_settlement(TRADE_FEN, 0).merchant_fen
    assert len(withheld_by_merchant) == MERCHANTS
    for merchant, withheld in withheld_by_merchant.items():
        # 4 nets of 9,940 each: the 7,000 and the 15,000 are withheld in full
        assert withheld == 7_000 + 15_000
        account = await store.get_account(merchant)
        assert account.balance_fen == TRADES_PER_MERCHANT * net_fen - withheld
    lender = await store.get_account(LENDER)
    assert lender.balance_fen == sum(withheld_by_merchant.values())
    assert await store.audit_ledger() == []
