"""TalkTalk replies through the send API, against the simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from inbox_core.embedded import free_port
from inbox_core.errors import PermanentError, TransientError
from inbox_core.schema import Attachment, Customer, OutboundReply
from inbox_core.testing.http import simulator
from inbox_ingest_social.channels.naver_talktalk import NaverTalkTalk, TalkTalkConfig
from inbox_ingest_social.echo_ledger import sent_key
from inbox_ingest_social.simulators.naver_talktalk import create_app

TOKEN = "ct_wc8b1i_Pb1AXDQ0RZWuCccpzdNL"
USER = "al-2eGuGr5WQOnco1_V-FQ"


@pytest.fixture
async def sim() -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with simulator(create_app(TOKEN)) as running:
        yield running


def _channel(url: str, token: str | None = TOKEN, ledger: Any = None) -> NaverTalkTalk:
    config = TalkTalkConfig(token=token, url=f"{url}/chatbot/v1/event")
    return NaverTalkTalk("talktalk", config, ledger=ledger)


def _reply(
    text: str = "교환 접수 완료되었습니다. 택배 기사님이 2일 내 방문합니다.", **kw: Any
) -> OutboundReply:
    return OutboundReply(
        conversation_id="conv-9",
        channel="naver_talktalk",
        account=kw.pop("account", "talktalk"),
        customer=Customer(id=kw.pop("user", USER)),
        text=text,
        agent="지수",
    )


async def _sent(url: str, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get(f"{url}/_sim/sent") as resp:
        return list((await resp.json())["messages"])


async def _fail_next(url: str, http: aiohttp.ClientSession, **spec: Any) -> None:
    async with http.post(f"{url}/_sim/fail", json=spec) as resp:
        assert resp.status == 200


async def test_reply_reaches_the_send_api(sim: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = sim
    reply = _reply()
    result = await _channel(url).send(reply, http)
    [sent] = await _sent(url, http)
    assert sent["user"] == USER and sent["content"] == {"textContent": {"text": reply.text}}
    assert sent["options"] == {"notification": True}
    assert result.external_id is None  # TalkTalk gives no message id


RESULT_CODES = {
    "wrong_key_01": ({"token": "ct_expired"}, None, "TalkTalk error 01"),
    "other_99": ({}, {"resultCode": "99", "resultMessage": "차단된 사용자"}, "차단된 사용자"),
    "image_03": ({}, {"resultCode": "IMG-03", "resultMessage": "사이즈 초과"}, "IMG-03"),
    "bad_request_http_400": ({}, {"status": 400}, "HTTP 400"),
}


@pytest.mark.parametrize(
    ("channel_kw", "failure", "text"), RESULT_CODES.values(), ids=RESULT_CODES.keys()
)
async def test_refusals_are_permanent_with_the_result_code(
    channel_kw: dict[str, str],
    failure: dict[str, Any] | None,
    text: str,
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    if failure:
        await _fail_next(url, http, **failure)
    with pytest.raises(PermanentError, match=text) as err:
        await _channel(url, **channel_kw).send(_reply(), http)
    assert "ct_expired" not in str(err.value)
    assert await _sent(url, http) == []


@pytest.mark.parametrize("status", [429, 503], ids=["rate_limited", "unavailable"])
async def test_rate_limit_and_outage_are_retried_with_retry_after(
    status: int, sim: tuple[str, aiohttp.ClientSession]
) -> None:
    url, http = sim
    await _fail_next(url, http, status=status, retry_after=7)
    with pytest.raises(TransientError, match=f"HTTP {status}") as err:
        await _channel(url).send(_reply(), http)
    assert err.value.retry_after == 7.0  # the SDK naks with this delay
    await _channel(url).send(_reply(), http)
    assert len(await _sent(url, http)) == 1


async def test_unreachable_send_api_is_transient_and_hides_the_token() -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TransientError) as err:
            await _channel(f"http://127.0.0.1:{free_port()}").send(_reply(), http)
    assert TOKEN not in str(err.value)


LOCAL_REFUSALS = {
    "no_token": ({"token": None}, {}, "NAVER_TALKTALK_TOKEN"),
    "other_account": ({}, {"account": "othershop"}, "NAVER_TALKTALK_ACCOUNT"),
    "over_10000_chars": ({}, {"text": "가" * 10_001}, "at most 10000"),
    "not_a_talktalk_user": ({}, {"user": "mail:kim@example.com"}, "TalkTalk user id"),
}


@pytest.mark.parametrize(
    ("channel_kw", "reply_kw", "text"), LOCAL_REFUSALS.values(), ids=LOCAL_REFUSALS.keys()
)
async def test_replies_talktalk_cannot_take_are_refused_with_a_reason(
    channel_kw: dict[str, Any],
    reply_kw: dict[str, str],
    text: str,
    sim: tuple[str, aiohttp.ClientSession],
) -> None:
    url, http = sim
    reply_text = reply_kw.pop("text", "안녕하세요")
    with pytest.raises(PermanentError, match=text):
        await _channel(url, **channel_kw).send(_reply(reply_text, **reply_kw), http)
    assert await _sent(url, http) == []


class RecordingLedger:
    """Notes replies, and how many messages the platform had received at that moment."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url, http
        self.notes: list[tuple[str, str, int]] = []

    async def remember(self, reply_id: str, key: str) -> None:
        self.notes.append((reply_id, key, len(await _sent(self.url, self.http))))


async def test_reply_is_noted_before_it_is_sent(sim: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = sim
    ledger = RecordingLedger(url, http)
    reply = _reply()
    await _channel(url, ledger=ledger).send(reply, http)
    # noted while the platform had nothing: an echo arriving before our answer is recognised
    assert ledger.notes == [(reply.id, sent_key("naver_talktalk", "talktalk", USER, reply.text), 0)]
    assert len(await _sent(url, http)) == 1


@pytest.fixture
async def image_host() -> AsyncIterator[str]:
    """Where the notifier's public file links would point: a PNG and a program."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

    async def serve(request: web.Request) -> web.Response:
        if request.match_info["name"] == "size.png":
            return web.Response(body=png, content_type="image/png")
        return web.Response(body=b"MZ\x90\x00", content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/files/{name}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_reply_image_goes_as_image_content_that_talktalk_downloads(
    sim: tuple[str, aiohttp.ClientSession], image_host: str
) -> None:
    url, http = sim
    link = f"{image_host}/files/size.png"
    reply = _reply("사이즈표 보내드립니다.").model_copy(
        update={
            "attachments": [
                Attachment(name="사이즈표.png", content_type="image/png", size=264, url=link)
            ]
        }
    )
    await _channel(url).send(reply, http)
    text, image = await _sent(url, http)
    assert text["content"] == {"textContent": {"text": reply.text}}
    assert image["content"] == {"imageContent": {"imageUrl": link}}
    async with http.get(f"{url}/_sim/images") as resp:
        [fetched] = (await resp.json())["images"]
    assert fetched["url"] == link and fetched["content_type"] == "image/png"


async def test_reply_file_talktalk_cannot_show_is_refused_with_img_01(
    sim: tuple[str, aiohttp.ClientSession], image_host: str
) -> None:
    url, http = sim
    reply = _reply("파일").model_copy(
        update={
            "attachments": [
                Attachment(name="a.png", content_type="image/png", url=f"{image_host}/files/a.exe")
            ]
        }
    )
    with pytest.raises(PermanentError, match="IMG-01"):
        await _channel(url).send(reply, http)
