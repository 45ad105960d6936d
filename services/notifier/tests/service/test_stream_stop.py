"""On SIGTERM (the app shutting down) the notifier ends every open event stream itself, at
once, instead of holding the stop until a keep-alive: clients see the stream end and resume
by Last-Event-ID."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from inbox_core.testing.http import serve
from inbox_notifier.app import create_app
from inbox_notifier.settings import NotifierSettings

from .conftest import auth

STREAMS = 6


async def _read_to_end(resp: aiohttp.ClientResponse) -> str:
    try:
        while await resp.content.readline():
            pass
    except aiohttp.ClientError as err:  # cut by the server instead of ended
        return repr(err)
    return "ended"


async def test_shutdown_ends_every_open_event_stream(
    notifier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Longer than the server waits for handlers on shutdown: a stream that waits for its
    # keep-alive is cut when that wait runs out.
    monkeypatch.setenv("INBOX_SSE_KEEPALIVE_S", "60")
    async with aiohttp.ClientSession() as http:
        server = serve(create_app(NotifierSettings()))
        url = await server.__aenter__()
        try:
            streams = []
            for _ in range(STREAMS):
                resp = await asyncio.wait_for(
                    http.get(f"{url}/api/events", headers={**auth(), "Last-Event-ID": "0"}), 10
                )
                assert (await asyncio.wait_for(resp.content.readline(), 10)).startswith(b"retry")
                streams.append(resp)
            readers = [asyncio.ensure_future(_read_to_end(r)) for r in streams]
        finally:
            await server.__aexit__(None, None, None)  # what SIGTERM does in web.run_app
        outcomes = await asyncio.wait_for(asyncio.gather(*readers), 10)
        assert outcomes == ["ended"] * STREAMS
        for resp in streams:
            resp.release()
