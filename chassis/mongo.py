"""MongoDB access every service shares: the client factory and the transaction helper."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, ReadPreference
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

T = TypeVar("T")
Document = dict[str, Any]
MongoClient = AsyncMongoClient[Document]
Session = AsyncClientSession

TRANSACTION_RETRIES_MAX = 12
COMMIT_RETRIES_MAX = 5
RETRY_BACKOFF_SECONDS_BASE = 0.002
RETRY_BACKOFF_SECONDS_MAX = 0.2

log = logging.getLogger(__name__)


def create_client(url: str, app_name: str) -> MongoClient:
    """A client that writes to a majority and reads only majority-committed data."""
    return AsyncMongoClient(
        url,
        appname=app_name,
        tz_aware=True,
        w="majority",
        readConcernLevel="majority",
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
    )


async def ping(client: MongoClient) -> bool:
    """True when the cluster answers; used by health and readiness checks."""
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    return True


async def _backoff(attempt: int) -> None:
    ceiling = min(RETRY_BACKOFF_SECONDS_MAX, RETRY_BACKOFF_SECONDS_BASE * 2**attempt)
    await asyncio.sleep(random.uniform(0, ceiling))


async def run_in_transaction(
    client: MongoClient,
    operation: Callable[[Session], Awaitable[T]],
    *,
    retries_max: int = TRANSACTION_RETRIES_MAX,
) -> T:
    """Run operation(session) in one snapshot/majority transaction, retrying what MongoDB says to.

    A TransientTransactionError (a write conflict with a concurrent transaction, a primary
    step-down) reruns the whole operation; an UnknownTransactionCommitResult retries only
    the commit. Both are bounded. Anything else, a DomainError included, aborts and propagates.
    """
    async with client.start_session() as session:
        for attempt in range(retries_max):
            try:
                async with await session.start_transaction(
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                    read_preference=ReadPreference.PRIMARY,
                ):
                    result = await operation(session)
                    await _commit_with_retry(session)
                return result
            except PyMongoError as error:
                if error.has_error_label("TransientTransactionError") and attempt + 1 < retries_max:
                    await _backoff(attempt)
                    continue
                raise
    raise AssertionError("unreachable: the retry loop either returns or raises")


async def _commit_with_retry(session: Session) -> None:
    for attempt in range(COMMIT_RETRIES_MAX):
        try:
            await session.commit_transaction()
            return
        except PyMongoError as error:
            unknown = error.has_error_label("UnknownTransactionCommitResult")
            if not unknown or attempt + 1 == COMMIT_RETRIES_MAX:
                raise
        log.warning("commit result unknown, retrying commit (attempt %d)", attempt + 1)
        await _backoff(attempt)
