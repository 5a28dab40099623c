"""Yu'e Bao (余额宝) RPCs: subscription try, redemption and its compensation, the wallet view."""

from __future__ import annotations

import logging

from chassis.errors import InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, money_to_proto, next_page, page_size_of
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.purchase_tries import plan_yuebao_subscription
from services.wealth.purchases import check_repeated_try, require_purchase_id
from services.wealth.rpc_base import WealthRpcBase, require_investor_id
from services.wealth.wire import (
    REDEMPTION_MODE_FROM_PROTO,
    income_to_proto,
    portfolio_from_proto,
    portfolio_to_proto,
    purchase_to_proto,
    redemption_to_proto,
)
from services.wealth.yuebao import (
    gross_annual_rate,
    income_per_10k_shares,
    net_annual_rate,
    shares_for_subscription,
)
from services.wealth.yuebao_accounts import (
    Redemption,
    RedemptionMode,
    cancel_before_created,
    cancel_redemption,
    check_repeated_redemption,
    plan_redemption,
    redemption_payout_ids,
    require_redemption_id,
)

log = logging.getLogger(__name__)


class YuebaoRpc(WealthRpcBase):
    """Yu'e Bao: the money-market fund inside the wallet."""

    async def IssueShares(
        self, request: pb.IssueSharesRequest, context: Context
    ) -> pb.IssueSharesResponse:
        investor_id = require_investor_id(request.investor_id)
        purchase_id = require_purchase_id(request.purchase_id)
        shares_fen = shares_for_subscription(amount_from_proto(request.amount))

        async def issue(session: Session) -> pb.IssueSharesResponse:
            requested = plan_yuebao_subscription(
                purchase_id=purchase_id,
                investor_id=investor_id,
                shares_fen=shares_fen,
                now=self._clock.now(),
                business_date=self._today(),
            )
            existing = await self._store.get_purchase(purchase_id, session)
            if existing is not None:
                purchase = check_repeated_try(existing, requested)
                return pb.IssueSharesResponse(purchase=purchase_to_proto(purchase))
            await self._store.insert_purchase(session, requested)
            message = purchase_to_proto(requested)
            await self._events.append(session, "wealth.purchase.tried", purchase_id, message)
            return pb.IssueSharesResponse(purchase=message)

        return await self._idempotent("issue-shares", request, pb.IssueSharesResponse, issue)

    async def RedeemShares(
        self, request: pb.RedeemSharesRequest, context: Context
    ) -> pb.RedeemSharesResponse:
        investor_id = require_investor_id(request.investor_id)
        redemption_id = require_redemption_id(request.redemption_id)
        amount_fen = amount_from_proto(request.amount)
        mode = REDEMPTION_MODE_FROM_PROTO.get(request.mode)
        if mode is None:
            raise InvalidArgument("mode is required", metadata={"field": "mode"})

        async def redeem(session: Session) -> pb.RedeemSharesResponse:
            existing = await self._store.get_redemption(redemption_id, session)
            if existing is not None:
                return await self._repeated_redemption(
                    session, existing, investor_id=investor_id, amount_fen=amount_fen, mode=mode
                )
            return await self._redeem(
                session, investor_id, redemption_id=redemption_id, amount_fen=amount_fen, mode=mode
            )

        async with self._investor_locks.hold([investor_id]):
            return await self._idempotent("redeem-shares", request, pb.RedeemSharesResponse, redeem)

    async def _redeem(
        self,
        session: Session,
        investor_id: str,
        *,
        redemption_id: str,
        amount_fen: int,
        mode: RedemptionMode,
    ) -> pb.RedeemSharesResponse:
        """Take the shares out now and owe the redemption's payouts (fast now, normal later)."""
        account = await self._store.get_yuebao_account(investor_id, session)
        plan = plan_redemption(
            account,
            redemption_id=redemption_id,
            amount_fen=amount_fen,
            mode=mode,
            business_date=self._today(),
            now=self._clock.now(),
        )
        await self._store.save_yuebao_account(session, account, plan.account, self._clock.now())
        await self._store.insert_redemption(session, plan.redemption)
        await self._record_payouts(session, plan.payouts)
        message = redemption_to_proto(plan.redemption, plan.payouts)
        await self._events.append(session, "wealth.yuebao.shares_redeemed", redemption_id, message)
        account_view = await self._account_view(plan.account)
        return pb.RedeemSharesResponse(redemption=message, account=account_view)

    async def _repeated_redemption(
        self,
        session: Session,
        existing: Redemption,
        *,
        investor_id: str,
        amount_fen: int,
        mode: RedemptionMode,
    ) -> pb.RedeemSharesResponse:
        """The first outcome of a redemption asked again (refused if asked differently)."""
        redemption = check_repeated_redemption(
            existing, investor_id=investor_id, amount_fen=amount_fen, mode=mode
        )
        payouts = await self._store.get_payouts(
            redemption_payout_ids(redemption.redemption_id), session
        )
        account = await self._store.get_yuebao_account(investor_id, session)
        return pb.RedeemSharesResponse(
            redemption=redemption_to_proto(redemption, payouts),
            account=await self._account_view(account),
        )

    async def CancelRedemption(
        self, request: pb.CancelRedemptionRequest, context: Context
    ) -> pb.CancelRedemptionResponse:
        redemption_id = require_redemption_id(request.redemption_id)

        async def cancel(session: Session) -> pb.CancelRedemptionResponse:
            redemption = await self._store.get_redemption(redemption_id, session)
            if redemption is None:
                tombstone = cancel_before_created(redemption_id, self._clock.now())
                await self._store.insert_redemption(session, tombstone)
                return pb.CancelRedemptionResponse(redemption=redemption_to_proto(tombstone, ()))
            return await self._cancel_redemption(session, redemption)

        existing = await self._store.get_redemption(redemption_id)
        investors = [existing.investor_id] if existing and existing.investor_id else []
        async with self._investor_locks.hold(investors):
            return await self._idempotent(
                "cancel-redemption", request, pb.CancelRedemptionResponse, cancel
            )

    async def _cancel_redemption(
        self, session: Session, redemption: Redemption
    ) -> pb.CancelRedemptionResponse:
        """Give the shares back and cancel the unpaid payouts (nothing if already cancelled)."""
        redemption_id = redemption.redemption_id
        payouts = await self._store.get_payouts(redemption_payout_ids(redemption_id), session)
        account = await self._store.get_yuebao_account(redemption.investor_id, session)
        plan = cancel_redemption(account, redemption, payouts)
        if plan.redemption is redemption:  # already cancelled: nothing to undo
            return pb.CancelRedemptionResponse(redemption=redemption_to_proto(redemption, payouts))
        await self._store.save_yuebao_account(session, account, plan.account, self._clock.now())
        await self._store.save_redemption(session, redemption, plan.redemption)
        for before, after in zip(payouts, plan.payouts, strict=True):
            await self._store.save_payout(session, before, after)
        message = redemption_to_proto(plan.redemption, plan.payouts)
        await self._events.append(
            session, "wealth.yuebao.redemption_cancelled", redemption_id, message
        )
        return pb.CancelRedemptionResponse(redemption=message)

    async def GetYuebaoAccount(
        self, request: pb.GetYuebaoAccountRequest, context: Context
    ) -> pb.GetYuebaoAccountResponse:
        account = await self._store.get_yuebao_account(require_investor_id(request.investor_id))
        return pb.GetYuebaoAccountResponse(account=await self._account_view(account))

    async def ListYuebaoIncome(
        self, request: pb.ListYuebaoIncomeRequest, context: Context
    ) -> pb.ListYuebaoIncomeResponse:
        investor_id = require_investor_id(request.investor_id)
        query = f"yuebao-income:{investor_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 1)
        records = await self._store.list_income(investor_id, page_size, after[0] if after else None)
        return pb.ListYuebaoIncomeResponse(
            income=[income_to_proto(record) for record in records],
            page=next_page(
                len(records),
                page_size,
                lambda: encode_page_token(query, records[-1].business_date.isoformat()),
            ),
        )

    async def GetYuebaoFund(
        self, request: pb.GetYuebaoFundRequest, context: Context
    ) -> pb.GetYuebaoFundResponse:
        portfolio, residue_fen = await self._store.get_yuebao_fund()
        quotes = await self._store.recent_quotes()
        return pb.GetYuebaoFundResponse(
            allocations=portfolio_to_proto(portfolio),
            gross_annual_rate=str(gross_annual_rate(portfolio)),
            net_annual_rate=str(net_annual_rate(portfolio)),
            income_per_10k_shares=str(income_per_10k_shares(portfolio)),
            seven_day_annualised_yield=await self._seven_day_yield_text(),
            recent_quotes=[
                pb.DailyQuote(business_date=day.isoformat(), income_per_10k_shares=str(quote))
                for day, quote in quotes
            ],
            residue_fen=str(residue_fen),
            shares_outstanding=money_to_proto(await self._store.shares_outstanding_fen()),
        )

    async def SetYuebaoPortfolio(
        self, request: pb.SetYuebaoPortfolioRequest, context: Context
    ) -> pb.SetYuebaoPortfolioResponse:
        portfolio = portfolio_from_proto(request.allocations)
        quote = income_per_10k_shares(portfolio)  # refuses a portfolio earning below the fees

        async def set_portfolio(session: Session) -> pb.SetYuebaoPortfolioResponse:
            await self._store.set_portfolio(session, portfolio, self._clock.now())
            response = pb.SetYuebaoPortfolioResponse(
                allocations=portfolio_to_proto(portfolio), income_per_10k_shares=str(quote)
            )
            await self._events.append(session, "wealth.yuebao.portfolio_set", "yuebao", response)
            return response

        return await self._idempotent(
            "set-yuebao-portfolio", request, pb.SetYuebaoPortfolioResponse, set_portfolio
        )
