"""Purchase RPCs: confirm and cancel, the TCC every purchase saga ends with (purchases.py).

A purchase's try reserved what it buys; confirm gives it to the investor, cancel releases
it. Both are idempotent by purchase id as well as by idempotency key, so a saga retrying
either after a crash gets the first outcome.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from chassis.errors import NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.fund_orders import FundOrderState, cancel_unfunded, fund_buy
from services.wealth.holding_payouts import transfer_payout_ids, transfer_payouts
from services.wealth.purchases import (
    Purchase,
    PurchaseKind,
    cancel_before_try,
    plan_cancel,
    plan_confirm,
    release_reservation_purchase,
    require_purchase_id,
)
from services.wealth.rpc_base import WealthRpcBase
from services.wealth.transfers import complete_transfer
from services.wealth.wire import (
    fund_order_to_proto,
    holding_to_proto,
    payout_to_proto,
    purchase_to_proto,
)
from services.wealth.yuebao_accounts import subscribe_shares

log = logging.getLogger(__name__)


class PurchasesRpc(WealthRpcBase):
    """Confirm and cancel of every kind of purchase."""

    async def ConfirmPurchase(
        self, request: pb.ConfirmPurchaseRequest, context: Context
    ) -> pb.ConfirmPurchaseResponse:
        purchase_id = require_purchase_id(request.purchase_id)

        async def confirm(session: Session) -> pb.ConfirmPurchaseResponse:
            purchase = await self._require_purchase(purchase_id, session)
            confirmed = plan_confirm(purchase, request.payment_posting_id, self._clock.now())
            if confirmed is purchase:  # a repeated confirm: report what it gave
                return await self._confirmed_response(session, purchase)
            # Saved first, so that what _deliver reads in this transaction sees it confirmed.
            await self._store.save_purchase(session, purchase, confirmed)
            response = await self._deliver(session, confirmed)
            message = purchase_to_proto(confirmed)
            await self._events.append(session, "wealth.purchase.confirmed", purchase_id, message)
            response.purchase.CopyFrom(message)
            return response

        async with self._purchase_scope(purchase_id):
            return await self._idempotent(
                "confirm-purchase", request, pb.ConfirmPurchaseResponse, confirm
            )

    async def CancelPurchase(
        self, request: pb.CancelPurchaseRequest, context: Context
    ) -> pb.CancelPurchaseResponse:
        purchase_id = require_purchase_id(request.purchase_id)

        async def cancel(session: Session) -> pb.CancelPurchaseResponse:
            purchase = await self._store.get_purchase(purchase_id, session)
            if purchase is None:
                tombstone = cancel_before_try(purchase_id, self._clock.now())
                await self._store.insert_purchase(session, tombstone)
                return pb.CancelPurchaseResponse(purchase=purchase_to_proto(tombstone))
            cancelled = plan_cancel(purchase, self._clock.now())
            if cancelled is purchase:
                return pb.CancelPurchaseResponse(purchase=purchase_to_proto(purchase))
            await self._release(session, cancelled)
            await self._store.save_purchase(session, purchase, cancelled)
            message = purchase_to_proto(cancelled)
            await self._events.append(session, "wealth.purchase.cancelled", purchase_id, message)
            return pb.CancelPurchaseResponse(purchase=message)

        async with self._purchase_scope(purchase_id):
            return await self._idempotent(
                "cancel-purchase", request, pb.CancelPurchaseResponse, cancel
            )

    async def GetPurchase(
        self, request: pb.GetPurchaseRequest, context: Context
    ) -> pb.GetPurchaseResponse:
        purchase = await self._require_purchase(require_purchase_id(request.purchase_id))
        return pb.GetPurchaseResponse(purchase=purchase_to_proto(purchase))

    @contextlib.asynccontextmanager
    async def _purchase_scope(self, purchase_id: str) -> AsyncIterator[None]:
        """Queue in-process behind others touching the same holder or product."""
        purchase = await self._store.get_purchase(purchase_id)
        investors: list[str] = []
        products: list[str] = []
        if purchase is not None and purchase.kind is PurchaseKind.YUEBAO_SUBSCRIPTION:
            investors.append(purchase.investor_id)
        if purchase is not None and purchase.kind is PurchaseKind.PRODUCT_SUBSCRIPTION:
            products.append(purchase.product_id)
        async with self._product_locks.hold(products), self._investor_locks.hold(investors):
            yield

    async def _require_purchase(self, purchase_id: str, session: Session | None = None) -> Purchase:
        purchase = await self._store.get_purchase(purchase_id, session)
        if purchase is None:
            raise NotFound(
                f"purchase {purchase_id} does not exist", metadata={"purchase_id": purchase_id}
            )
        return purchase

    async def _deliver(self, session: Session, purchase: Purchase) -> pb.ConfirmPurchaseResponse:
        """Give the investor what a confirmed purchase bought (in its transaction)."""
        if purchase.kind is PurchaseKind.YUEBAO_SUBSCRIPTION:
            return await self._issue_shares(session, purchase)
        if purchase.kind is PurchaseKind.PRODUCT_SUBSCRIPTION:
            return await self._open_holding(session, purchase)
        if purchase.kind is PurchaseKind.TRANSFER:
            return await self._complete_transfer(session, purchase)
        return await self._fund_order(session, purchase)

    async def _issue_shares(
        self, session: Session, purchase: Purchase
    ) -> pb.ConfirmPurchaseResponse:
        account = await self._store.get_yuebao_account(purchase.investor_id, session)
        credited = subscribe_shares(account, purchase.amount_fen, self._today())
        await self._store.save_yuebao_account(session, account, credited, self._clock.now())
        view = await self._account_view(credited, session)
        return pb.ConfirmPurchaseResponse(yuebao_account=view)

    async def _open_holding(
        self, session: Session, purchase: Purchase
    ) -> pb.ConfirmPurchaseResponse:
        holding = await self._store.purchase_planned_holding(purchase.purchase_id, session)
        await self._store.insert_holding(session, holding)
        message = holding_to_proto(holding)
        await self._events.append(
            session, "wealth.fixed_term.holding_opened", holding.holding_id, message
        )
        return pb.ConfirmPurchaseResponse(holding=message)

    async def _fund_order(self, session: Session, purchase: Purchase) -> pb.ConfirmPurchaseResponse:
        """The buy's order is funded, and priced now if its NAV is already published."""
        order = await self._store.get_order(purchase.fund_order_id, session)
        nav_per_unit = await self._store.get_nav(order.fund_id, order.nav_date, session)
        funded = fund_buy(order, nav_per_unit, self._clock.now())
        if funded.state is FundOrderState.PRICED:
            await self._store.add_units(session, funded.investor_id, funded.fund_id, funded.units)
        await self._store.save_order(session, order, funded)
        order_message = fund_order_to_proto(funded)
        await self._events.append(
            session, "wealth.fund.order_funded", funded.order_id, order_message
        )
        return pb.ConfirmPurchaseResponse(fund_order=order_message)

    async def _complete_transfer(
        self, session: Session, purchase: Purchase
    ) -> pb.ConfirmPurchaseResponse:
        """The buyer's money is in: close the seller's holding, open the buyer's, owe the money."""
        stored = await self._store.get_holding(purchase.holding_id, session)
        transfer = complete_transfer(stored, purchase)
        await self._store.save_holding(
            session,
            stored.holding,
            transfer.seller_holding,
            expected_pending_purchase_id=purchase.purchase_id,
        )
        await self._store.insert_holding(session, transfer.buyer_holding)
        payouts = transfer_payouts(transfer, purchase.purchase_id, self._today(), self._clock.now())
        await self._record_payouts(session, payouts)
        seller_message = holding_to_proto(transfer.seller_holding)
        buyer_message = holding_to_proto(transfer.buyer_holding)
        seller_id, buyer_holding_id = stored.holding.holder_id, transfer.buyer_holding.holding_id
        await self._events.append(
            session, "wealth.fixed_term.holding_transferred", seller_id, seller_message
        )
        await self._events.append(
            session, "wealth.fixed_term.holding_opened", buyer_holding_id, buyer_message
        )
        return pb.ConfirmPurchaseResponse(
            holding=buyer_message, payouts=[payout_to_proto(p) for p in payouts]
        )

    async def _confirmed_response(
        self, session: Session, purchase: Purchase
    ) -> pb.ConfirmPurchaseResponse:
        """The response of a purchase confirmed before (a repeated confirm, another key)."""
        response = pb.ConfirmPurchaseResponse(purchase=purchase_to_proto(purchase))
        if purchase.kind is PurchaseKind.YUEBAO_SUBSCRIPTION:
            account = await self._store.get_yuebao_account(purchase.investor_id, session)
            response.yuebao_account.CopyFrom(await self._account_view(account, session))
        elif purchase.kind in (PurchaseKind.PRODUCT_SUBSCRIPTION, PurchaseKind.TRANSFER):
            stored = await self._store.get_holding(purchase.purchase_id, session)
            response.holding.CopyFrom(holding_to_proto(stored.holding, stored.pending_purchase_id))
            if purchase.kind is PurchaseKind.TRANSFER:
                payouts = await self._store.get_payouts(
                    transfer_payout_ids(purchase.purchase_id), session
                )
                response.payouts.extend(payout_to_proto(p) for p in payouts)
        else:
            order = await self._store.get_order(purchase.fund_order_id, session)
            response.fund_order.CopyFrom(fund_order_to_proto(order))
        return response

    async def _release(self, session: Session, purchase: Purchase) -> None:
        """Release what a cancelled purchase's try reserved (in its transaction)."""
        if purchase.kind is PurchaseKind.PRODUCT_SUBSCRIPTION:
            await self._release_subscription(session, purchase)
        elif purchase.kind is PurchaseKind.TRANSFER:
            stored = await self._store.get_holding(purchase.holding_id, session)
            await self._store.save_holding(
                session,
                stored.holding,
                stored.holding,
                expected_pending_purchase_id=purchase.purchase_id,
            )
        elif purchase.kind is PurchaseKind.FUND_BUY:
            order = await self._store.get_order(purchase.fund_order_id, session)
            cancelled = cancel_unfunded(order)
            await self._store.save_order(session, order, cancelled)
            await self._events.append(
                session,
                "wealth.fund.order_cancelled",
                order.order_id,
                fund_order_to_proto(cancelled),
            )

    async def _release_subscription(self, session: Session, purchase: Purchase) -> None:
        """Give back the quota, and to an allocated reservation the amount it bought."""
        await self._store.release_quota(session, purchase.product_id, purchase.amount_fen)
        if not purchase.reservation_id:
            return
        reservation = await self._store.get_reservation(purchase.reservation_id, session)
        released = release_reservation_purchase(
            reservation,
            product_id=purchase.product_id,
            amount_fen=purchase.amount_fen,
            purchased_at=purchase.created_at,
        )
        await self._store.save_reservation(session, reservation, released)
