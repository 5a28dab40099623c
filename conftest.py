"""Test fixtures shared by the whole suite: one real mongod per session, a database per module.

Set COLONY_TEST_MONGO_URL to run the suite against an existing replica set instead of
starting the embedded mongod (DESIGN.md "Running": tests never need Docker or the network).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from chassis.mongo import MongoClient, create_client
from infra.embedded_mongo import EmbeddedMongo, free_port


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("COLONY_TEST_MONGO_URL")
    if external:
        yield external
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("mongod"), free_port(), cache_size_gb=0.25)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def mongo_client(mongo_url: str) -> AsyncIterator[MongoClient]:
    client = create_client(mongo_url, app_name="colony-tests")
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
def database_name(request: pytest.FixtureRequest) -> str:
    """A fresh database name for this test module (MongoDB caps names at 63 bytes)."""
    module = re.sub(r"[^a-z0-9]", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    return f"t_{module[:40]}_{uuid.uuid4().hex[:8]}"
