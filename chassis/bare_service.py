"""A business line whose RPCs have not landed yet: its process, database and health only.

Until its issue lands, such a service still starts as its own process, connects to its
own database, and serves health (tied to that database) and reflection, so deployment,
readiness and monitoring already treat it like the others.
"""

from __future__ import annotations

from chassis.clock import Clock
from chassis.grpc_server import GrpcService, build_grpc_service
from chassis.mongo import MongoClient
from chassis.settings import ServiceSettings


async def build_bare_service(
    settings: ServiceSettings, client: MongoClient, clock: Clock
) -> GrpcService:
    """Health and reflection over the service's own database, no business RPCs."""
    del clock  # no time-based rules yet
    database = client[settings.database_name]
    # Touch the service's own database so it exists and the connection is proven.
    await database.command("ping")
    return build_grpc_service(settings, register=(), service_names=())
