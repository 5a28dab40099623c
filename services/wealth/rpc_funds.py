"""Ant Fortune (蚂蚁聚宝) RPCs: funds, NAVs, risk profiles, orders, recommendations."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from decimal import Decimal
from functools import partial

from chassis.clock import parse_business_date
from chassis.errors import InvalidArgument, NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, decimal_from_text, next_page, page_size_of
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.fund_orders import (
    FundOrder,
    FundOrderState,
    place_buy,
    place_sale,
    require_publishable_nav,
    require_same_nav,
    settle_at_nav,
)
from services.wealth.marketplace import (
    FUNDS_PER_RECOMMENDATION_MAX,
    RECOMMENDATIONS_MAX,
    Fund,
    RiskLevel,
    assess_risk_profile,
    one_year_return,
    recommend_funds,
)
from services.wealth.purchase_tries import plan_fund_buy
from services.wealth.purchases import Purchase, check_repeated_try, require_purchase_id
from services.wealth.rpc_base import WealthRpcBase, require_id, require_investor_id
from services.wealth.wire import (
    FUND_CATEGORY_FROM_PROTO,
    fund_order_to_proto,
    fund_to_proto,
    nav_to_proto,
    purchase_to_proto,
    risk_profile_to_proto,
)

log = logging.getLogger(__name__)

# Orders priced per batch, and batches per (fund, NAV date) in one call.
PRICING_BATCH = 200
PRICING_BATCHES_MAX = 50
# (fund, NAV date) pairs the periodic pricer looks at per round.
PRICING_DATES_PER_ROUND = 100
POSITIONS_MAX = 200
RECOMMENDATIONS_DEFAULT = 10
RANKING_RULE = (
    "funds at or below your risk level; closest level to your profile first, then the best "
    "1-year NAV return (funds with less than a year of history after those with one), then "
    "name"
)


class FundsRpc(WealthRpcBase):
    """The fund marketplace."""

    async def CreateFund(
        self, request: pb.CreateFundRequest, context: Context
    ) -> pb.CreateFundResponse:
        category = FUND_CATEGORY_FROM_PROTO.get(request.category)
        if category is None:
            raise InvalidArgument("category is required", metadata={"field": "category"})
        if request.risk_level not in tuple(RiskLevel):
            raise InvalidArgument("risk_level is 1 to 5 (R1-R5)", metadata={"field": "risk_level"})
        fund = Fund(
            fund_id=require_id(request.fund_id, "fund_id"),
            name=require_id(request.name, "name"),
            category=category,
            risk_level=RiskLevel(request.risk_level),
        )

        async def create(session: Session) -> pb.CreateFundResponse:
            await self._store.insert_fund(session, fund, self._clock.now())
            message = fund_to_proto(fund)
            await self._events.append(session, "wealth.fund.created", fund.fund_id, message)
            return pb.CreateFundResponse(fund=message)

        return await self._idempotent("create-fund", request, pb.CreateFundResponse, create)

    async def GetFund(self, request: pb.GetFundRequest, context: Context) -> pb.GetFundResponse:
        fund = await self._store.get_fund(require_id(request.fund_id, "fund_id"))
        return pb.GetFundResponse(fund=(await self._fund_views([fund]))[0])

    async def ListFunds(
        self, request: pb.ListFundsRequest, context: Context
    ) -> pb.ListFundsResponse:
        category = FUND_CATEGORY_FROM_PROTO.get(request.category)
        query = f"funds:{category.value if category else ''}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 1)
        funds = await self._store.list_funds(category, page_size, after[0] if after else None)
        return pb.ListFundsResponse(
            funds=await self._fund_views(funds),
            page=next_page(
                len(funds), page_size, lambda: encode_page_token(query, funds[-1].fund_id)
            ),
        )

    async def PublishNav(
        self, request: pb.PublishNavRequest, context: Context
    ) -> pb.PublishNavResponse:
        fund_id = require_id(request.fund_id, "fund_id")
        nav_date = parse_business_date(request.nav_date, "nav_date")
        nav_per_unit = require_publishable_nav(
            decimal_from_text(request.nav_per_unit, "nav_per_unit"), nav_date, self._today()
        )

        async def publish(session: Session) -> pb.PublishNavResponse:
            await self._store.get_fund(fund_id, session)
            published = await self._store.insert_nav(session, fund_id, nav_date, nav_per_unit)
            require_same_nav(fund_id, nav_date, published, nav_per_unit)
            message = nav_to_proto(nav_date, nav_per_unit)
            if published is None:
                event = pb.NavPublished(fund_id=fund_id, nav=message)
                await self._events.append(session, "wealth.fund.nav_published", fund_id, event)
            return pb.PublishNavResponse(nav=message)

        response = await self._idempotent("publish-nav", request, pb.PublishNavResponse, publish)
        # Priced after the NAV committed, each order in its own transaction; the periodic
        # pricer finishes whatever a crash here leaves.
        response.orders_priced = await self._price_orders(fund_id, nav_date, nav_per_unit)
        return response

    async def ListNavHistory(
        self, request: pb.ListNavHistoryRequest, context: Context
    ) -> pb.ListNavHistoryResponse:
        fund_id = require_id(request.fund_id, "fund_id")
        query = f"navs:{fund_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 1)
        await self._store.get_fund(fund_id)
        navs = await self._store.list_navs(fund_id, page_size, after[0] if after else None)
        return pb.ListNavHistoryResponse(
            navs=[nav_to_proto(day, nav) for day, nav in navs],
            page=next_page(
                len(navs), page_size, lambda: encode_page_token(query, navs[-1][0].isoformat())
            ),
        )

    async def SubmitRiskProfile(
        self, request: pb.SubmitRiskProfileRequest, context: Context
    ) -> pb.SubmitRiskProfileResponse:
        investor_id = require_investor_id(request.investor_id)

        async def submit(session: Session) -> pb.SubmitRiskProfileResponse:
            profile = assess_risk_profile(
                investor_id, list(request.answer_scores), self._clock.now()
            )
            await self._store.save_risk_profile(session, profile)
            message = risk_profile_to_proto(profile)
            await self._events.append(
                session, "wealth.fund.risk_profile_assessed", investor_id, message
            )
            return pb.SubmitRiskProfileResponse(profile=message)

        return await self._idempotent(
            "submit-risk-profile", request, pb.SubmitRiskProfileResponse, submit
        )

    async def GetRiskProfile(
        self, request: pb.GetRiskProfileRequest, context: Context
    ) -> pb.GetRiskProfileResponse:
        investor_id = require_investor_id(request.investor_id)
        profile = await self._store.get_risk_profile(investor_id)
        if profile is None:
            raise NotFound(
                f"investor {investor_id} has not answered the risk questionnaire",
                reason="RISK_PROFILE_REQUIRED",
            )
        return pb.GetRiskProfileResponse(
            profile=risk_profile_to_proto(profile),
            valid=self._clock.now() < profile.expires_at,
        )

    async def BuyFund(self, request: pb.BuyFundRequest, context: Context) -> pb.BuyFundResponse:
        investor_id = require_investor_id(request.investor_id)
        purchase_id = require_purchase_id(request.purchase_id)
        fund_id = require_id(request.fund_id, "fund_id")
        amount_fen = amount_from_proto(request.amount)

        async def try_buy(session: Session) -> pb.BuyFundResponse:
            requested = plan_fund_buy(
                purchase_id=purchase_id,
                investor_id=investor_id,
                fund_id=fund_id,
                amount_fen=amount_fen,
                now=self._clock.now(),
                business_date=self._today(),
            )
            return await self._place_buy(session, requested, request.risk_acknowledged)

        return await self._idempotent("buy-fund", request, pb.BuyFundResponse, try_buy)

    async def _place_buy(
        self, session: Session, requested: Purchase, risk_acknowledged: bool
    ) -> pb.BuyFundResponse:
        """Place the buy's order, awaiting its money (a repeated try reports the first)."""
        existing = await self._store.get_purchase(requested.purchase_id, session)
        if existing is not None:
            purchase = check_repeated_try(existing, requested)
            order = await self._store.get_order(purchase.fund_order_id, session)
            return pb.BuyFundResponse(
                purchase=purchase_to_proto(purchase), order=fund_order_to_proto(order)
            )
        order = place_buy(
            order_id=requested.fund_order_id,
            investor_id=requested.investor_id,
            fund=await self._store.get_fund(requested.product_id, session),
            profile=await self._store.get_risk_profile(requested.investor_id, session),
            amount_fen=requested.amount_fen,
            risk_acknowledged=risk_acknowledged,
            now=requested.created_at,
        )
        await self._store.insert_order(session, order)
        await self._store.insert_purchase(session, requested)
        purchase_message, order_message = purchase_to_proto(requested), fund_order_to_proto(order)
        await self._events.append(
            session, "wealth.fund.order_placed", order.order_id, order_message
        )
        await self._events.append(
            session, "wealth.purchase.tried", requested.purchase_id, purchase_message
        )
        return pb.BuyFundResponse(purchase=purchase_message, order=order_message)

    async def SellFund(self, request: pb.SellFundRequest, context: Context) -> pb.SellFundResponse:
        investor_id = require_investor_id(request.investor_id)
        fund_id = require_id(request.fund_id, "fund_id")
        units = decimal_from_text(request.units, "units")
        order_id = f"sell-{uuid.uuid4().hex}"

        async def sell(session: Session) -> pb.SellFundResponse:
            now = self._clock.now()
            await self._store.get_fund(fund_id, session)
            order = place_sale(
                order_id=order_id,
                investor_id=investor_id,
                fund_id=fund_id,
                units=units,
                units_held=await self._store.position_units(investor_id, fund_id, session),
                now=now,
            )
            await self._store.take_units(session, investor_id, fund_id, order.units)
            await self._store.insert_order(session, order)
            message = fund_order_to_proto(order)
            await self._events.append(session, "wealth.fund.order_placed", order_id, message)
            nav_per_unit = await self._store.get_nav(fund_id, order.nav_date, session)
            if nav_per_unit is not None:  # its NAV is already out: priced at once
                message = fund_order_to_proto(await self._price_in(session, order, nav_per_unit))
            return pb.SellFundResponse(order=message)

        async with self._investor_locks.hold([investor_id]):
            return await self._idempotent("sell-fund", request, pb.SellFundResponse, sell)

    async def GetFundOrder(
        self, request: pb.GetFundOrderRequest, context: Context
    ) -> pb.GetFundOrderResponse:
        order = await self._store.get_order(require_id(request.order_id, "order_id"))
        return pb.GetFundOrderResponse(order=fund_order_to_proto(order))

    async def ListFundOrders(
        self, request: pb.ListFundOrdersRequest, context: Context
    ) -> pb.ListFundOrdersResponse:
        investor_id = require_investor_id(request.investor_id)
        query = f"fund-orders:{investor_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        orders = await self._store.list_orders(investor_id, page_size, after)
        return pb.ListFundOrdersResponse(
            orders=[fund_order_to_proto(order) for order in orders],
            page=next_page(
                len(orders),
                page_size,
                lambda: encode_page_token(
                    query, orders[-1].placed_at.isoformat(), orders[-1].order_id
                ),
            ),
        )

    async def ListFundPositions(
        self, request: pb.ListFundPositionsRequest, context: Context
    ) -> pb.ListFundPositionsResponse:
        investor_id = require_investor_id(request.investor_id)
        positions = await self._store.list_positions(investor_id, POSITIONS_MAX)
        return pb.ListFundPositionsResponse(
            positions=[
                pb.FundPosition(investor_id=investor_id, fund_id=fund_id, units=str(units))
                for fund_id, units in positions
            ]
        )

    async def RecommendFunds(
        self, request: pb.RecommendFundsRequest, context: Context
    ) -> pb.RecommendFundsResponse:
        investor_id = require_investor_id(request.investor_id)
        limit = request.limit or RECOMMENDATIONS_DEFAULT
        if not 1 <= limit <= RECOMMENDATIONS_MAX:
            raise InvalidArgument(f"limit must be between 0 and {RECOMMENDATIONS_MAX}")
        funds = await self._store.list_funds(None, FUNDS_PER_RECOMMENDATION_MAX, None)
        histories = await self._store.navs_for_one_year_return(
            [fund.fund_id for fund in funds], self._today()
        )
        recommendations = recommend_funds(
            funds,
            histories,
            await self._store.get_risk_profile(investor_id),
            self._clock.now(),
            limit=limit,
        )
        views = await self._fund_views([r.fund for r in recommendations])
        return pb.RecommendFundsResponse(
            recommendations=[
                pb.FundRecommendation(fund=view, risk_distance=r.risk_distance)
                for r, view in zip(recommendations, views, strict=True)
            ],
            ranking_rule=RANKING_RULE,
        )

    async def price_pending_orders(self) -> int:
        """The periodic pricer: orders whose NAV has been published since they were placed."""
        priced = 0
        pending = await self._store.pending_nav_dates(self._today(), PRICING_DATES_PER_ROUND)
        for fund_id, nav_date in pending:
            nav_per_unit = await self._store.get_nav(fund_id, nav_date)
            if nav_per_unit is not None:
                priced += await self._price_orders(fund_id, nav_date, nav_per_unit)
        return priced

    async def _price_orders(self, fund_id: str, nav_date: date, nav_per_unit: Decimal) -> int:
        """Price every order of (fund, NAV date) still waiting, each in its own transaction."""
        priced = 0
        for _ in range(PRICING_BATCHES_MAX):
            orders = await self._store.orders_pending_nav(fund_id, nav_date, PRICING_BATCH)
            for order in orders:
                price = partial(self._price_pending, order_id=order.order_id, nav=nav_per_unit)
                priced += await run_in_transaction(self._client, price)
            if len(orders) < PRICING_BATCH:
                break
        return priced

    async def _price_pending(self, session: Session, *, order_id: str, nav: Decimal) -> bool:
        """Price one order still waiting for its NAV; False if a concurrent run priced it."""
        current = await self._store.get_order(order_id, session)
        if current.state is not FundOrderState.PENDING_NAV:
            return False
        await self._price_in(session, current, nav)
        return True

    async def _price_in(
        self, session: Session, order: FundOrder, nav_per_unit: Decimal
    ) -> FundOrder:
        """Price an order at its NAV: units to the buyer, or the seller's proceeds owed."""
        settled = settle_at_nav(order, nav_per_unit, self._clock.now(), self._today())
        priced = settled.order
        if settled.units_bought is not None:
            units = settled.units_bought
            await self._store.add_units(session, priced.investor_id, priced.fund_id, units)
        if settled.payout is not None:
            await self._record_payouts(session, (settled.payout,))
        await self._store.save_order(session, order, priced)
        await self._events.append(
            session, "wealth.fund.order_priced", priced.order_id, fund_order_to_proto(priced)
        )
        return priced

    async def _fund_views(self, funds: list[Fund]) -> list[pb.Fund]:
        """Funds with their latest NAV and 1-year return."""
        today = self._today()
        histories = await self._store.navs_for_one_year_return([f.fund_id for f in funds], today)
        views = []
        for fund in funds:
            latest = await self._store.list_navs(fund.fund_id, 1, None)
            views.append(
                fund_to_proto(
                    fund,
                    latest[0] if latest else None,
                    one_year_return(histories.get(fund.fund_id, {}), today),
                )
            )
        return views
