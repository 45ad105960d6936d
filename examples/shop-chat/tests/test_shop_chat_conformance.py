"""Shop Chat runs the shared conformance suite (inbox_core.testing.conformance), from its
own tests folder, like every channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from inbox_core.connector import Channel
from inbox_core.schema import Customer, OutboundReply
from inbox_core.testing.conformance import (
    ChannelSpec,
    Exempt,
    SendFault,
    SendPlatform,
    Verify,
    channel_conformance,
    webhook_normalise,
)
from inbox_core.testing.http import serve
from inbox_example_shop_chat.channel import SIGNATURE_HEADER, ShopChat, ShopChatConfig, signature
from inbox_example_shop_chat.simulator import create_app

SECRET = "shop-chat-secret"
TOKEN = "shop-chat-token"
STATUS = {
    SendFault.RATE_LIMITED: 429,
    SendFault.SERVER_ERROR: 500,
    SendFault.UNAVAILABLE: 503,
    SendFault.REFUSED: 400,
    SendFault.CREDENTIALS_REFUSED: 401,
}


@asynccontextmanager
async def shop_chat_platform() -> AsyncIterator[SendPlatform]:
    async with serve(create_app("http://127.0.0.1:9/unused", SECRET, TOKEN)) as url:

        def channel_at(base: str) -> Channel:
            return ShopChat("shop-1", ShopChatConfig(secret=SECRET, token=TOKEN, url=base))

        async def fail(fault: SendFault, http: aiohttp.ClientSession) -> None:
            spec = {"status": STATUS[fault], "retry_after": 7, "count": 5}
            async with http.post(f"{url}/_sim/fail", json=spec) as resp:
                assert resp.status == 200

        reply = OutboundReply(
            conversation_id="conv-1",
            channel="shop_chat",
            account="shop-1",
            customer=Customer(id="u-77"),
            text="내일 도착 예정입니다.",
            agent="지수",
        )
        yield SendPlatform(url, channel_at, reply, fail)


TestShopChatConformance = channel_conformance(
    ChannelSpec(
        name="shop_chat",
        fixtures=Path(__file__).parent / "fixtures" / "shop_chat",
        normalise=webhook_normalise(ShopChat("*", ShopChatConfig())),
        verify=Verify(
            ShopChat("*", ShopChatConfig(secret=SECRET)),
            lambda body: {SIGNATURE_HEADER: signature(body, SECRET)},
        ),
        send=shop_chat_platform,
        poll=Exempt("Shop Chat pushes events; there is nothing to poll"),
    )
)
