"""Zhaocaibao (招财宝) RPCs: the catalog, subscription tries, holdings, transfers, maturity."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from functools import partial

from chassis.clock import parse_business_date
from chassis.errors import InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import (
    amount_from_proto,
    decimal_from_text,
    next_page,
    page_size_of,
    timestamp_from_proto,
)
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.fixed_term import (
    Product,
    check_subscription,
    close_product,
    create_product,
    mature,
    maturity_due,
)
from services.wealth.fixed_term_reservations import expire_reservation
from services.wealth.fixed_term_transfers import list_for_transfer, withdraw_listing
from services.wealth.holding_payouts import maturity_payouts
from services.wealth.payouts import Payout
from services.wealth.purchase_tries import (
    plan_product_purchase,
    plan_transfer_purchase,
    subscribe_product,
)
from services.wealth.purchases import Purchase, check_repeated_try, require_purchase_id
from services.wealth.rpc_base import WealthRpcBase, require_id, require_investor_id
from services.wealth.transfers import (
    StoredHolding,
    require_holders,
    require_unreserved,
    terms_of_repeated_try,
    try_transfer,
)
from services.wealth.wire import (
    holding_to_proto,
    payout_to_proto,
    product_to_proto,
    purchase_to_proto,
    reservation_to_proto,
    transfer_listing_to_proto,
    transfer_terms_to_proto,
)

log = logging.getLogger(__name__)

PRODUCT_ID_PREFIX = "ztb-"
MATURITY_HOLDINGS_DEFAULT = 500
MATURITY_HOLDINGS_MAX = 1_000
RESERVATION_EXPIRY_BATCH = 500
# The periodic job's round: at most this many calls of the business-date job.
FIXED_TERM_ROUNDS_MAX = 20


class FixedTermRpc(WealthRpcBase):
    """Zhaocaibao: fixed-term products with an insurer behind them."""

    async def CreateProduct(
        self, request: pb.CreateProductRequest, context: Context
    ) -> pb.CreateProductResponse:
        product = create_product(
            product_id=request.product_id or f"{PRODUCT_ID_PREFIX}{uuid.uuid4().hex[:16]}",
            issuer=request.issuer,
            insurer=request.insurer,
            term_days=request.term_days,
            expected_annual_yield=decimal_from_text(
                request.expected_annual_yield, "expected_annual_yield"
            ),
            amount_fen_min=amount_from_proto(request.amount_min, "amount_min"),
            quota_fen=amount_from_proto(request.quota, "quota"),
            sale_starts_at=timestamp_from_proto(request.sale_starts_at, "sale_starts_at"),
            sale_ends_at=timestamp_from_proto(request.sale_ends_at, "sale_ends_at"),
        )
        return await self._idempotent(
            "create-product",
            request,
            pb.CreateProductResponse,
            lambda session: self._insert_product(session, product),
        )

    async def _insert_product(self, session: Session, product: Product) -> pb.CreateProductResponse:
        now = self._clock.now()
        await self._store.insert_product(session, product, now)
        message = product_to_proto(product, now)
        await self._events.append(
            session, "wealth.fixed_term.product_created", product.product_id, message
        )
        return pb.CreateProductResponse(product=message)

    async def GetProduct(
        self, request: pb.GetProductRequest, context: Context
    ) -> pb.GetProductResponse:
        product = await self._store.get_product(require_id(request.product_id, "product_id"))
        return pb.GetProductResponse(product=product_to_proto(product, self._clock.now()))

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        query = f"products:on_sale={request.on_sale_only}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        now = self._clock.now()
        products = await self._store.list_products(
            page_size, after, now if request.on_sale_only else None
        )
        last_created = (
            await self._store.product_created_at(products[-1].product_id) if products else None
        )
        return pb.ListProductsResponse(
            products=[product_to_proto(product, now) for product in products],
            page=next_page(
                len(products),
                page_size,
                lambda: encode_page_token(
                    query,
                    last_created.isoformat() if last_created else "",
                    products[-1].product_id,
                ),
            ),
        )

    async def CloseProduct(
        self, request: pb.CloseProductRequest, context: Context
    ) -> pb.CloseProductResponse:
        product_id = require_id(request.product_id, "product_id")

        async def close(session: Session) -> pb.CloseProductResponse:
            closed = close_product(await self._store.get_product(product_id, session))
            await self._store.close_product(session, closed)
            message = product_to_proto(closed, self._clock.now())
            await self._events.append(
                session, "wealth.fixed_term.product_closed", product_id, message
            )
            return pb.CloseProductResponse(product=message)

        async with self._product_locks.hold([product_id]):
            return await self._idempotent("close-product", request, pb.CloseProductResponse, close)

    async def SubscribeProduct(
        self, request: pb.SubscribeProductRequest, context: Context
    ) -> pb.SubscribeProductResponse:
        investor_id = require_investor_id(request.investor_id)
        purchase_id = require_purchase_id(request.purchase_id)
        product_id = require_id(request.product_id, "product_id")
        amount_fen = amount_from_proto(request.amount)

        async def try_subscription(session: Session) -> pb.SubscribeProductResponse:
            requested = plan_product_purchase(
                purchase_id=purchase_id,
                investor_id=investor_id,
                product_id=product_id,
                amount_fen=amount_fen,
                now=self._clock.now(),
                business_date=self._today(),
            )
            return await self._subscribe(session, requested)

        async with self._product_locks.hold([product_id]):
            return await self._idempotent(
                "subscribe-product", request, pb.SubscribeProductResponse, try_subscription
            )

    async def _subscribe(
        self, session: Session, requested: Purchase
    ) -> pb.SubscribeProductResponse:
        """Take the quota and record the pending purchase (a repeated try reports the first)."""
        now = requested.created_at  # the instant of this try
        existing = await self._store.get_purchase(requested.purchase_id, session)
        if existing is not None:
            purchase = check_repeated_try(existing, requested)
            product = await self._store.get_product(requested.product_id, session)
            return pb.SubscribeProductResponse(
                purchase=purchase_to_proto(purchase), product=product_to_proto(product, now)
            )
        product = await self._store.get_product(requested.product_id, session)
        subscription = subscribe_product(product, requested, now)
        taken = await self._take_quota(session, subscription.product, requested.amount_fen, now)
        await self._store.insert_purchase(session, requested, planned_holding=subscription.holding)
        message = purchase_to_proto(requested)
        await self._events.append(session, "wealth.purchase.tried", requested.purchase_id, message)
        return pb.SubscribeProductResponse(purchase=message, product=product_to_proto(taken, now))

    async def _take_quota(
        self, session: Session, planned: Product, amount_fen: int, now: datetime
    ) -> Product:
        """Take amount_fen of the product's quota by the guarded update; planned is the rule's
        product after the sale, which the update must agree with."""
        product_id = planned.product_id
        taken = await self._store.take_quota(session, product_id, amount_fen, now)
        if taken is None:
            # The snapshot said yes and the guarded update said no: refuse by the rule.
            check_subscription(await self._store.get_product(product_id, session), amount_fen, now)
            raise AssertionError(f"quota of {product_id} refused without a reason")
        assert taken.sold_fen == planned.sold_fen, f"product {product_id} sold underneath"
        return taken

    async def GetHolding(
        self, request: pb.GetHoldingRequest, context: Context
    ) -> pb.GetHoldingResponse:
        stored = await self._store.get_holding(require_id(request.holding_id, "holding_id"))
        return pb.GetHoldingResponse(
            holding=holding_to_proto(stored.holding, stored.pending_purchase_id)
        )

    async def ListHoldings(
        self, request: pb.ListHoldingsRequest, context: Context
    ) -> pb.ListHoldingsResponse:
        investor_id = require_investor_id(request.investor_id)
        query = f"holdings:{investor_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        holdings = await self._store.list_holdings(investor_id, page_size, after)
        return pb.ListHoldingsResponse(
            holdings=[holding_to_proto(s.holding, s.pending_purchase_id) for s in holdings],
            page=next_page(
                len(holdings),
                page_size,
                lambda: encode_page_token(
                    query,
                    holdings[-1].holding.value_date.isoformat(),
                    holdings[-1].holding.holding_id,
                ),
            ),
        )

    async def ListHoldingForTransfer(
        self, request: pb.ListHoldingForTransferRequest, context: Context
    ) -> pb.ListHoldingForTransferResponse:
        investor_id = require_investor_id(request.investor_id)
        holding_id = require_id(request.holding_id, "holding_id")
        price_fen = amount_from_proto(request.price, "price")

        async def offer(session: Session) -> pb.ListHoldingForTransferResponse:
            stored = await self._own_holding(holding_id, investor_id, session)
            today = self._today()
            listed = list_for_transfer(stored.holding, price_fen, today)
            await self._store.save_holding(session, stored.holding, listed)
            listing = transfer_listing_to_proto(listed, today)
            await self._events.append(
                session, "wealth.fixed_term.holding_listed", holding_id, listing
            )
            return pb.ListHoldingForTransferResponse(listing=listing)

        return await self._idempotent(
            "list-holding", request, pb.ListHoldingForTransferResponse, offer
        )

    async def WithdrawTransferListing(
        self, request: pb.WithdrawTransferListingRequest, context: Context
    ) -> pb.WithdrawTransferListingResponse:
        investor_id = require_investor_id(request.investor_id)
        holding_id = require_id(request.holding_id, "holding_id")

        async def withdraw(session: Session) -> pb.WithdrawTransferListingResponse:
            stored = await self._own_holding(holding_id, investor_id, session)
            held = withdraw_listing(require_unreserved(stored))
            await self._store.save_holding(session, stored.holding, held)
            message = holding_to_proto(held)
            await self._events.append(
                session, "wealth.fixed_term.listing_withdrawn", holding_id, message
            )
            return pb.WithdrawTransferListingResponse(holding=message)

        return await self._idempotent(
            "withdraw-listing", request, pb.WithdrawTransferListingResponse, withdraw
        )

    async def ListTransferListings(
        self, request: pb.ListTransferListingsRequest, context: Context
    ) -> pb.ListTransferListingsResponse:
        query = f"listings:{request.product_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 1)
        today = self._today()
        listings = await self._store.list_listings(
            request.product_id, today, page_size, after[0] if after else None
        )
        return pb.ListTransferListingsResponse(
            listings=[transfer_listing_to_proto(s.holding, today) for s in listings],
            page=next_page(
                len(listings),
                page_size,
                lambda: encode_page_token(query, listings[-1].holding.holding_id),
            ),
        )

    async def BuyTransferListing(
        self, request: pb.BuyTransferListingRequest, context: Context
    ) -> pb.BuyTransferListingResponse:
        investor_id = require_investor_id(request.investor_id)
        purchase_id = require_purchase_id(request.purchase_id)
        holding_id = require_id(request.holding_id, "holding_id")
        price_fen = amount_from_proto(request.price, "price")

        async def try_buy(session: Session) -> pb.BuyTransferListingResponse:
            stored = await self._store.get_holding(holding_id, session)
            requested = plan_transfer_purchase(
                purchase_id=purchase_id,
                investor_id=investor_id,
                listed=stored.holding,
                price_fen=price_fen,
                now=self._clock.now(),
                business_date=self._today(),
            )
            return await self._reserve_listing(session, stored, requested)

        return await self._idempotent(
            "buy-listing", request, pb.BuyTransferListingResponse, try_buy
        )

    async def _reserve_listing(
        self, session: Session, stored: StoredHolding, requested: Purchase
    ) -> pb.BuyTransferListingResponse:
        """Reserve the listing for the buyer's purchase (a repeated try reports the first)."""
        existing = await self._store.get_purchase(requested.purchase_id, session)
        if existing is not None:
            purchase = check_repeated_try(existing, requested)
            terms = terms_of_repeated_try(stored, purchase)
            return pb.BuyTransferListingResponse(
                purchase=purchase_to_proto(purchase),
                terms=transfer_terms_to_proto(terms) if terms is not None else None,
            )
        assert requested.business_date is not None
        transfer = try_transfer(
            stored,
            buyer_id=requested.investor_id,
            purchase_id=requested.purchase_id,
            price_fen=requested.amount_fen,
            business_date=requested.business_date,
        )
        await self._store.save_holding(
            session, stored.holding, stored.holding, pending_purchase_id=requested.purchase_id
        )
        await self._store.insert_purchase(session, requested)
        message = purchase_to_proto(requested)
        await self._events.append(session, "wealth.purchase.tried", requested.purchase_id, message)
        return pb.BuyTransferListingResponse(
            purchase=message, terms=transfer_terms_to_proto(transfer.terms)
        )

    async def RunFixedTermJobs(
        self, request: pb.RunFixedTermJobsRequest, context: Context
    ) -> pb.RunFixedTermJobsResponse:
        business_date = parse_business_date(request.business_date)
        if business_date > self._today():
            raise InvalidArgument(
                "cannot run a business date that has not begun", reason="INVALID_BUSINESS_DATE"
            )
        holdings_max = request.holdings_max or MATURITY_HOLDINGS_DEFAULT
        if not 1 <= holdings_max <= MATURITY_HOLDINGS_MAX:
            raise InvalidArgument(f"holdings_max must be between 0 and {MATURITY_HOLDINGS_MAX}")
        return await self.run_fixed_term_jobs(business_date, holdings_max)

    async def run_fixed_term_jobs(
        self, business_date: date, holdings_max: int
    ) -> pb.RunFixedTermJobsResponse:
        """Mature what is due on business_date (at most holdings_max) and expire reservations.

        Each holding matures in its own transaction with its payouts, so the job is
        idempotent per holding: a second run of the date finds nothing left to do.
        """
        due = await self._store.holdings_due(business_date, holdings_max + 1)
        payouts: list[Payout] = []
        matured = 0
        for holding in due[:holdings_max]:
            mature_one = partial(
                self._mature_holding, holding_id=holding.holding_id, business_date=business_date
            )
            made = await run_in_transaction(self._client, mature_one)
            matured += 1 if made else 0
            payouts.extend(made)
        return pb.RunFixedTermJobsResponse(
            holdings_matured=matured,
            payouts=[payout_to_proto(payout) for payout in payouts],
            reservations_expired=await self._expire_reservations(),
            more=len(due) > holdings_max,
        )

    async def run_due_fixed_term_jobs(self) -> int:
        """The periodic job: today's maturities and expiries, a bounded number of rounds."""
        done = 0
        for _ in range(FIXED_TERM_ROUNDS_MAX):
            response = await self.run_fixed_term_jobs(self._today(), MATURITY_HOLDINGS_DEFAULT)
            done += response.holdings_matured + response.reservations_expired
            if not response.more:
                break
        return done

    async def _mature_holding(
        self, session: Session, *, holding_id: str, business_date: date
    ) -> tuple[Payout, ...]:
        """Pay one holding's principal and interest (as payouts); nothing if already done."""
        stored = await self._store.get_holding(holding_id, session)
        holding = stored.holding
        if stored.pending_purchase_id or not maturity_due(holding, business_date):
            return ()
        matured = mature(holding, business_date)
        await self._store.save_holding(session, holding, matured)
        payouts = maturity_payouts(holding, business_date, self._clock.now())
        await self._record_payouts(session, payouts)
        await self._events.append(
            session, "wealth.fixed_term.holding_matured", holding_id, holding_to_proto(matured)
        )
        return payouts

    async def _expire_reservations(self) -> int:
        """Expire the reservations whose 30 days have passed, each in its own transaction."""
        now = self._clock.now()
        expired = 0
        for reservation in await self._store.reservations_expired(now, RESERVATION_EXPIRY_BATCH):
            expire = partial(
                self._expire_reservation, reservation_id=reservation.reservation_id, now=now
            )
            await run_in_transaction(self._client, expire)
            expired += 1
        return expired

    async def _expire_reservation(
        self, session: Session, *, reservation_id: str, now: datetime
    ) -> None:
        current = await self._store.get_reservation(reservation_id, session)
        after = expire_reservation(current, now)
        await self._store.save_reservation(session, current, after)
        await self._events.append(
            session,
            "wealth.fixed_term.reservation_expired",
            reservation_id,
            reservation_to_proto(after),
        )

    async def _own_holding(
        self, holding_id: str, investor_id: str, session: Session
    ) -> StoredHolding:
        """The investor's holding; another's is NOT_FOUND (no hint that it exists)."""
        return require_holders(await self._store.get_holding(holding_id, session), investor_id)
