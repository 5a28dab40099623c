"""The insurance gRPC servicer: proto in, one insurance rule, proto out (DOMAIN.md §5,
docs/insurance.md).

Each mutating method is a short use case: validate the request, then inside one idempotent
transaction load the records, ask the domain rules (products.py, pricing.py, quotes.py,
policies.py, claims.py, books.py), store the result and append its event. Documents live in
store/; the RPC groups in rpc_*.py.
"""

from __future__ import annotations

from chassis.clock import Clock
from chassis.grpc_server import GrpcService, build_grpc_service
from chassis.mongo import MongoClient
from chassis.outbox import EventFeedRpc, OutboxFeed
from chassis.settings import ServiceSettings
from colony.insurance.v1 import insurance_pb2 as pb
from colony.insurance.v1 import insurance_pb2_grpc
from services.insurance.products import Catalogue, load_catalogue
from services.insurance.rpc_claims import ClaimsRpc
from services.insurance.rpc_metrics import export_insurance_metrics
from services.insurance.rpc_operations import OperationsRpc
from services.insurance.rpc_policies import PoliciesRpc
from services.insurance.rpc_quotes import QuotesRpc
from services.insurance.store import InsuranceStore

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InsuranceService"].full_name


class InsuranceServicer(
    EventFeedRpc,
    QuotesRpc,
    PoliciesRpc,
    ClaimsRpc,
    OperationsRpc,
    insurance_pb2_grpc.InsuranceServiceServicer,
):
    """The InsuranceService: every RPC group mixed into one servicer over one InsuranceStore."""

    feed_response = pb.StreamEventsResponse


async def build_insurance_service(
    settings: ServiceSettings,
    client: MongoClient,
    clock: Clock,
    catalogue: Catalogue | None = None,
) -> GrpcService:
    """Load the catalogue, prepare the insurance database (indexes) and build its gRPC server.

    The expiry job is run by date (RunPolicyExpiry) by the gateway's schedule or an operator,
    like the loan and wealth jobs: the service itself runs no periodic job.
    """
    store = InsuranceStore(client[settings.database_name])
    await store.ensure_indexes()
    feed = OutboxFeed(client, store.database)
    await feed.ensure_indexes()
    servicer = InsuranceServicer(client, store, clock, feed, catalogue or load_catalogue())
    service = build_grpc_service(
        settings,
        register=[
            lambda server: insurance_pb2_grpc.add_InsuranceServiceServicer_to_server(
                servicer, server
            )
        ],
        service_names=[SERVICE_NAME],
    )
    service.add_background("outbox-sequencer", feed.run_sequencer)
    export_insurance_metrics()
    return service
