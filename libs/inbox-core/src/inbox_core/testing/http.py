"""Run an aiohttp app (a service, a platform simulator) on an ephemeral port inside a test,
and wait for bus messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from nats.aio.msg import Msg
from nats.js import JetStreamContext


@asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Start `app` (its cleanup_ctx included) on a free port; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=3)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    # aiohttp has no public accessor for the bound port of a port-0 site.
    sockets = getattr(site._server, "sockets", None)
    assert sockets
    port = sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=15)


@asynccontextmanager
async def simulator(
    app: web.Application, timeout_s: float = 10.0
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """Run a platform simulator on a free port, with a client session to call it: yields
    (base URL, session); both are closed on the way out."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with serve(app) as url, aiohttp.ClientSession(timeout=timeout) as http:
        yield url, http


async def collect(
    js: JetStreamContext, subject: str, count: int, timeout: float = 10.0
) -> list[Msg]:
    """Read `count` messages on `subject` from the start of its stream (ephemeral consumer)."""
    sub = await js.subscribe(subject, ordered_consumer=True)
    got: list[Msg] = []
    try:
        async with asyncio.timeout(timeout):
            while len(got) < count:
                got.append(await sub.next_msg(timeout=timeout))
    finally:
        await sub.unsubscribe()
    return got
