"""Naver TalkTalk runs the shared conformance suite (inbox_core.testing.conformance)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from inbox_core.connector import Channel
from inbox_core.errors import PermanentError
from inbox_core.schema import Customer, OutboundReply
from inbox_core.testing.conformance import (
    ChannelSpec,
    Exempt,
    SendError,
    SendFault,
    SendPlatform,
    channel_conformance,
    webhook_normalise,
)
from inbox_core.testing.http import serve
from inbox_ingest_social.channels.naver_talktalk import NaverTalkTalk, TalkTalkConfig
from inbox_ingest_social.simulators.naver_talktalk import create_app

TOKEN = "ct_wc8b1i_Pb1AXDQ0RZWuCccpzdNL"
USER = "al-2eGuGr5WQOnco1_V-FQ"
FAULTS: dict[SendFault, dict[str, Any]] = {
    SendFault.RATE_LIMITED: {"status": 429, "retry_after": 7},
    SendFault.SERVER_ERROR: {"status": 500},
    SendFault.UNAVAILABLE: {"status": 503},
    SendFault.REFUSED: {"status": 400},
    SendFault.CREDENTIALS_REFUSED: {"status": 401},
}


def _result_code(code: str) -> Any:
    """TalkTalk refuses with HTTP 200 and `success: false` plus a resultCode (§4)."""

    async def program(platform: SendPlatform, http: aiohttp.ClientSession) -> None:
        spec = {"resultCode": code, "resultMessage": "simulated", "count": 5}
        async with http.post(f"{platform.url}/_sim/fail", json=spec) as resp:
            assert resp.status == 200

    return program


RESULT_CODES = {
    "result_01_key": SendError(_result_code("01"), PermanentError),
    "result_02_unreadable": SendError(_result_code("02"), PermanentError),
    "result_99_other": SendError(_result_code("99"), PermanentError),
}


@asynccontextmanager
async def talktalk_platform() -> AsyncIterator[SendPlatform]:
    async with serve(create_app(TOKEN, echo=False)) as url:

        def channel_at(base: str) -> Channel:
            config = TalkTalkConfig(token=TOKEN, url=f"{base}/chatbot/v1/event")
            return NaverTalkTalk("talktalk", config)

        async def fail(fault: SendFault, http: aiohttp.ClientSession) -> None:
            async with http.post(f"{url}/_sim/fail", json={**FAULTS[fault], "count": 5}) as resp:
                assert resp.status == 200

        reply = OutboundReply(
            conversation_id="conv-9",
            channel="naver_talktalk",
            account="talktalk",
            customer=Customer(id=USER),
            text="교환 접수 완료되었습니다.",
            agent="지수",
        )
        yield SendPlatform(url, channel_at, reply, fail)


TestNaverTalktalkConformance = channel_conformance(
    ChannelSpec(
        name="naver_talktalk",
        fixtures=Path(__file__).parents[1] / "fixtures" / "naver_talktalk",
        normalise=webhook_normalise(NaverTalkTalk("talktalk", TalkTalkConfig(token="ct_x"))),
        verify=Exempt(
            "TalkTalk signs nothing (naver-talktalk.md §2): the source-address allow-list "
            "(NAVER_TALKTALK_ALLOWED_IPS) guards the webhook, tested in test_webhook_guard"
        ),
        send=talktalk_platform,
        poll=Exempt("TalkTalk pushes events; there is nothing to poll"),
        send_errors=RESULT_CODES,
    )
)
