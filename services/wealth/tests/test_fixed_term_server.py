"""Zhaocaibao over real gRPC: the catalog, the quota under 100 concurrent buyers, maturity
payouts and early liquidation (变现)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import grpc

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.payouts import (
    FIXED_TERM_INTEREST_ACCOUNT_ID,
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    PLATFORM_FEE_INCOME_ACCOUNT_ID,
)
from services.wealth.tests.support import (
    UNIT_FEN,
    assert_audit_clean,
    cny,
    error_info,
    new_investor,
    new_key,
    new_product,
    omnibus,
    refused,
)


def subscription(investor_id: str, product_id: str, fen: int) -> pb.SubscribeProductRequest:
    purchase_id = f"saga-{uuid.uuid4().hex}:subscribe"
    return pb.SubscribeProductRequest(
        idempotency_key=purchase_id,
        purchase_id=purchase_id,
        investor_id=investor_id,
        product_id=product_id,
        amount=cny(fen),
    )


async def confirm(stub, purchase_id: str) -> pb.ConfirmPurchaseResponse:
    return await stub.ConfirmPurchase(
        pb.ConfirmPurchaseRequest(
            idempotency_key=new_key(), purchase_id=purchase_id, payment_posting_id="capture"
        )
    )


async def buy_holding(wealth, investor_id: str, product_id: str, fen: int) -> pb.Holding:
    tried = await wealth.stub.SubscribeProduct(subscription(investor_id, product_id, fen))
    return (await confirm(wealth.stub, tried.purchase.purchase_id)).holding


async def test_operators_create_get_list_and_close_products(wealth) -> None:
    stub = wealth.stub
    product = await new_product(wealth, product_id="ztb-test-catalog")
    assert (product.state, product.on_sale) == (pb.PRODUCT_STATE_LISTED, True)
    assert product.remaining_quota.amount_fen == 100 * UNIT_FEN
    assert (
        await stub.GetProduct(pb.GetProductRequest(product_id=product.product_id))
    ).product == product
    later = await new_product(wealth, starts_in=timedelta(days=2))
    assert later.product_id.startswith("ztb-") and not later.on_sale
    on_sale = await stub.ListProducts(pb.ListProductsRequest(on_sale_only=True))
    listed = {p.product_id for p in on_sale.products}
    assert product.product_id in listed and later.product_id not in listed
    everything = await stub.ListProducts(pb.ListProductsRequest(page={"page_size": 1}))
    assert len(everything.products) == 1 and everything.page.next_page_token
    second = await stub.ListProducts(
        pb.ListProductsRequest(page={"page_size": 1, "page_token": everything.page.next_page_token})
    )
    assert second.products[0].product_id != everything.products[0].product_id

    duplicate = await refused(new_product(wealth, product_id="ztb-test-catalog"))
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    closed = await stub.CloseProduct(
        pb.CloseProductRequest(idempotency_key=new_key(), product_id=product.product_id)
    )
    assert (closed.product.state, closed.product.on_sale) == (pb.PRODUCT_STATE_CLOSED, False)
    error = await refused(
        stub.SubscribeProduct(subscription(new_investor(), product.product_id, UNIT_FEN))
    )
    assert (error_info(error).reason, error_info(error).metadata["why"]) == (
        "PRODUCT_NOT_ON_SALE",
        "closed",
    )
    error = await refused(
        stub.SubscribeProduct(subscription(new_investor(), later.product_id, UNIT_FEN))
    )
    assert error_info(error).metadata["why"] == "sale_not_started"


async def test_a_subscription_below_the_minimum_is_refused(wealth) -> None:
    product = await new_product(wealth)
    error = await refused(
        wealth.stub.SubscribeProduct(subscription(new_investor(), product.product_id, UNIT_FEN - 1))
    )
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "BELOW_MINIMUM",
    )


async def test_100_concurrent_buyers_never_oversell_a_quota_of_10_units(wealth) -> None:
    stub = wealth.stub
    product = await new_product(wealth, quota_fen=10 * UNIT_FEN)
    requests = [subscription(new_investor(), product.product_id, UNIT_FEN) for _ in range(100)]
    outcomes = await asyncio.gather(
        *(stub.SubscribeProduct(r) for r in requests), return_exceptions=True
    )
    sold = [o for o in outcomes if isinstance(o, pb.SubscribeProductResponse)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert (len(sold), len(refusals)) == (10, 90)
    assert {error_info(e).reason for e in refusals} == {"QUOTA_EXCEEDED"}
    current = (await stub.GetProduct(pb.GetProductRequest(product_id=product.product_id))).product
    assert (current.sold.amount_fen, current.remaining_quota.amount_fen) == (10 * UNIT_FEN, 0)
    # Replaying a successful try answers the same and takes no more quota.
    winner, first_answer = next(
        (r, o)
        for r, o in zip(requests, outcomes, strict=True)
        if isinstance(o, pb.SubscribeProductResponse)
    )
    assert await stub.SubscribeProduct(winner) == first_answer
    # A cancelled purchase (its hold failed) hands its unit back; the next buyer gets it.
    await stub.CancelPurchase(
        pb.CancelPurchaseRequest(
            idempotency_key=new_key(), purchase_id=sold[0].purchase.purchase_id
        )
    )
    late = await stub.SubscribeProduct(subscription(new_investor(), product.product_id, UNIT_FEN))
    assert late.product.remaining_quota.amount_fen == 0
    for response in [*sold[1:], late]:
        holding = (await confirm(stub, response.purchase.purchase_id)).holding
        assert holding.principal.amount_fen == UNIT_FEN
    await assert_audit_clean(stub)


async def test_a_holding_appears_at_confirm_with_its_dates(wealth) -> None:
    stub = wealth.stub
    product = await new_product(wealth, term_days=90, yield_text="0.0365")
    investor = new_investor()
    tried = await stub.SubscribeProduct(subscription(investor, product.product_id, 100_000))
    assert tried.purchase.credit_account_id == FIXED_TERM_OMNIBUS_ACCOUNT_ID
    missing = await refused(
        stub.GetHolding(pb.GetHoldingRequest(holding_id=tried.purchase.purchase_id))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    holding = (await confirm(stub, tried.purchase.purchase_id)).holding
    today = wealth.clock.now().date()  # 09:00 CST: the UTC date is the business date
    assert holding.value_date == (today + timedelta(days=1)).isoformat()  # T+1
    assert holding.maturity_date == (today + timedelta(days=91)).isoformat()
    # 100,000 * 0.0365 * 90 / 365 = 900 fen of interest.
    assert holding.maturity_payout.amount_fen == 100_900
    listed = await stub.ListHoldings(pb.ListHoldingsRequest(investor_id=investor))
    assert [h.holding_id for h in listed.holdings] == [holding.holding_id]


async def test_early_liquidation_transfers_the_holding_and_owes_proceeds_and_fee(wealth) -> None:
    stub = wealth.stub
    product = await new_product(wealth, term_days=90, yield_text="0.0365")
    seller, buyer = new_investor(), new_investor()
    holding = await buy_holding(wealth, seller, product.product_id, 100_000)
    listing_request = pb.ListHoldingForTransferRequest(
        idempotency_key=new_key(),
        holding_id=holding.holding_id,
        investor_id=seller,
        price=cny(100_300),
    )
    too_early = await refused(stub.ListHoldingForTransfer(listing_request))
    assert error_info(too_early).reason == "HOLDING_NOT_TRANSFERABLE"  # before its value date

    wealth.clock.advance(timedelta(days=1))
    listing_request.idempotency_key = new_key()
    stranger = await refused(
        stub.ListHoldingForTransfer(
            pb.ListHoldingForTransferRequest(
                idempotency_key=new_key(),
                holding_id=holding.holding_id,
                investor_id=buyer,
                price=cny(100_300),
            )
        )
    )
    assert stranger.code() == grpc.StatusCode.NOT_FOUND
    listing = (await stub.ListHoldingForTransfer(listing_request)).listing
    # Fee 0.2% of the 100,000 principal = 200 fen, out of the seller's price.
    assert (listing.terms.fee.amount_fen, listing.terms.seller_proceeds.amount_fen) == (
        200,
        100_100,
    )
    assert listing.terms.buyer_payout.amount_fen == 100_900
    market = await stub.ListTransferListings(
        pb.ListTransferListingsRequest(product_id=product.product_id)
    )
    assert [entry.holding.holding_id for entry in market.listings] == [holding.holding_id]

    own = await refused(
        stub.BuyTransferListing(
            pb.BuyTransferListingRequest(
                idempotency_key=new_key(),
                purchase_id=new_key(),
                investor_id=seller,
                holding_id=holding.holding_id,
                price=cny(100_300),
            )
        )
    )
    assert error_info(own).reason == "SAME_ACCOUNT"
    stale = await refused(
        stub.BuyTransferListing(
            pb.BuyTransferListingRequest(
                idempotency_key=new_key(),
                purchase_id=new_key(),
                investor_id=buyer,
                holding_id=holding.holding_id,
                price=cny(100_000),
            )
        )
    )
    assert error_info(stale).reason == "LISTING_CHANGED"

    before = omnibus(await assert_audit_clean(stub), FIXED_TERM_OMNIBUS_ACCOUNT_ID)
    purchase_id = f"saga-{uuid.uuid4().hex}:buy"
    tried = await stub.BuyTransferListing(
        pb.BuyTransferListingRequest(
            idempotency_key=new_key(),
            purchase_id=purchase_id,
            investor_id=buyer,
            holding_id=holding.holding_id,
            price=cny(100_300),
        )
    )
    assert (tried.purchase.amount.amount_fen, tried.purchase.credit_account_id) == (
        100_300,
        FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    )
    # Reserved for this buyer: off the market, and the seller cannot withdraw it now.
    market = await stub.ListTransferListings(
        pb.ListTransferListingsRequest(product_id=product.product_id)
    )
    assert list(market.listings) == []
    reserved = await refused(
        stub.WithdrawTransferListing(
            pb.WithdrawTransferListingRequest(
                idempotency_key=new_key(), holding_id=holding.holding_id, investor_id=seller
            )
        )
    )
    assert error_info(reserved).reason == "LISTING_RESERVED"

    confirmed = await confirm(stub, purchase_id)
    bought = confirmed.holding
    assert (bought.investor_id, bought.holding_id) == (buyer, purchase_id)
    assert (bought.principal.amount_fen, bought.cost.amount_fen) == (100_000, 100_300)
    assert (bought.maturity_date, bought.acquired_from_holding_id) == (
        holding.maturity_date,
        holding.holding_id,
    )
    owed = {
        (p.kind, p.from_account_id, p.to_account_id, p.amount.amount_fen) for p in confirmed.payouts
    }
    assert owed == {
        (pb.PAYOUT_KIND_TRANSFER_PROCEEDS, FIXED_TERM_OMNIBUS_ACCOUNT_ID, seller, 100_100),
        (
            pb.PAYOUT_KIND_TRANSFER_FEE,
            FIXED_TERM_OMNIBUS_ACCOUNT_ID,
            PLATFORM_FEE_INCOME_ACCOUNT_ID,
            200,
        ),
    }
    sold = (await stub.GetHolding(pb.GetHoldingRequest(holding_id=holding.holding_id))).holding
    assert sold.state == pb.HOLDING_STATE_TRANSFERRED
    # The captured price sits in the omnibus until the proceeds and the fee are paid out.
    after = omnibus(await assert_audit_clean(stub), FIXED_TERM_OMNIBUS_ACCOUNT_ID)
    assert after.expected_balance.amount_fen == before.expected_balance.amount_fen + 100_300
    assert after.liabilities.amount_fen == before.liabilities.amount_fen


async def test_a_cancelled_transfer_puts_the_listing_back_on_the_market(wealth) -> None:
    stub = wealth.stub
    product = await new_product(wealth, term_days=60, amount_min_fen=10_000)
    seller = new_investor()
    holding = await buy_holding(wealth, seller, product.product_id, 50_000)
    wealth.clock.advance(timedelta(days=1))
    await stub.ListHoldingForTransfer(
        pb.ListHoldingForTransferRequest(
            idempotency_key=new_key(),
            holding_id=holding.holding_id,
            investor_id=seller,
            price=cny(50_050),
        )
    )
    request = pb.BuyTransferListingRequest(
        idempotency_key=new_key(),
        purchase_id=new_key(),
        investor_id=new_investor(),
        holding_id=holding.holding_id,
        price=cny(50_050),
    )
    await stub.BuyTransferListing(request)
    await stub.CancelPurchase(
        pb.CancelPurchaseRequest(idempotency_key=new_key(), purchase_id=request.purchase_id)
    )
    back = (await stub.GetHolding(pb.GetHoldingRequest(holding_id=holding.holding_id))).holding
    assert (back.state, back.pending_purchase_id) == (pb.HOLDING_STATE_LISTED, "")
    withdrawn = await stub.WithdrawTransferListing(
        pb.WithdrawTransferListingRequest(
            idempotency_key=new_key(), holding_id=holding.holding_id, investor_id=seller
        )
    )
    assert withdrawn.holding.state == pb.HOLDING_STATE_HELD


async def test_maturity_pays_principal_and_interest_once(wealth) -> None:
    stub = wealth.stub
    product = await new_product(wealth, term_days=30, yield_text="0.0365")
    investor = new_investor()
    holding = await buy_holding(wealth, investor, product.product_id, 100_000)
    wealth.clock.advance(timedelta(days=30))  # the day before maturity: nothing due
    day_before = await stub.RunFixedTermJobs(
        pb.RunFixedTermJobsRequest(business_date=_previous(holding.maturity_date))
    )
    assert holding.holding_id not in {p.reference for p in day_before.payouts}

    wealth.clock.advance(timedelta(days=1))  # the maturity date has come
    matured = await stub.RunFixedTermJobs(
        pb.RunFixedTermJobsRequest(business_date=holding.maturity_date)
    )
    mine = [p for p in matured.payouts if p.reference == holding.holding_id]
    # 100,000 * 0.0365 * 30 / 365 = 300 fen of interest, from the issuers' interest account.
    assert {(p.kind, p.from_account_id, p.amount.amount_fen) for p in mine} == {
        (pb.PAYOUT_KIND_MATURITY_PRINCIPAL, FIXED_TERM_OMNIBUS_ACCOUNT_ID, 100_000),
        (pb.PAYOUT_KIND_MATURITY_INTEREST, FIXED_TERM_INTEREST_ACCOUNT_ID, 300),
    }
    assert all(
        (p.to_account_id, p.due_on, p.settlement)
        == (investor, holding.maturity_date, pb.PAYOUT_SETTLEMENT_SCHEDULED)
        for p in mine
    )
    again = await stub.RunFixedTermJobs(
        pb.RunFixedTermJobsRequest(business_date=holding.maturity_date)
    )
    assert (again.holdings_matured, list(again.payouts)) == (0, [])
    state = (
        await stub.GetHolding(pb.GetHoldingRequest(holding_id=holding.holding_id))
    ).holding.state
    assert state == pb.HOLDING_STATE_MATURED
    due = await stub.ListDuePayouts(
        pb.ListDuePayoutsRequest(business_date=holding.maturity_date, page={"page_size": 100})
    )
    assert {p.payout_id for p in mine} <= {p.payout_id for p in due.payouts}
    await assert_audit_clean(stub)


async def test_a_business_date_that_has_not_begun_is_refused(wealth) -> None:
    tomorrow = (wealth.clock.now() + timedelta(days=1)).date().isoformat()
    error = await refused(
        wealth.stub.RunFixedTermJobs(pb.RunFixedTermJobsRequest(business_date=tomorrow))
    )
    assert error_info(error).reason == "INVALID_BUSINESS_DATE"


def _previous(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()
