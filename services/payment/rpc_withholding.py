"""WithholdingService (withholding.py holds the rules): instructions to withhold from a
merchant's settlements; the settlement applies them (TradesRpc._settle)."""

from __future__ import annotations

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.wire import amount_from_proto, money_to_proto, timestamp_to_proto
from colony.payment.v1 import withholding_pb2 as wpb
from services.payment.escrow import TradeState
from services.payment.ledger import AccountKind, require_kind, require_platform_account_id
from services.payment.rpc_base import PaymentRpcBase, require_account_id
from services.payment.store_freeze import StoreFreeze, require_reason
from services.payment.withholding import (
    Withholding,
    WithholdingState,
    release,
    require_same,
)

IN_ESCROW = (TradeState.PAID, TradeState.SHIPPED, TradeState.REFUND_REQUESTED)
ID_LENGTH_MAX = 128
STATES = {
    WithholdingState.ACTIVE: wpb.WITHHOLDING_STATE_ACTIVE,
    WithholdingState.DONE: wpb.WITHHOLDING_STATE_DONE,
    WithholdingState.RELEASED: wpb.WITHHOLDING_STATE_RELEASED,
}


def _require_id(value: str, field: str) -> str:
    if not value or len(value) > ID_LENGTH_MAX:
        raise InvalidArgument(f"{field} is required", metadata={"field": field})
    return value


def withholding_to_proto(item: Withholding) -> wpb.Withholding:
    return wpb.Withholding(
        withholding_id=item.withholding_id,
        merchant_account_id=item.merchant_account_id,
        trade_id=item.trade_id,
        account_id=item.account_id,
        reference=item.reference,
        amount=money_to_proto(item.amount_fen),
        withheld=money_to_proto(item.withheld_fen),
        state=STATES[item.state],
        created_at=timestamp_to_proto(item.created_at),
        applications=[
            wpb.WithholdingApplication(
                posting_id=a.posting_id,
                trade_id=a.trade_id,
                amount=money_to_proto(a.amount_fen),
                applied_at=timestamp_to_proto(a.applied_at),
            )
            for a in item.applications
        ],
    )


