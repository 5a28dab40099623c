"""The wealth gRPC servicer: proto in, one wealth rule, proto out.

Each mutating method is a short use case: validate the request, then inside one idempotent
transaction load the records, ask the domain rules (yuebao.py, fixed_term.py,
marketplace.py and the purchase, payout and order lifecycles), store the result and append
its event. Documents live in store.py; the RPC groups in rpc_*.py.
"""

from __future__ import annotations

import logging

from chassis.clock import Clock
from chassis.grpc_server import GrpcService, build_grpc_service
from chassis.mongo import MongoClient
from chassis.outbox import EventFeedRpc, OutboxFeed
from chassis.settings import ServiceSettings
from colony.wealth.v1 import wealth_pb2 as pb
from colony.wealth.v1 import wealth_pb2_grpc
from services.wealth.rpc_catalog import CatalogRpc
from services.wealth.rpc_fixed_term import FixedTermRpc
from services.wealth.rpc_funds import FundsRpc
from services.wealth.rpc_income import IncomeRpc
from services.wealth.rpc_metrics import export_wealth_metrics
from services.wealth.rpc_payouts import PayoutsRpc
from services.wealth.rpc_purchases import PurchasesRpc
from services.wealth.rpc_reservations import ReservationsRpc
from services.wealth.rpc_yuebao import YuebaoRpc
from services.wealth.store import WealthStore
from services.wealth.yuebao import DEFAULT_PORTFOLIO

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["WealthService"].full_name
# How often each periodic job looks for work; every round is bounded by the job itself.
INCOME_JOB_INTERVAL_SECONDS = 60.0
FIXED_TERM_JOB_INTERVAL_SECONDS = 60.0
ORDER_PRICER_INTERVAL_SECONDS = 10.0


class WealthServicer(
    EventFeedRpc,
    YuebaoRpc,
    IncomeRpc,
    PurchasesRpc,
    PayoutsRpc,
    FixedTermRpc,
    ReservationsRpc,
    FundsRpc,
    CatalogRpc,
    wealth_pb2_grpc.WealthServiceServicer,
):
    """The WealthService: every RPC group mixed into one servicer over one WealthStore."""

    feed_response = pb.StreamEventsResponse


async def build_wealth_service(
    settings: ServiceSettings,
    client: MongoClient,
    clock: Clock,
    *,
    job_interval_seconds: float | None = None,
) -> GrpcService:
    """Prepare the wealth database (indexes, the Yu'e Bao fund) and build its gRPC server.

    job_interval_seconds overrides every periodic job's interval (tests make it long and
    run the jobs themselves with run_job_now).
    """
    store = WealthStore(client[settings.database_name])
    await store.ensure_indexes()
    feed = OutboxFeed(client, store.database)
    await feed.ensure_indexes()
    await store.ensure_yuebao_fund(DEFAULT_PORTFOLIO, clock.now())
    servicer = WealthServicer(client, store, clock, feed)
    service = build_grpc_service(
        settings,
        register=[
            lambda server: wealth_pb2_grpc.add_WealthServiceServicer_to_server(servicer, server)
        ],
        service_names=[SERVICE_NAME],
    )
    service.add_background("outbox-sequencer", feed.run_sequencer)
    service.add_periodic(
        "yuebao-daily-income",
        job_interval_seconds or INCOME_JOB_INTERVAL_SECONDS,
        servicer.distribute_due_income,
    )
    service.add_periodic(
        "fixed-term-jobs",
        job_interval_seconds or FIXED_TERM_JOB_INTERVAL_SECONDS,
        servicer.run_due_fixed_term_jobs,
    )
    service.add_periodic(
        "fund-order-pricer",
        job_interval_seconds or ORDER_PRICER_INTERVAL_SECONDS,
        servicer.price_pending_orders,
    )
    export_wealth_metrics(service, store)
    return service
