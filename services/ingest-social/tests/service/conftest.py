"""The service on a real nats-server and Mongo-wire store (`core_env`), with the Meta, Kakao
and TalkTalk simulators as the platforms. Everything listens on port 0 and is closed after
the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import nats
import nats.js.errors
import pytest
from aiohttp import web
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from inbox_core import subjects
from inbox_core.schema import DeliveryReport, InboundMessage, OutboundReply
from inbox_ingest_social.app import create_app
from inbox_ingest_social.settings import SocialSettings
from inbox_ingest_social.simulators import kakao, meta, naver_talktalk

APP_SECRET = "svc-app-secret-5b1d"
VERIFY_TOKEN = "svc-verify-token"
PAGE_TOKEN = "svc-page-token-EAAG"
SKILL_TOKEN = "svc-skill-token"
SENDER_CLIENT_ID = "svc-ht-client"
SENDER_SECRET = "svc-ht-secret"
SENDER_PROFILE_KEY = "s" * 40
TALKTALK_TOKEN = "ct_svc_talktalk_key"


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on an ephemeral port; yields its base URL."""
    runner = web.AppRunner(app)
    await asyncio.wait_for(runner.setup(), 60)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await asyncio.wait_for(site.start(), 10)
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.wait_for(runner.cleanup(), 30)


@dataclass
class Service:
    url: str
    app: web.Application
    settings: SocialSettings


@pytest.fixture
def signed() -> Callable[[bytes], dict[str, str]]:
    """Headers Meta would send with `body`, signed with the service's app secret."""

    def headers(body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta.sign(body, APP_SECRET),
        }

    return headers


@pytest.fixture
def verify_token() -> str:
    return VERIFY_TOKEN


@pytest.fixture
async def meta_sim() -> AsyncIterator[str]:
    async with serve(meta.create_app(APP_SECRET, PAGE_TOKEN)) as url:
        yield url


@pytest.fixture
async def kakao_sim() -> AsyncIterator[str]:
    app = kakao.create_app(
        SKILL_TOKEN,
        client_id=SENDER_CLIENT_ID,
        client_secret=SENDER_SECRET,
        sender_key=SENDER_PROFILE_KEY,
    )
    async with serve(app) as url:
        yield url


@pytest.fixture
def kakao_sender(kakao_sim: str) -> dict[str, str]:
    """Settings that configure the 상담톡 sender against the Kakao simulator."""
    return {
        "kakao_sender_url": f"{kakao_sim}/v1/chat/write",
        "kakao_sender_key": SENDER_SECRET,
        "kakao_sender_client_id": SENDER_CLIENT_ID,
        "kakao_sender_profile_key": SENDER_PROFILE_KEY,
    }


@pytest.fixture
async def talktalk_sim() -> AsyncIterator[str]:
    async with serve(naver_talktalk.create_app(TALKTALK_TOKEN)) as url:
        yield url


@pytest.fixture
async def start_service(
    core_env: dict[str, str], meta_sim: str, kakao_sim: str, talktalk_sim: str
) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    """`await start_service(**settings)`: the app, started and serving on an ephemeral port."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Service:
            settings = SocialSettings(
                **{
                    "facebook_app_secret": APP_SECRET,
                    "facebook_verify_token": VERIFY_TOKEN,
                    "facebook_page_token": PAGE_TOKEN,
                    "meta_graph_url": f"{meta_sim}/v21.0",
                    "kakao_skill_token": SKILL_TOKEN,
                    "kakao_callback_hosts": "127.0.0.1",
                    "naver_talktalk_token": TALKTALK_TOKEN,
                    "naver_talktalk_url": f"{talktalk_sim}/chatbot/v1/event",
                    # The simulators call from and listen on this machine.
                    "naver_talktalk_allowed_ips": "127.0.0.1/32",
                    "kakao_callback_allow_local": True,
                    **overrides,
                }
            )
            app = create_app(settings)
            url = await stack.enter_async_context(serve(app))
            return Service(url, app, settings)

        yield start


@pytest.fixture
async def service(start_service: Callable[..., Awaitable[Service]]) -> Service:
    return await start_service()


@pytest.fixture
async def js(core_env: dict[str, str]) -> AsyncIterator[JetStreamContext]:
    """A separate NATS client, to look at the streams as another service would."""
    nc = await asyncio.wait_for(
        nats.connect(core_env["NATS_URL"], max_reconnect_attempts=-1, reconnect_time_wait=0.2),
        10,
    )
    try:
        yield nc.jetstream(timeout=5)
    finally:
        await asyncio.wait_for(nc.close(), 10)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


class Streams:
    """The bus as another service sees it: last messages, counts, and publishing replies."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def count(self, stream: str = "INBOUND") -> int:
        info = await asyncio.wait_for(self.js.stream_info(stream), 10)
        return int(info.state.messages)

    async def last(self, stream: str, subject: str, timeout: float = 15) -> RawStreamMsg:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    return await self.js.get_last_msg(stream, subject)
                except nats.js.errors.NotFoundError:
                    await asyncio.sleep(0.1)

    async def inbound(self, channel: str, account: str) -> tuple[InboundMessage, RawStreamMsg]:
        msg = await self.last("INBOUND", subjects.inbound(channel, account))
        return InboundMessage.from_json(msg.data or b""), msg

    async def reply(self, reply: OutboundReply) -> None:
        await self.js.publish(
            subjects.outbound(reply.channel, reply.account),
            reply.to_json(),
            headers={"Nats-Msg-Id": f"reply:{reply.id}"},
            timeout=5,
        )

    async def report(self, channel: str, account: str) -> DeliveryReport:
        msg = await self.last("ROUTED", subjects.delivery(channel, account))
        return DeliveryReport.from_json(msg.data or b"")


@pytest.fixture
def streams(js: JetStreamContext) -> Streams:
    return Streams(js)


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        return await resp.json()


async def post_json(http: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with http.post(url, json=body) as resp:
        return await resp.json()


@pytest.fixture
def sim_get() -> Callable[[aiohttp.ClientSession, str], Awaitable[Any]]:
    """`await sim_get(http, url)`: a simulator helper's JSON answer."""
    return get_json


@pytest.fixture
def sim_post() -> Callable[[aiohttp.ClientSession, str, Any], Awaitable[Any]]:
    """`await sim_post(http, url, body)`: a simulator helper's JSON answer."""
    return post_json
