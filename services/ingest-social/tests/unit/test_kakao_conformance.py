"""Kakao runs the shared conformance suite (inbox_core.testing.conformance)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from inbox_core.connector import Channel
from inbox_core.embedded import free_port
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
from inbox_ingest_social.channels.kakao import SKILL_TOKEN_HEADER, Kakao, KakaoConfig
from inbox_ingest_social.channels.kakao_senders import ConsultTalkSender
from inbox_ingest_social.simulators.kakao import create_app

BOT = "5ae9b76d7409b11ec845b746"
USER_KEY = "T8x9DhjAiBrv"
TOKEN = "skill-token-상점-2025"
CLIENT_ID, SECRET, PROFILE_KEY = "ht-client", "ht-secret-토큰", "a" * 40
# The 상담톡 dealer answers its errors in its own body; the simulator's `status` and `code`.
FAULTS: dict[SendFault, dict[str, Any]] = {
    SendFault.RATE_LIMITED: {"status": 429, "code": "429"},
    SendFault.SERVER_ERROR: {"status": 500, "code": "500"},
    SendFault.UNAVAILABLE: {"status": 503, "code": "503"},
    SendFault.REFUSED: {"status": 400, "code": "400"},
    SendFault.CREDENTIALS_REFUSED: {"status": 401, "code": "401"},
}


@asynccontextmanager
async def kakao_platform() -> AsyncIterator[SendPlatform]:
    app = create_app(None, client_id=CLIENT_ID, client_secret=SECRET, sender_key=PROFILE_KEY)
    async with serve(app) as url, aiohttp.ClientSession() as admin:
        # The customer wrote first: the dealer has a session to answer in.
        spec = {"target": f"http://127.0.0.1:{free_port()}/nowhere", "utterance": "반품 문의"}
        async with admin.post(
            f"{url}/_sim/utter", json={**spec, "callback": True, "user_key": USER_KEY}
        ) as resp:
            assert resp.status == 200

        def channel_at(base: str) -> Channel:
            sender = ConsultTalkSender(
                url=f"{base}/v1/chat/write",
                client_id=CLIENT_ID,
                secret=SECRET,
                sender_key=PROFILE_KEY,
            )
            return Kakao(BOT, KakaoConfig(), sender=sender)

        async def fail(fault: SendFault, http: aiohttp.ClientSession) -> None:
            async with http.post(f"{url}/_sim/fail", json={**FAULTS[fault], "count": 5}) as resp:
                assert resp.status == 200

        reply = OutboundReply(
            conversation_id="conv-7",
            channel="kakao",
            account=BOT,
            customer=Customer(id=USER_KEY),
            text="반품 접수 도와드릴게요.",
            agent="민지",
        )
        # The dealer names no wait in its answers: the SDK's nak delay applies.
        yield SendPlatform(url, channel_at, reply, fail, honours_retry_after=False)


TestKakaoConformance = channel_conformance(
    ChannelSpec(
        name="kakao",
        fixtures=Path(__file__).parents[1] / "fixtures" / "kakao",
        normalise=webhook_normalise(Kakao("*", KakaoConfig())),
        verify=Verify(
            Kakao("*", KakaoConfig(skill_token=TOKEN)),
            sign=lambda body: {SKILL_TOKEN_HEADER: TOKEN},
            signs_body=False,  # a token set in the skill settings; Kakao signs nothing (§6)
            path="/webhooks/kakao",
        ),
        send=kakao_platform,
        poll=Exempt("Kakao pushes skill requests; there is nothing to poll"),
    )
)
