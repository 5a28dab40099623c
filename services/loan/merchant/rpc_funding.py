"""Funding RPCs (funding.py holds the rules): capital, bank borrowing, capacity, the audit."""

from __future__ import annotations

from collections.abc import Callable

from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.wire import amount_from_proto, money_to_proto
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.merchant.audit import MerchantFlows
from services.loan.merchant.funding import (
    FundingBook,
    borrow,
    pay_in_capital,
    repay_borrowing,
)
from services.loan.merchant.rpc_base import MerchantRpcBase
from services.loan.merchant.wire import capacity_to_proto, policy_from_proto, policy_to_proto


class FundingRpc(MerchantRpcBase):
    """The operator's funding book and the lending capacity."""

    async def _change(
        self,
        scope: str,
        request: pb.PayInCapitalRequest | pb.BorrowFromBankRequest | pb.RepayBankBorrowingRequest,
        rule: Callable[[FundingBook, int], FundingBook],
        event: str,
    ) -> pb.LendingCapacity:
        amount_fen = amount_from_proto(request.amount)

        async def change(session: Session) -> pb.GetLendingCapacityResponse:
            await self._store.claim_capacity(session)  # one funding change at a time
            book = rule(await self._store.funding_book(session), amount_fen)
            await self._store.save_funding_book(session, book)
            message = capacity_to_proto(await self._store.capacity(session))
            await self._events.append(session, event, "funding", message)
            return pb.GetLendingCapacityResponse(capacity=message)

        response = await self._idempotent(scope, request, pb.GetLendingCapacityResponse, change)
        return response.capacity

    async def PayInCapital(
        self, request: pb.PayInCapitalRequest, context: Context
    ) -> pb.PayInCapitalResponse:
        capacity = await self._change(
            "pay-in-capital", request, pay_in_capital, "loan.funding.capital_paid_in"
        )
        return pb.PayInCapitalResponse(capacity=capacity)

    async def BorrowFromBank(
        self, request: pb.BorrowFromBankRequest, context: Context
    ) -> pb.BorrowFromBankResponse:
        capacity = await self._change("borrow-from-bank", request, borrow, "loan.funding.borrowed")
        return pb.BorrowFromBankResponse(capacity=capacity)

    async def RepayBankBorrowing(
        self, request: pb.RepayBankBorrowingRequest, context: Context
    ) -> pb.RepayBankBorrowingResponse:
        capacity = await self._change(
            "repay-bank-borrowing", request, repay_borrowing, "loan.funding.borrowing_repaid"
        )
        return pb.RepayBankBorrowingResponse(capacity=capacity)

    async def GetLendingCapacity(
        self, request: pb.GetLendingCapacityRequest, context: Context
    ) -> pb.GetLendingCapacityResponse:
        return pb.GetLendingCapacityResponse(
            capacity=capacity_to_proto(await self._store.capacity())
        )

    async def GetMerchantLendingAudit(
        self, request: pb.GetMerchantLendingAuditRequest, context: Context
    ) -> pb.GetMerchantLendingAuditResponse:
        audit = _audit_to_proto(await self._store.merchant_flows())
        audit.order_loans.CopyFrom(_audit_to_proto(await self._store.order_flows()))
        return audit

    async def SetMerchantCreditPolicy(
        self, request: pb.SetMerchantCreditPolicyRequest, context: Context
    ) -> pb.SetMerchantCreditPolicyResponse:
        policy = policy_from_proto(request.policy)

        async def set_policy(session: Session) -> pb.SetMerchantCreditPolicyResponse:
            await self._store.save_credit_policy(session, policy)
            message = policy_to_proto(policy)
            await self._events.append(session, "loan.merchant.credit_policy_set", "policy", message)
            return pb.SetMerchantCreditPolicyResponse(policy=message)

        return await self._idempotent(
            "set-merchant-credit-policy", request, pb.SetMerchantCreditPolicyResponse, set_policy
        )

    async def GetMerchantCreditPolicy(
        self, request: pb.GetMerchantCreditPolicyRequest, context: Context
    ) -> pb.GetMerchantCreditPolicyResponse:
        return pb.GetMerchantCreditPolicyResponse(
            policy=policy_to_proto(await self._store.credit_policy())
        )


def _audit_to_proto(flows: MerchantFlows) -> pb.GetMerchantLendingAuditResponse:
    return pb.GetMerchantLendingAuditResponse(
        account_id=flows.account_id,
        lent=money_to_proto(flows.lent_fen),
        collected=money_to_proto(flows.collected_fen),
        principal_repaid=money_to_proto(flows.principal_repaid_fen),
        principal_outstanding=money_to_proto(flows.principal_outstanding_fen),
        expected_balance_fen=flows.expected_balance_fen,
        in_flight=money_to_proto(flows.in_flight_fen),
        breaches=flows.breaches(),
    )