class WithholdingRpc(PaymentRpcBase):
    """Set, release and read withholding instructions."""

    async def SetWithholding(
        self, request: wpb.SetWithholdingRequest, context: Context
    ) -> wpb.SetWithholdingResponse:
        withholding_id = _require_id(request.withholding_id, "withholding_id")
        merchant_id = require_account_id(request.merchant_account_id, "merchant_account_id")
        account_id = require_platform_account_id(require_account_id(request.account_id))
        reference = _require_id(request.reference, "reference")
        amount_fen = amount_from_proto(request.amount)
        trade_id = request.trade_id

        async def set_withholding(session: Session) -> wpb.SetWithholdingResponse:
            wanted = Withholding(
                withholding_id,
                merchant_id,
                trade_id,
                account_id,
                reference,
                amount_fen,
                WithholdingState.ACTIVE,
                self._clock.now(),
            )
            existing = await self._store.find_withholding(withholding_id, session)
            if existing is not None:
                if existing.state is WithholdingState.RELEASED and not existing.reference:
                    raise FailedPrecondition(
                        f"withholding {withholding_id} was released", reason="FAILED_PRECONDITION"
                    )
                kept = require_same(existing, wanted)
                return wpb.SetWithholdingResponse(withholding=withholding_to_proto(kept))
            merchant = await self._store.get_account(merchant_id, session, with_balance=False)
            require_kind(merchant, (AccountKind.MERCHANT,), "have settlements withheld")
            await self._store.get_account(account_id, session, with_balance=False)
            if trade_id:
                trade = await self._store.get_trade(trade_id, session)
                if trade.merchant_account_id != merchant_id or trade.state not in IN_ESCROW:
                    raise FailedPrecondition(
                        f"trade {trade_id} is not the merchant's trade in escrow",
                        reason="ILLEGAL_TRANSITION",
                        metadata={"state": trade.state.value},
                    )
            await self._store.save_withholding(session, wanted)
            await self._events.append(
                session, "payment.withholding.set", withholding_id, withholding_to_proto(wanted)
            )
            return wpb.SetWithholdingResponse(withholding=withholding_to_proto(wanted))

        return await self._once(
            "set-withholding", request, wpb.SetWithholdingResponse, set_withholding
        )

    async def ReleaseWithholding(
        self, request: wpb.ReleaseWithholdingRequest, context: Context
    ) -> wpb.ReleaseWithholdingResponse:
        withholding_id = _require_id(request.withholding_id, "withholding_id")

        async def release_withholding(session: Session) -> wpb.ReleaseWithholdingResponse:
            existing = await self._store.find_withholding(withholding_id, session)
            if existing is None:  # a tombstone: a late SetWithholding is refused
                existing = Withholding(
                    withholding_id, "", "", "", "", 0, WithholdingState.RELEASED, self._clock.now()
                )
                await self._store.save_withholding(session, existing)
                return wpb.ReleaseWithholdingResponse(withholding=withholding_to_proto(existing))
            released = release(existing)
            if released != existing:
                await self._store.save_withholding(session, released)
                await self._events.append(
                    session,
                    "payment.withholding.released",
                    withholding_id,
                    withholding_to_proto(released),
                )
            return wpb.ReleaseWithholdingResponse(withholding=withholding_to_proto(released))

        return await self._once(
            "release-withholding", request, wpb.ReleaseWithholdingResponse, release_withholding
        )

    async def GetWithholding(
        self, request: wpb.GetWithholdingRequest, context: Context
    ) -> wpb.GetWithholdingResponse:
        found = await self._store.get_withholding(
            _require_id(request.withholding_id, "withholding_id")
        )
        return wpb.GetWithholdingResponse(withholding=withholding_to_proto(found))

    async def ListWithholdings(
        self, request: wpb.ListWithholdingsRequest, context: Context
    ) -> wpb.ListWithholdingsResponse:
        found = await self._store.withholdings_of(_require_id(request.reference, "reference"))
        return wpb.ListWithholdingsResponse(
            withholdings=[withholding_to_proto(item) for item in found]
        )

    async def SetStoreFreeze(
        self, request: wpb.SetStoreFreezeRequest, context: Context
    ) -> wpb.SetStoreFreezeResponse:
        merchant_id = require_account_id(request.merchant_account_id, "merchant_account_id")
        reason = require_reason(request.frozen, request.reason)

        async def set_freeze(session: Session) -> wpb.SetStoreFreezeResponse:
            merchant = await self._store.get_account(merchant_id, session, with_balance=False)
            require_kind(merchant, (AccountKind.MERCHANT,), "have a store")
            freeze = StoreFreeze(merchant_id, request.frozen, reason, self._clock.now())
            await self._store.save_store_freeze(session, freeze)
            message = store_freeze_to_proto(freeze)
            kind = "frozen" if freeze.frozen else "reopened"
            await self._events.append(session, f"payment.store.{kind}", merchant_id, message)
            return wpb.SetStoreFreezeResponse(freeze=message)

        return await self._once("set-store-freeze", request, wpb.SetStoreFreezeResponse, set_freeze)

    async def GetStoreFreeze(
        self, request: wpb.GetStoreFreezeRequest, context: Context
    ) -> wpb.GetStoreFreezeResponse:
        merchant_id = require_account_id(request.merchant_account_id, "merchant_account_id")
        freeze = await self._store.find_store_freeze(merchant_id)
        if freeze is None:
            return wpb.GetStoreFreezeResponse(
                freeze=wpb.StoreFreeze(merchant_account_id=merchant_id, frozen=False)
            )
        return wpb.GetStoreFreezeResponse(freeze=store_freeze_to_proto(freeze))


def store_freeze_to_proto(freeze: StoreFreeze) -> wpb.StoreFreeze:
    return wpb.StoreFreeze(
        merchant_account_id=freeze.merchant_account_id,
        frozen=freeze.frozen,
        reason=freeze.reason,
        changed_at=timestamp_to_proto(freeze.changed_at),
    )
