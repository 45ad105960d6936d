"""Service fixtures: ingest-mail on free ports against the real bus and store of `core_env`,
an SMTP client, a relay sink, and a reader for what landed on the streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.js.errors
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from inbox_ingest_mail.app import SMTP_SERVER, create_app
from inbox_ingest_mail.settings import MailSettings

TIMEOUT = 15.0
# Settings that must come from the test, never from the developer's shell.
_OWN_ENV = (
    "INBOX_MAIL_DOMAINS",
    "INBOX_MAIL_MAX_BYTES",
    "SMTP_RELAY_URL",
    "INBOX_IMAP_ACCOUNTS",
    "INBOX_SMTP_TLS_CERT",
    "INBOX_SMTP_TLS_KEY",
    "INBOX_SMTP_REQUIRE_TLS",
    "INBOX_MAIL_AUTO_REPLY_LIMIT",
    "INBOX_MAIL_MESSAGE_ID_DOMAIN",
)


@dataclass
class RunningMail:
    app: web.Application
    http_url: str
    smtp_port: int


StartMail = Callable[..., Awaitable[RunningMail]]


@pytest.fixture
async def start_mail(
    core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StartMail]:
    """`await start_mail(INBOX_MAIL_DOMAINS="shop.example")`: the service, until the test ends."""
    runners: list[web.AppRunner] = []

    async def start(**env: str) -> RunningMail:
        for name in _OWN_ENV:
            monkeypatch.delenv(name, raising=False)
        base = {"INBOX_HOST": "127.0.0.1", "INBOX_SMTP_PORT": "0", "INBOX_SMTP_HOSTNAME": "mx.test"}
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        app = create_app(MailSettings())
        runner = web.AppRunner(app)
        await asyncio.wait_for(runner.setup(), 60)
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await asyncio.wait_for(site.start(), TIMEOUT)
        http_port = runner.addresses[0][1]
        smtp_port = app[SMTP_SERVER].port
        assert smtp_port
        return RunningMail(app, f"http://127.0.0.1:{http_port}", smtp_port)

    try:
        yield start
    finally:
        for runner in reversed(runners):
            await asyncio.wait_for(runner.cleanup(), 30)


@dataclass
class StoredMsg:
    subject: str
    headers: dict[str, str]
    data: bytes


class BusReader:
    """Reads the streams (and publishes) with its own short-lived connections, so it keeps
    working across a nats-server restart."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url

    async def messages(self, stream: str, subject: str | None = None) -> list[StoredMsg]:
        nc = await nats.connect(self.nats_url, connect_timeout=5, max_reconnect_attempts=1)
        try:
            js = nc.jetstream(timeout=5)
            info = await js.stream_info(stream)
            found: list[StoredMsg] = []
            if not info.state.messages:
                return found
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except nats.js.errors.NotFoundError:
                    continue
                if subject is None or msg.subject == subject:
                    found.append(
                        StoredMsg(msg.subject or "", dict(msg.headers or {}), msg.data or b"")
                    )
            return found
        finally:
            await nc.close()

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        nc = await nats.connect(self.nats_url, connect_timeout=5, max_reconnect_attempts=1)
        try:
            js = nc.jetstream(timeout=5)
            await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
        finally:
            await nc.close()


@pytest.fixture
def bus_reader(core_env: dict[str, str]) -> BusReader:
    return BusReader(core_env["NATS_URL"])


async def wait_until(
    check: Callable[[], Awaitable[Any]], what: str, timeout: float = TIMEOUT
) -> Any:
    """Poll `check` until it returns something truthy (used through the `poll` fixture)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def poll() -> Callable[..., Awaitable[Any]]:
    return wait_until


@dataclass
class RelaySink:
    """A local SMTP server standing in for the relay; records what it accepts."""

    refuse_with: str | None = None
    defer_first: int = 0  # answer DATA with 451 this many times first
    received: list[Envelope] = field(default_factory=list)
    port: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.defer_first > 0:
            self.defer_first -= 1
            return "451 4.3.0 try again later"
        self.received.append(envelope)
        return "250 2.0.0 queued"


@pytest.fixture
async def relay_sink() -> AsyncIterator[RelaySink]:
    loop = asyncio.get_running_loop()
    sink = RelaySink()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="relay.test", loop=loop), "127.0.0.1", 0
    )
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
