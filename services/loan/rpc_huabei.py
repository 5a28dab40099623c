"""Huabei line and purchase RPCs (huabei.py holds the rules): the line from the credit
advice, and the reserve/capture/release/refund steps of the gateway's Huabei sagas."""

from __future__ import annotations

from dataclasses import replace

from chassis.errors import NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, money_to_proto, next_page, page_size_of
from colony.loan.v1 import loan_pb2 as pb
from services.loan.bills import apply_refund_to_bill
from services.loan.huabei import (
    HuabeiPurchase,
    capture,
    line_exceeded,
    open_line,
    plan_reservation,
    refund_purchase,
    release,
    release_tombstone,
    require_id,
    require_purchasable,
    require_same_reservation,
    sync_line,
)
from services.loan.merchant.store import MerchantLendingStore
from services.loan.rpc_base import LoanRpcBase
from services.loan.wire import advice_from_proto, line_to_proto, purchase_to_proto


class HuabeiRpc(LoanRpcBase):
    """The Huabei line and its purchases."""

    async def SyncHuabeiLine(
        self, request: pb.SyncHuabeiLineRequest, context: Context
    ) -> pb.SyncHuabeiLineResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        advice = advice_from_proto(request.advice, borrower_id)

        async def sync(session: Session) -> pb.SyncHuabeiLineResponse:
            line = await self._store.find_line(borrower_id, session)
            now = self._clock.now()
            synced = (
                open_line(advice, request.statement_day, now, room_fen=await self._room(session))
                if line is None
                else sync_line(
                    line,
                    advice,
                    now,
                    room_fen=await self._room(session)
                    if advice.huabei_line_fen > line.line_fen
                    else None,
                )
            )
            await self._store.save_line(session, synced)
            message = line_to_proto(synced)
            await self._events.append(session, "loan.huabei.line_synced", borrower_id, message)
            return pb.SyncHuabeiLineResponse(line=message)

        async with self._borrower_locks.hold([borrower_id]):
            return await self._idempotent(
                "sync-huabei-line", request, pb.SyncHuabeiLineResponse, sync
            )

    async def _room(self, session: Session) -> int | None:
        """The lending capacity available for a line's grant or raise, claimed like a payout
        (docs/loans.md "Funding"); None (not limited) before any capital is paid in."""
        capacity = await MerchantLendingStore(self._store.database).claim_capacity(session)
        return capacity.available_fen if capacity.book.capital_fen > 0 else None

    async def GetHuabeiLine(
        self, request: pb.GetHuabeiLineRequest, context: Context
    ) -> pb.GetHuabeiLineResponse:
        line = await self._store.get_line(require_id(request.borrower_id, "borrower_id"))
        return pb.GetHuabeiLineResponse(line=line_to_proto(line))

    async def ReserveHuabei(
        self, request: pb.ReserveHuabeiRequest, context: Context
    ) -> pb.ReserveHuabeiResponse:
        planned = plan_reservation(
            request.reservation_id,
            request.borrower_id,
            amount_from_proto(request.amount),
            merchant_id=request.merchant_id,
            reference=request.reference,
            now=self._clock.now(),
        )

        async def reserve(session: Session) -> pb.ReserveHuabeiResponse:
            existing = await self._store.find_purchase(planned.purchase_id, session)
            if existing is not None:
                require_same_reservation(existing, planned)
                return await self._reserve_response(session, existing)
            line = await self._store.get_line(planned.borrower_id, session)
            require_purchasable(line, planned.amount_fen)
            if not await self._store.reserve_on_line(session, line.borrower_id, planned.amount_fen):
                raise line_exceeded(line.borrower_id, planned.amount_fen, line.available_fen)
            await self._store.save_purchase(session, planned)
            await self._events.append(
                session, "loan.huabei.reserved", planned.purchase_id, purchase_to_proto(planned)
            )
            return await self._reserve_response(session, planned)

        async with self._borrower_locks.hold([planned.borrower_id]):
            return await self._idempotent(
                "reserve-huabei", request, pb.ReserveHuabeiResponse, reserve
            )

    async def _reserve_response(
        self, session: Session, purchase: HuabeiPurchase
    ) -> pb.ReserveHuabeiResponse:
        line = await self._store.get_line(purchase.borrower_id, session)
        return pb.ReserveHuabeiResponse(
            purchase=purchase_to_proto(purchase), line=line_to_proto(line)
        )

    async def CaptureHuabei(
        self, request: pb.CaptureHuabeiRequest, context: Context
    ) -> pb.CaptureHuabeiResponse:
        reservation_id = require_id(request.reservation_id, "reservation_id")

        async def capture_purchase(session: Session) -> pb.CaptureHuabeiResponse:
            purchase = await self._store.get_purchase(reservation_id, session)
            captured = capture(
                purchase, request.payment_posting_id, self._clock.now(), self._today()
            )
            if captured is not purchase:
                await self._store.move_reserved(
                    session, purchase.borrower_id, purchase.amount_fen, purchase.amount_fen
                )
                await self._store.save_purchase(session, captured)
                await self._events.append(
                    session, "loan.huabei.captured", reservation_id, purchase_to_proto(captured)
                )
            return pb.CaptureHuabeiResponse(purchase=purchase_to_proto(captured))

        return await self._idempotent(
            "capture-huabei", request, pb.CaptureHuabeiResponse, capture_purchase
        )

    async def ReleaseHuabei(
        self, request: pb.ReleaseHuabeiRequest, context: Context
    ) -> pb.ReleaseHuabeiResponse:
        reservation_id = require_id(request.reservation_id, "reservation_id")

        async def release_purchase(session: Session) -> pb.ReleaseHuabeiResponse:
            purchase = await self._store.find_purchase(reservation_id, session)
            if purchase is None:
                released = release_tombstone(reservation_id, request.borrower_id, self._clock.now())
            else:
                released = release(purchase)
                if released == purchase:
                    return pb.ReleaseHuabeiResponse(purchase=purchase_to_proto(purchase))
                await self._store.move_reserved(
                    session, purchase.borrower_id, purchase.amount_fen, 0
                )
            await self._store.save_purchase(session, released)
            message = purchase_to_proto(released)
            await self._events.append(session, "loan.huabei.released", reservation_id, message)
            return pb.ReleaseHuabeiResponse(purchase=message)

        return await self._idempotent(
            "release-huabei", request, pb.ReleaseHuabeiResponse, release_purchase
        )

    async def RefundHuabeiPurchase(
        self, request: pb.RefundHuabeiPurchaseRequest, context: Context
    ) -> pb.RefundHuabeiPurchaseResponse:
        refund_id = require_id(request.refund_id, "refund_id")
        purchase_id = require_id(request.purchase_id, "purchase_id")
        require_id(request.payment_posting_id, "payment_posting_id")
        amount_fen = amount_from_proto(request.amount)

        async def refund(session: Session) -> pb.RefundHuabeiPurchaseResponse:
            purchase = await self._store.get_purchase(purchase_id, session)
            refunded = refund_purchase(purchase, refund_id, amount_fen)
            bill_id, to_bill_fen = await self._refund_to_bill(session, refunded, amount_fen)
            line = await self._store.get_line(purchase.borrower_id, session)
            billed = purchase.bill_id or purchase.installment_plan_id
            credited_fen = amount_fen - to_bill_fen if billed else 0
            line = replace(
                line, used_fen=line.used_fen - amount_fen, credit_fen=line.credit_fen + credited_fen
            )
            await self._store.save_line(session, line)
            await self._store.save_purchase(session, refunded)
            message = purchase_to_proto(refunded)
            await self._events.append(session, "loan.huabei.refunded", purchase_id, message)
            return pb.RefundHuabeiPurchaseResponse(
                purchase=message,
                applied_to_bill=money_to_proto(to_bill_fen),
                bill_id=bill_id,
                credited=money_to_proto(credited_fen),
                line=line_to_proto(line),
            )

        return await self._idempotent(
            "refund-huabei", request, pb.RefundHuabeiPurchaseResponse, refund
        )

    async def _refund_to_bill(
        self, session: Session, purchase: HuabeiPurchase, amount_fen: int
    ) -> tuple[str, int]:
        """A billed purchase's refund lowers its bill (else the latest unpaid one)."""
        if not purchase.bill_id:
            return "", 0
        bill = await self._store.get_bill(purchase.bill_id, session)
        if bill.period.is_paid:
            latest = await self._store.latest_open_bill(purchase.borrower_id, session)
            if latest is None:
                return "", 0
            bill = latest
        reduced, taken_fen = apply_refund_to_bill(bill, amount_fen)
        await self._store.save_bill(session, reduced)
        return bill.bill_id, taken_fen

    async def FindHuabeiPurchase(
        self, request: pb.FindHuabeiPurchaseRequest, context: Context
    ) -> pb.FindHuabeiPurchaseResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        reference = require_id(request.reference, "reference")
        purchase = await self._store.find_purchase_for(borrower_id, reference)
        if purchase is None:
            raise NotFound(
                f"{borrower_id} made no Huabei purchase for {reference}",
                metadata={"borrower_id": borrower_id, "reference": reference},
            )
        return pb.FindHuabeiPurchaseResponse(purchase=purchase_to_proto(purchase))

    async def ListHuabeiPurchases(
        self, request: pb.ListHuabeiPurchasesRequest, context: Context
    ) -> pb.ListHuabeiPurchasesResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        query = f"huabei-purchases:{borrower_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        purchases = await self._store.list_purchases(borrower_id, page_size, after)
        return pb.ListHuabeiPurchasesResponse(
            purchases=[purchase_to_proto(purchase) for purchase in purchases],
            page=next_page(
                len(purchases),
                page_size,
                lambda: encode_page_token(
                    query, purchases[-1].reserved_at.isoformat(), purchases[-1].purchase_id
                ),
            ),
        )
