"""Fixtures: the Naver Commerce simulator on an ephemeral port, and the service itself
against the real nats-server and Mongo-wire store of `core_env`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from inbox_core.connector import PollerRunner
from inbox_core.runtime import RUNTIME, Runtime
from inbox_ingest_marketplace.app import RUNNERS, create_app
from inbox_ingest_marketplace.settings import MarketSettings
from inbox_ingest_marketplace.simulators.naver_commerce import PREFIX, SIM_STATE, SimState
from inbox_ingest_marketplace.simulators.naver_commerce import create_app as create_sim

START_TIMEOUT_S = 30.0


@dataclass
class FakeClock:
    """A wall clock the test moves by hand (seconds since the epoch)."""

    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Credentials:
    client_id: str
    client_secret: str


@dataclass
class RunningSim:
    base_url: str  # what NAVER_COMMERCE_URL points at: http://127.0.0.1:<port>/external
    root_url: str  # for the /_sim/ admin endpoints
    state: SimState
    app: web.Application


@dataclass
class RunningMarket:
    client: TestClient[Any, Any]
    app: web.Application

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    @property
    def runner(self) -> PollerRunner:
        return self.app[RUNNERS][0]


@pytest.fixture
def naver_credentials() -> Credentials:
    # Cost 4, like the secrets Naver hands out ($2a$04$...): fast to sign and to check.
    return Credentials("inbox-test-client", bcrypt.gensalt(rounds=4, prefix=b"2a").decode())


@pytest.fixture
async def start_sim(
    naver_credentials: Credentials,
) -> AsyncIterator[Callable[..., Awaitable[RunningSim]]]:
    servers: list[TestServer] = []

    async def start(**kwargs: Any) -> RunningSim:
        app = create_sim(naver_credentials.client_id, naver_credentials.client_secret, **kwargs)
        server = TestServer(app, host="127.0.0.1", port=0)
        await asyncio.wait_for(server.start_server(), START_TIMEOUT_S)
        servers.append(server)
        root = str(server.make_url("")).rstrip("/")
        return RunningSim(root + PREFIX, root, app[SIM_STATE], app)

    try:
        yield start
    finally:
        for server in servers:
            await asyncio.wait_for(server.close(), START_TIMEOUT_S)


@pytest.fixture
async def naver_sim(start_sim: Callable[..., Awaitable[RunningSim]]) -> RunningSim:
    return await start_sim()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        yield session
    finally:
        await asyncio.wait_for(session.close(), 10)


@pytest.fixture
async def start_market(
    core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Awaitable[RunningMarket]]]:
    """Start the service with extra env; stopped (drained) at the end of the test."""
    for name in (
        "NAVER_COMMERCE_CLIENT_ID",
        "NAVER_COMMERCE_CLIENT_SECRET",
        "NAVER_COMMERCE_URL",
        "NAVER_COMMERCE_ACCOUNT",
        "NAVER_COMMERCE_BACKFILL_DAYS",
        "INBOX_MARKET_POLL_S",
    ):
        monkeypatch.delenv(name, raising=False)
    clients: list[TestClient[Any, Any]] = []

    async def start(**env: str) -> RunningMarket:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = create_app(MarketSettings())
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await asyncio.wait_for(client.start_server(), START_TIMEOUT_S)
        clients.append(client)
        return RunningMarket(client, app)

    try:
        yield start
    finally:
        for client in clients:
            await asyncio.wait_for(client.close(), START_TIMEOUT_S)


Eventually = Callable[..., Awaitable[Any]]


async def _eventually(check: Callable[[], Any], *, timeout: float = 15.0, what: str = "") -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await asyncio.wait_for(result, timeout)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {what or check}")
        await asyncio.sleep(0.05)


@pytest.fixture
def eventually() -> Eventually:
    return _eventually


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(time.time())
