"""The loan gRPC servicer: proto in, one loan rule, proto out (DOMAIN.md §4, docs/loans.md).

Each mutating method is a short use case: validate the request, then inside one idempotent
transaction load the records, ask the domain rules (huabei.py, bills.py, installments.py,
cash_loans.py, repayments.py, periods.py, delinquency.py), store the result and append its
event. Documents live in store/; the RPC groups in rpc_*.py.
"""

from __future__ import annotations

import logging

import grpc

from chassis.clock import Clock
from chassis.feed_follower import FeedFollower, UpstreamFeed
from chassis.grpc_server import GrpcService, build_grpc_service
from chassis.mongo import MongoClient
from chassis.outbox import EventFeedRpc, OutboxFeed
from chassis.settings import ServiceSettings
from colony.loan.v1 import loan_pb2 as pb
from colony.loan.v1 import loan_pb2_grpc
from services.loan.feeds.credit_scores import CreditScoreIntake, credit_advice_source
from services.loan.merchant.server import SERVICE_NAME as MERCHANT_SERVICE_NAME
from services.loan.merchant.server import merchant_lending_registration
from services.loan.rpc_bills import BillsRpc
from services.loan.rpc_cash_loans import CashLoansRpc
from services.loan.rpc_huabei import HuabeiRpc
from services.loan.rpc_jobs import JobsRpc
from services.loan.rpc_metrics import export_loan_metrics
from services.loan.rpc_repayments import RepaymentsRpc
from services.loan.store import LoanStore

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["LoanService"].full_name


class LoanServicer(
    EventFeedRpc,
    HuabeiRpc,
    BillsRpc,
    CashLoansRpc,
    RepaymentsRpc,
    JobsRpc,
    loan_pb2_grpc.LoanServiceServicer,
):
    """The LoanService: every RPC group mixed into one servicer over one LoanStore."""

    feed_response = pb.StreamEventsResponse


async def build_loan_service(
    settings: ServiceSettings,
    client: MongoClient,
    clock: Clock,
    credit_feed: UpstreamFeed | None = None,
) -> GrpcService:
    """Prepare the loan database (indexes) and build its gRPC server.

    The daily job is run by date (RunLoanJobs) by the gateway's schedule or an operator, like
    the wealth job: the service itself runs no periodic job. With credit_feed, the Huabei
    lines follow the credit service's score and blacklist changes (feeds/credit_scores.py),
    asking that service for the new advice.
    """
    store = LoanStore(client[settings.database_name])
    await store.ensure_indexes()
    feed = OutboxFeed(client, store.database)
    await feed.ensure_indexes()
    servicer = LoanServicer(client, store, clock, feed)
    # Merchant lending and funding (issue 19): its own servicer over the same database.
    merchant = await merchant_lending_registration(client, store.database, clock)
    service = build_grpc_service(
        settings,
        register=[
            lambda server: loan_pb2_grpc.add_LoanServiceServicer_to_server(servicer, server),
            merchant,
        ],
        service_names=[SERVICE_NAME, MERCHANT_SERVICE_NAME],
    )
    service.add_background("outbox-sequencer", feed.run_sequencer)
    if credit_feed is not None:
        channel = grpc.aio.insecure_channel(credit_feed.address)
        intake = CreditScoreIntake(client, store, clock, credit_advice_source(channel))
        service.add_background("credit-scores", FeedFollower(credit_feed, intake, clock).run)
        service.on_stop(channel.close)
    export_loan_metrics(service, store)
    return service
