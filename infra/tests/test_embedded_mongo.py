"""The embedded mongod: a replica set that comes back after an unclean stop and a dead run."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from pymongo import MongoClient

from infra.embedded_mongo import EmbeddedMongo, free_port


def write_and_read_back(server: EmbeddedMongo, value: int) -> list[int]:
    """Write in a transaction (proving a primary of a replica set), read everything back."""
    with MongoClient(server.url, serverSelectionTimeoutMS=10_000) as client:
        collection = client["embedded_test"]["values"]
        with client.start_session() as session, session.start_transaction():
            collection.insert_one({"value": value}, session=session)
        return sorted(document["value"] for document in collection.find())


def test_a_mongod_killed_with_sigkill_comes_back_with_its_data(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "data", free_port(), cache_size_gb=0.25)
    server.start()
    try:
        assert write_and_read_back(server, 1) == [1]
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)  # an unclean stop: the lock file stays
        server.process.wait(timeout=30)
        assert (tmp_path / "data" / "mongod.lock").stat().st_size > 0
        server.process = None
        server.start()
        assert write_and_read_back(server, 2) == [1, 2]
    finally:
        server.stop()


def test_a_mongod_orphaned_by_a_dead_run_is_stopped_and_replaced(tmp_path: Path) -> None:
    first = EmbeddedMongo(tmp_path / "data", free_port(), cache_size_gb=0.25)
    first.start()
    orphan: subprocess.Popen[bytes] | None = first.process
    assert orphan is not None
    write_and_read_back(first, 1)
    # The supervisor that started it died: a new run on the same data and a new port.
    second = EmbeddedMongo(tmp_path / "data", free_port(), cache_size_gb=0.25)
    try:
        second.start()
        assert orphan.wait(timeout=30) is not None, "the orphan was stopped"
        assert write_and_read_back(second, 2) == [1, 2]
    finally:
        second.stop()
        if orphan.poll() is None:
            os.kill(orphan.pid, signal.SIGKILL)
