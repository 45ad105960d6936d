"""Pytest fixtures: a real nats-server and a real Mongo-wire server, on ephemeral ports in
temp dirs, killed and cleaned up after use. Parallel-safe: nothing uses a fixed port.

- `nats_server` (function scope): a fresh JetStream server per test (starts in ~50 ms), so
  stream names never collide between tests.
- `mongo_server` (session scope): one store process; `mongodb_url` gives each test its own
  database name through `core_env`.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inbox_core.embedded import ManagedProcess, free_port, mongo_url, start_mongo, start_nats


@dataclass
class NatsServer:
    url: str
    port: int
    process: ManagedProcess
    data_dir: Path

    def restart(self) -> None:
        """Stop and start on the same port and store dir (messages survive)."""
        self.process.stop()
        self.process = start_nats(self.data_dir, self.port)


@dataclass
class MongoServer:
    url: str
    port: int
    process: ManagedProcess


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="inbox-nats-"))
    port = free_port()
    proc = start_nats(data_dir, port)
    server = NatsServer(f"nats://127.0.0.1:{port}", port, proc, data_dir)
    try:
        yield server
    finally:
        server.process.kill()
        server.process.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="inbox-store-"))
    port = free_port()
    proc = start_mongo(data_dir / "db", port, log_dir=data_dir)
    try:
        yield MongoServer(mongo_url(port), port, proc)
    finally:
        proc.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def core_env(
    nats_server: NatsServer,
    mongo_server: MongoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Environment for a service under test: real bus, real store, own database and data dir."""
    env = {
        "NATS_URL": nats_server.url,
        "MONGODB_URL": mongo_server.url,
        "INBOX_MONGODB_DB": f"t_{uuid.uuid4().hex[:12]}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_NAK_DELAY_S": "0.05",
        "INBOX_NAK_MAX_DELAY_S": "0.2",
        "INBOX_MAX_DELIVER": "3",
        "INBOX_SHUTDOWN_GRACE_S": "3",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
