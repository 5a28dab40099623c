"""The MerchantLendingService servicer, registered on the loan process's gRPC server."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from chassis.clock import Clock
from chassis.mongo import MongoClient
from colony.loan.v1 import merchant_lending_pb2 as pb
from colony.loan.v1 import merchant_lending_pb2_grpc
from services.loan.merchant.rpc_abs import AbsPoolsRpc
from services.loan.merchant.rpc_facilities import FacilitiesRpc
from services.loan.merchant.rpc_funding import FundingRpc
from services.loan.merchant.rpc_order_loans import OrderLoansRpc
from services.loan.merchant.rpc_post_loan import PostLoanRpc
from services.loan.merchant.store import MerchantLendingStore

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["MerchantLendingService"].full_name


class MerchantLendingServicer(
    FacilitiesRpc,
    FundingRpc,
    OrderLoansRpc,
    PostLoanRpc,
    AbsPoolsRpc,
    merchant_lending_pb2_grpc.MerchantLendingServiceServicer,
):
    """Facilities, draws, repayments, funding, order loans, post-loan control, ABS pools:
    one servicer over one MerchantLendingStore."""


async def merchant_lending_registration(
    client: MongoClient, database: object, clock: Clock
) -> Callable[[grpc.aio.Server], None]:
    """Prepare merchant lending's indexes and return the servicer's registration."""
    store = MerchantLendingStore(database)
    await store.ensure_merchant_indexes()
    servicer = MerchantLendingServicer(client, store, clock)
    return lambda server: merchant_lending_pb2_grpc.add_MerchantLendingServiceServicer_to_server(
        servicer, server
    )
