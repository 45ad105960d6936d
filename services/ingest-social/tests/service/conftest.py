"""The service on a real nats-server and Mongo-wire store (`core_env`), with the Meta
simulator as the Graph API. Everything listens on port 0 and is closed after the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import nats
import pytest
from aiohttp import web
from nats.js import JetStreamContext

from inbox_ingest_social.app import create_app
from inbox_ingest_social.settings import SocialSettings
from inbox_ingest_social.simulators import meta

APP_SECRET = "svc-app-secret-5b1d"
VERIFY_TOKEN = "svc-verify-token"
PAGE_TOKEN = "svc-page-token-EAAG"


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
async def start_service(
    core_env: dict[str, str], meta_sim: str
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
