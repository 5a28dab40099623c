"""Bill and installment RPCs (bills.py and installments.py hold the rules)."""

from __future__ import annotations

from dataclasses import replace

from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import next_page, page_size_of
from colony.loan.v1 import loan_pb2 as pb
from services.loan.bills import Bill, convert_bill, convertible_principal_fen
from services.loan.huabei import HuabeiPurchase, require_id
from services.loan.installments import FEE_RATES, InstallmentPlan, plan_installments, require_months
from services.loan.rpc_base import LoanRpcBase
from services.loan.wire import bill_to_proto, offer_to_proto, plan_to_proto


class BillsRpc(LoanRpcBase):
    """Bills, installment offers and conversions."""

    async def ListBills(
        self, request: pb.ListBillsRequest, context: Context
    ) -> pb.ListBillsResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        query = f"bills:{borrower_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        bills = await self._store.list_bills(borrower_id, page_size, after)
        today = self._today()
        return pb.ListBillsResponse(
            bills=[bill_to_proto(bill, today) for bill in bills],
            page=next_page(
                len(bills),
                page_size,
                lambda: encode_page_token(
                    query, bills[-1].statement_date.isoformat(), bills[-1].bill_id
                ),
            ),
        )

    async def GetBill(self, request: pb.GetBillRequest, context: Context) -> pb.GetBillResponse:
        bill = await self._store.get_bill(require_id(request.bill_id, "bill_id"))
        return pb.GetBillResponse(bill=bill_to_proto(bill, self._today()))

    async def GetInstallmentOffers(
        self, request: pb.GetInstallmentOffersRequest, context: Context
    ) -> pb.GetInstallmentOffersResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        bill, purchase = await self._conversion_source(None, borrower_id, request)
        offers = [
            await self._plan_for(
                None, "offer", borrower_id, bill=bill, purchase=purchase, months=months
            )
            for months in FEE_RATES
        ]
        return pb.GetInstallmentOffersResponse(offers=[offer_to_proto(plan) for plan in offers])

    async def ConvertToInstallments(
        self, request: pb.ConvertToInstallmentsRequest, context: Context
    ) -> pb.ConvertToInstallmentsResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        months = require_months(request.months)
        plan_id = f"plan:{request.bill_id or request.purchase_id}"

        async def convert(session: Session) -> pb.ConvertToInstallmentsResponse:
            bill, purchase = await self._conversion_source(session, borrower_id, request)
            plan = await self._plan_for(
                session, plan_id, borrower_id, bill=bill, purchase=purchase, months=months
            )
            if bill is not None:
                converted, _ = convert_bill(bill, plan_id, self._today())
                await self._store.save_bill(session, converted)
            if purchase is not None:
                await self._store.save_purchase(
                    session, replace(purchase, installment_plan_id=plan_id)
                )
            await self._store.save_plan(session, plan)
            message = plan_to_proto(plan)
            await self._events.append(session, "loan.installment.converted", plan_id, message)
            return pb.ConvertToInstallmentsResponse(plan=message)

        async with self._borrower_locks.hold([borrower_id]):
            return await self._idempotent(
                "convert-installments", request, pb.ConvertToInstallmentsResponse, convert
            )

    async def _conversion_source(
        self,
        session: Session | None,
        borrower_id: str,
        request: pb.GetInstallmentOffersRequest | pb.ConvertToInstallmentsRequest,
    ) -> tuple[Bill | None, HuabeiPurchase | None]:
        """The bill or the unbilled purchase to convert (exactly one, the borrower's)."""
        if bool(request.bill_id) == bool(request.purchase_id):
            raise InvalidArgument("give exactly one of bill_id and purchase_id")
        if request.bill_id:
            bill = await self._store.get_bill(request.bill_id, session)
            return (bill, None) if bill.borrower_id == borrower_id else _not_yours()
        purchase = await self._store.get_purchase(request.purchase_id, session)
        if purchase.borrower_id != borrower_id:
            _not_yours()
        if not purchase.is_unbilled:
            raise FailedPrecondition(
                f"purchase {purchase.purchase_id} is billed, in a plan, or not captured",
                reason="INSTALLMENT_NOT_ALLOWED",
            )
        return None, purchase

    async def _plan_for(
        self,
        session: Session | None,
        plan_id: str,
        borrower_id: str,
        *,
        bill: Bill | None,
        purchase: HuabeiPurchase | None,
        months: int,
    ) -> InstallmentPlan:
        line = await self._store.get_line(borrower_id, session)
        principal_fen = purchase.net_fen if purchase is not None else 0
        if bill is not None:
            convert_bill(bill, plan_id, self._today())  # refuses what cannot be converted
            principal_fen = convertible_principal_fen(bill)
        return plan_installments(
            plan_id=plan_id,
            borrower_id=borrower_id,
            principal_fen=principal_fen,
            months=months,
            after=bill.statement_date if bill else self._today(),
            statement_day=line.statement_day,
            now=self._clock.now(),
            bill_id=bill.bill_id if bill else "",
            purchase_id=purchase.purchase_id if purchase else "",
        )

    async def ListInstallmentPlans(
        self, request: pb.ListInstallmentPlansRequest, context: Context
    ) -> pb.ListInstallmentPlansResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        query = f"plans:{borrower_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        plans = await self._store.list_plans(borrower_id, page_size, after)
        return pb.ListInstallmentPlansResponse(
            plans=[plan_to_proto(plan) for plan in plans],
            page=next_page(
                len(plans),
                page_size,
                lambda: encode_page_token(
                    query, plans[-1].created_at.isoformat(), plans[-1].plan_id
                ),
            ),
        )


def _not_yours() -> tuple[Bill | None, HuabeiPurchase | None]:
    """Another borrower's bill or purchase reads as not found (ids cannot be probed)."""
    raise NotFound("no such bill or purchase for this borrower")
