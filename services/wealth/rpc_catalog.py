"""The demo catalog RPC: products, funds and NAV history for `make run` (demo_catalog.py).

The demo loader works through public interfaces only (infra/demo_data.py), so the catalog
is loaded by an operator RPC, not written behind the service's back; it is idempotent by
the catalog's fixed ids and appends the same events an operator's CreateProduct,
CreateFund and PublishNav would.
"""

from __future__ import annotations

from datetime import date, timedelta

from chassis.grpc_server import Context
from chassis.idempotency import require_idempotency_key
from chassis.mongo import Session, run_in_transaction
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.demo_catalog import DEMO_FUNDS, DemoFund, demo_nav_history, demo_products
from services.wealth.fixed_term import Product
from services.wealth.rpc_base import WealthRpcBase
from services.wealth.wire import fund_to_proto, nav_to_proto, product_to_proto


class CatalogRpc(WealthRpcBase):
    """Loading the demo catalog."""

    async def SeedDemoCatalog(
        self, request: pb.SeedDemoCatalogRequest, context: Context
    ) -> pb.SeedDemoCatalogResponse:
        # Idempotent by the catalog's fixed ids: a second call (any key) creates nothing.
        require_idempotency_key(request.idempotency_key)
        return await self.ensure_demo_catalog()

    async def ensure_demo_catalog(self) -> pb.SeedDemoCatalogResponse:
        """Create the demo products and funds (with NAV history) that do not exist yet."""
        response = pb.SeedDemoCatalogResponse()
        now = self._clock.now()
        for product in demo_products(now):
            if await self._store.product_exists(product.product_id):
                continue

            async def create_product(session: Session, product: Product = product) -> None:
                await self._create_product(session, product)

            await run_in_transaction(self._client, create_product)
            response.products_created += 1
        last_nav_date = self._today() - timedelta(days=1)
        for demo in DEMO_FUNDS:
            if await self._store.fund_exists(demo.fund.fund_id):
                continue

            async def create_fund(session: Session, demo: DemoFund = demo) -> int:
                return await self._create_fund(session, demo, last_nav_date)

            response.navs_published += await run_in_transaction(self._client, create_fund)
            response.funds_created += 1
        return response

    async def _create_product(self, session: Session, product: Product) -> None:
        now = self._clock.now()
        await self._store.insert_product(session, product, now)
        await self._events.append(
            session,
            "wealth.fixed_term.product_created",
            product.product_id,
            product_to_proto(product, now),
        )

    async def _create_fund(self, session: Session, demo: DemoFund, last_nav_date: date) -> int:
        fund = demo.fund
        history = demo_nav_history(demo, last_nav_date)
        await self._store.insert_fund(session, fund, self._clock.now())
        await self._events.append(session, "wealth.fund.created", fund.fund_id, fund_to_proto(fund))
        for nav_date, nav_per_unit in history:
            await self._store.insert_nav(session, fund.fund_id, nav_date, nav_per_unit)
            await self._events.append(
                session,
                "wealth.fund.nav_published",
                fund.fund_id,
                pb.NavPublished(fund_id=fund.fund_id, nav=nav_to_proto(nav_date, nav_per_unit)),
            )
        return len(history)
