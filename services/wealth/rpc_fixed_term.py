"""Zhaocaibao (招财宝) RPCs: the catalog, subscription tries, holdings, transfers, maturity."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime

from chassis.clock import parse_business_date
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from chassis.wire import amount_from_proto, decimal_from_text, timestamp_from_proto
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.fixed_term import (
    Holding,
    buy_listed_holding,
    check_subscription,
    close_product,
    create_product,
    expire_reservation,
    holding_payout,
    list_for_transfer,
    mature,
    maturity_due,
    subscribe,
    transfer_terms,
    withdraw_listing,
)
from services.wealth.payouts import (
    FIXED_TERM_INTEREST_ACCOUNT_ID,
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    Payout,
    PayoutKind,
    PayoutSettlement,
    plan_payout,
)
from services.wealth.purchases import (
    PurchaseKind,
    check_repeated_try,
    plan_purchase,
    require_purchase_id,
)
from services.wealth.rpc_base import (
    WealthRpcBase,
    next_page,
    page_size_of,
    require_id,
    require_investor_id,
)
from services.wealth.store import StoredHolding, decode_page_token, encode_page_token
from services.wealth.wire import (
    holding_to_proto,
    payout_to_proto,
    product_to_proto,
    purchase_to_proto,
    reservation_to_proto,
    transfer_terms_to_proto,
)

log = logging.getLogger(__name__)

PRODUCT_ID_PREFIX = "ztb-"
MATURITY_HOLDINGS_DEFAULT = 500
MATURITY_HOLDINGS_MAX = 1_000
RESERVATION_EXPIRY_BATCH = 500
# The periodic job's round: at most this many calls of the business-date job.
FIXED_TERM_ROUNDS_MAX = 20


def _listing_reserved(holding_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"holding {holding_id} is being bought by another investor",
        reason="LISTING_RESERVED",
        metadata={"holding_id": holding_id},
    )


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

        async def create(session: Session) -> pb.CreateProductResponse:
            now = self._clock.now()
            await self._store.insert_product(session, product, now)
            message = product_to_proto(product, now)
            await self._events.append(
                session, "wealth.fixed_term.product_created", product.product_id, message
            )
            return pb.CreateProductResponse(product=message)

        return await self._idempotent("create-product", request, pb.CreateProductResponse, create)

    async def GetProduct(
        self, request: pb.GetProductRequest, context: Context
    ) -> pb.GetProductResponse:
        product = await self._store.get_product(require_id(request.product_id, "product_id"))
        return pb.GetProductResponse(product=product_to_proto(product, self._clock.now()))

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, 2)
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
                    last_created.isoformat() if last_created else "", products[-1].product_id
                ),
            ),
        )

    async def CloseProduct(
        self, request: pb.CloseProductRequest, context: Context
    ) -> pb.CloseProductResponse:
        product_id = require_id(request.product_id, "product_id")

        async def close(session: Session) -> pb.CloseProductResponse:
            product = await self._store.get_product(product_id, session)
            closed = close_product(product)
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
            now = self._clock.now()
            requested = plan_purchase(
                purchase_id=purchase_id,
                kind=PurchaseKind.PRODUCT_SUBSCRIPTION,
                investor_id=investor_id,
                amount_fen=amount_fen,
                credit_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
                now=now,
                business_date=self._today(),
                product_id=product_id,
                holding_id=purchase_id,
            )
            existing = await self._store.get_purchase(purchase_id, session)
            if existing is not None:
                purchase = check_repeated_try(existing, requested)
                product = await self._store.get_product(product_id, session)
                return pb.SubscribeProductResponse(
                    purchase=purchase_to_proto(purchase), product=product_to_proto(product, now)
                )
            product = await self._store.get_product(product_id, session)
            planned, holding = subscribe(
                product,
                holding_id=purchase_id,
                holder_id=investor_id,
                amount_fen=amount_fen,
                now=now,
                business_date=self._today(),
            )
            taken = await self._store.take_quota(session, product_id, amount_fen, now)
            if taken is None:
                # The snapshot said yes and the guarded update said no: refuse by the rule.
                check_subscription(
                    await self._store.get_product(product_id, session), amount_fen, now
                )
                raise AssertionError(f"quota of {product_id} refused without a reason")
            assert taken.sold_fen == planned.sold_fen, f"product {product_id} sold underneath"
            await self._store.insert_purchase(session, requested, planned_holding=holding)
            message = purchase_to_proto(requested)
            await self._events.append(session, "wealth.purchase.tried", purchase_id, message)
            return pb.SubscribeProductResponse(
                purchase=message, product=product_to_proto(taken, now)
            )

        async with self._product_locks.hold([product_id]):
            return await self._idempotent(
                "subscribe-product", request, pb.SubscribeProductResponse, try_subscription
            )

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
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, 2)
        holdings = await self._store.list_holdings(investor_id, page_size, after)
        return pb.ListHoldingsResponse(
            holdings=[holding_to_proto(s.holding, s.pending_purchase_id) for s in holdings],
            page=next_page(
                len(holdings),
                page_size,
                lambda: encode_page_token(
                    holdings[-1].holding.value_date.isoformat(), holdings[-1].holding.holding_id
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
            listing = pb.TransferListing(
                holding=holding_to_proto(listed),
                terms=transfer_terms_to_proto(transfer_terms(listed, today)),
            )
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
            if stored.pending_purchase_id:
                raise _listing_reserved(holding_id)
            held = withdraw_listing(stored.holding)
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
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, 1)
        today = self._today()
        listings = await self._store.list_listings(
            request.product_id, today, page_size, after[0] if after else None
        )
        return pb.ListTransferListingsResponse(
            listings=[
                pb.TransferListing(
                    holding=holding_to_proto(s.holding),
                    terms=transfer_terms_to_proto(transfer_terms(s.holding, today)),
                )
                for s in listings
            ],
            page=next_page(
                len(listings),
                page_size,
                lambda: encode_page_token(listings[-1].holding.holding_id),
            ),
        )

    async def BuyTransferListing(
        self, request: pb.BuyTransferListingRequest, context: Context
    ) -> pb.BuyTransferListingResponse:
        investor_id = require_investor_id(request.investor_id)
        purchase_id = require_purchase_id(request.purchase_id)
        holding_id = require_id(request.holding_id, "holding_id")
        price_fen = amount_from_proto(request.price, "price")

        async def try_transfer(session: Session) -> pb.BuyTransferListingResponse:
            today = self._today()
            stored = await self._store.get_holding(holding_id, session)
            requested = plan_purchase(
                purchase_id=purchase_id,
                kind=PurchaseKind.TRANSFER,
                investor_id=investor_id,
                amount_fen=price_fen,
                credit_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
                now=self._clock.now(),
                business_date=today,
                product_id=stored.holding.product_id,
                holding_id=holding_id,
            )
            existing = await self._store.get_purchase(purchase_id, session)
            if existing is not None:
                purchase = check_repeated_try(existing, requested)
                assert purchase.business_date is not None
                listed = stored.holding if stored.pending_purchase_id == purchase_id else None
                terms = (
                    transfer_terms_to_proto(transfer_terms(listed, purchase.business_date))
                    if listed is not None
                    else None
                )
                return pb.BuyTransferListingResponse(
                    purchase=purchase_to_proto(purchase), terms=terms
                )
            if stored.pending_purchase_id:
                raise _listing_reserved(holding_id)
            # The whole transfer is planned now, so the try refuses what the confirm would.
            transfer = buy_listed_holding(
                stored.holding,
                buyer_id=investor_id,
                new_holding_id=purchase_id,
                business_date=today,
            )
            if transfer.terms.price_fen != price_fen:
                raise FailedPrecondition(
                    f"holding {holding_id} is listed at {transfer.terms.price_fen} fen",
                    reason="LISTING_CHANGED",
                    metadata={"price_fen": str(transfer.terms.price_fen)},
                )
            await self._store.save_holding(
                session, stored.holding, stored.holding, pending_purchase_id=purchase_id
            )
            await self._store.insert_purchase(session, requested)
            message = purchase_to_proto(requested)
            await self._events.append(session, "wealth.purchase.tried", purchase_id, message)
            return pb.BuyTransferListingResponse(
                purchase=message, terms=transfer_terms_to_proto(transfer.terms)
            )

        return await self._idempotent(
            "buy-listing", request, pb.BuyTransferListingResponse, try_transfer
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

            async def mature_one(
                session: Session, holding_id: str = holding.holding_id
            ) -> tuple[Payout, ...]:
                return await self._mature_holding(session, holding_id, business_date)

            made = await run_in_transaction(self._client, mature_one)
            matured += 1 if made else 0
            payouts.extend(made)
        expired = await self._expire_reservations()
        return pb.RunFixedTermJobsResponse(
            holdings_matured=matured,
            payouts=[payout_to_proto(payout) for payout in payouts],
            reservations_expired=expired,
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
        self, session: Session, holding_id: str, business_date: date
    ) -> tuple[Payout, ...]:
        """Pay one holding's principal and interest (as payouts); nothing if already done."""
        stored = await self._store.get_holding(holding_id, session)
        holding = stored.holding
        if stored.pending_purchase_id or not maturity_due(holding, business_date):
            return ()
        matured = mature(holding, business_date)
        await self._store.save_holding(session, holding, matured)
        payouts = _maturity_payouts(holding, business_date, self._clock.now())
        await self._record_payouts(session, payouts)
        await self._events.append(
            session, "wealth.fixed_term.holding_matured", holding_id, holding_to_proto(matured)
        )
        return payouts

    async def _expire_reservations(self) -> int:
        now = self._clock.now()
        expired = 0
        for reservation in await self._store.reservations_expired(now, RESERVATION_EXPIRY_BATCH):

            async def expire(
                session: Session, reservation_id: str = reservation.reservation_id
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

            await run_in_transaction(self._client, expire)
            expired += 1
        return expired

    async def _own_holding(
        self, holding_id: str, investor_id: str, session: Session
    ) -> StoredHolding:
        """The investor's holding; another's is NOT_FOUND (no hint that it exists)."""
        stored = await self._store.get_holding(holding_id, session)
        if stored.holding.holder_id != investor_id:
            raise NotFound(
                f"holding {holding_id} does not exist", metadata={"holding_id": holding_id}
            )
        return stored


def _maturity_payouts(holding: Holding, business_date: date, now: datetime) -> tuple[Payout, ...]:
    """Principal from the omnibus account, interest from the issuers' interest account."""
    payout = holding_payout(holding)
    parts = (
        (
            "principal",
            PayoutKind.MATURITY_PRINCIPAL,
            FIXED_TERM_OMNIBUS_ACCOUNT_ID,
            payout.principal_fen,
        ),
        (
            "interest",
            PayoutKind.MATURITY_INTEREST,
            FIXED_TERM_INTEREST_ACCOUNT_ID,
            payout.interest_fen,
        ),
    )
    return tuple(
        plan_payout(
            payout_id=f"{holding.holding_id}:{part}",
            kind=kind,
            from_account_id=from_account_id,
            to_account_id=holding.holder_id,
            amount_fen=amount_fen,
            due_on=business_date,
            settlement=PayoutSettlement.SCHEDULED,
            investor_id=holding.holder_id,
            reference=holding.holding_id,
            now=now,
        )
        for part, kind, from_account_id, amount_fen in parts
        if amount_fen > 0
    )
