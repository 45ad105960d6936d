"""Replies through the Send API, against the Meta simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from inbox_core.embedded import free_port
from inbox_core.errors import PermanentError, TransientError
from inbox_core.schema import Attachment, Customer, OutboundReply
from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig
from inbox_ingest_social.channels.meta_graph import graph_error
from inbox_ingest_social.simulators.meta import create_app

TOKEN = "EAAGm0PX4ZCpsBAsimulatedpagetoken"
PAGE = "104857600123456"
PSID = "6543210987654321"
NOW = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture
async def sim() -> AsyncIterator[str]:
    server = TestServer(create_app("app-secret", TOKEN), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


def _reply(
    text: str = "주문하신 니트는 오늘 오후 5시에 출고됩니다.", **context: Any
) -> OutboundReply:
    return OutboundReply(
        conversation_id="conv-42",
        channel="facebook",
        account=PAGE,
        customer=Customer(id=PSID),
        text=text,
        agent="민지",
        context=context,
    )


def _facebook(sim: str, token: str = TOKEN) -> Facebook:
    return Facebook(PAGE, MetaConfig(page_token=token, graph_url=f"{sim}/v21.0"), clock=lambda: NOW)


async def _sent(sim: str, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get(f"{sim}/_sim/sent") as resp:
        return list((await resp.json())["messages"])


async def _fail_next(sim: str, http: aiohttp.ClientSession, **spec: Any) -> None:
    async with http.post(f"{sim}/_sim/fail", json=spec) as resp:
        assert resp.status == 200


async def test_reply_reaches_send_api_as_response(sim: str, http: aiohttp.ClientSession) -> None:
    reply = _reply(last_customer_message_at=(NOW - timedelta(hours=2)).isoformat())
    result = await _facebook(sim).send(reply, http)
    [sent] = await _sent(sim, http)
    assert result.external_id == sent["message_id"]
    assert sent["node"] == PAGE and sent["recipient_id"] == PSID
    assert sent["messaging_type"] == "RESPONSE" and sent["tag"] is None
    assert sent["message"] == {"text": reply.text, "metadata": f"inbox:{reply.id}"}


async def test_instagram_reply_goes_through_me(sim: str, http: aiohttp.ClientSession) -> None:
    channel = Instagram("17841400123456789", MetaConfig(page_token=TOKEN, graph_url=f"{sim}/v21.0"))
    await channel.send(_reply("네, 재입고 예정입니다."), http)
    [sent] = await _sent(sim, http)
    assert sent["node"] == "me" and sent["message"]["text"] == "네, 재입고 예정입니다."


@pytest.mark.parametrize(
    ("ago", "sent_as"),
    [
        (timedelta(hours=23, minutes=59), ("RESPONSE", None)),
        (timedelta(hours=25), ("MESSAGE_TAG", "HUMAN_AGENT")),
        (timedelta(days=3), ("MESSAGE_TAG", "HUMAN_AGENT")),
        (timedelta(days=6, hours=23), ("MESSAGE_TAG", "HUMAN_AGENT")),
    ],
    ids=["inside-24h", "just-after-24h", "3-days", "almost-7-days"],
)
async def test_the_connector_picks_the_message_type_from_the_customer_s_last_message(
    ago: timedelta, sent_as: tuple[str, str | None], sim: str, http: aiohttp.ClientSession
) -> None:
    reply = _reply(last_customer_message_at=(NOW - ago).isoformat())  # nothing else asked
    await _facebook(sim).send(reply, http)
    [sent] = await _sent(sim, http)
    assert (sent["messaging_type"], sent["tag"]) == sent_as


async def test_after_7_days_the_reply_is_refused_with_meta_s_rule(
    sim: str, http: aiohttp.ClientSession
) -> None:
    reply = _reply(last_customer_message_at=NOW - timedelta(days=8))
    with pytest.raises(PermanentError, match="HUMAN_AGENT tag for 7 days") as err:
        await _facebook(sim).send(reply, http)
    assert "8.0 days ago" in str(err.value)
    assert await _sent(sim, http) == []


@pytest.mark.parametrize(
    ("length", "accepted"), [(2000, True), (2001, False)], ids=["2000_chars", "2001_chars"]
)
async def test_text_length_limit(
    length: int, accepted: bool, sim: str, http: aiohttp.ClientSession
) -> None:
    reply = _reply("가" * length)
    if accepted:
        await _facebook(sim).send(reply, http)
    else:
        with pytest.raises(PermanentError, match="at most 2000"):
            await _facebook(sim).send(reply, http)
    assert len(await _sent(sim, http)) == (1 if accepted else 0)


async def test_rejected_token_is_permanent_with_graph_message(
    sim: str, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError, match=r"190.*Invalid OAuth access token") as err:
        await _facebook(sim, token="expired-token").send(_reply(), http)
    assert "expired-token" not in str(err.value)


GRAPH_ERRORS = {
    "rate_limit_613": (400, 613, TransientError),
    "app_limit_4": (400, 4, TransientError),
    "page_limit_32": (400, 32, TransientError),
    "user_unavailable_551": (400, 551, PermanentError),
    "permission_10": (403, 10, PermanentError),
    "permission_200": (403, 200, PermanentError),
    "server_error_2": (500, 2, TransientError),
    "too_many_requests": (429, 9999, TransientError),
    "unknown_4xx": (400, 12345, PermanentError),
}


@pytest.mark.parametrize(("status", "code", "kind"), GRAPH_ERRORS.values(), ids=GRAPH_ERRORS.keys())
async def test_graph_errors_map_to_retry_or_give_up(
    status: int, code: int, kind: type[Exception], sim: str, http: aiohttp.ClientSession
) -> None:
    message = f"(#{code}) 시뮬레이터 오류"
    await _fail_next(sim, http, status=status, code=code, message=message)
    with pytest.raises(kind) as err:
        await _facebook(sim).send(_reply(), http)
    assert type(err.value) is kind
    assert message in str(err.value)
    # The failure was one-shot: the next attempt goes through.
    assert (await _facebook(sim).send(_reply(), http)).external_id


async def test_unreachable_send_api_is_transient_and_hides_the_token(
    http: aiohttp.ClientSession,
) -> None:
    channel = _facebook(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientError) as err:
        await channel.send(_reply(), http)
    assert TOKEN not in str(err.value)


async def test_missing_page_token_is_permanent(http: aiohttp.ClientSession) -> None:
    channel = Facebook(PAGE, MetaConfig(page_token=None))
    with pytest.raises(PermanentError, match="FACEBOOK_PAGE_TOKEN"):
        await channel.send(_reply(), http)


NON_JSON = {
    "bad_gateway_html": (502, None, TransientError),
    "bad_request_html": (400, None, PermanentError),
    "transient_flag": (
        400,
        {"error": {"code": 9, "is_transient": True, "message": "x"}},
        TransientError,
    ),
}


@pytest.mark.parametrize(("status", "body", "kind"), NON_JSON.values(), ids=NON_JSON.keys())
def test_graph_error_table_without_known_code(
    status: int, body: dict[str, Any] | None, kind: type[Exception]
) -> None:
    assert type(graph_error(status, body)) is kind


async def test_reply_files_go_through_the_attachment_upload_then_the_send_api(
    sim: str, http: aiohttp.ClientSession
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    pdf = b"%PDF-1.4\n" + bytes(64)
    blobs = {
        "gridfs:png": (png, "사이즈표.png", "image/png"),
        "gridfs:pdf": (pdf, "교환신청서.pdf", "application/pdf"),
    }

    async def read(ref: str) -> tuple[bytes, str, str]:
        return blobs[ref]

    reply = _reply(
        "사이즈표와 신청서 보내드립니다.",
        last_customer_message_at=(NOW - timedelta(hours=1)).isoformat(),
    ).model_copy(
        update={
            "attachments": [
                Attachment(name=n, content_type=t, size=len(d), ref=ref)
                for ref, (d, n, t) in blobs.items()
            ]
        }
    )
    channel = _facebook(sim)
    channel.blob_reader = read
    result = await channel.send(reply, http)
    async with http.get(f"{sim}/_sim/attachments") as resp:
        uploads = (await resp.json())["attachments"]
    assert sorted((u["name"], u["type"], u["size"]) for u in uploads.values()) == [
        ("교환신청서.pdf", "file", len(pdf)),
        ("사이즈표.png", "image", len(png)),
    ]
    text, *files = await _sent(sim, http)
    assert result.external_id == text["message_id"] and text["message"]["text"] == reply.text
    assert [f["message"]["attachment"]["type"] for f in files] == ["image", "file"]
    assert {f["message"]["attachment"]["payload"]["attachment_id"] for f in files} == set(uploads)
    assert all(f["recipient_id"] == PSID and f["messaging_type"] == "RESPONSE" for f in files)


async def test_send_api_refuses_an_attachment_id_it_never_issued(
    sim: str, http: aiohttp.ClientSession
) -> None:
    body = {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "image", "payload": {"attachment_id": "123"}}},
    }
    async with http.post(f"{sim}/v21.0/me/messages?access_token={TOKEN}", json=body) as resp:
        assert resp.status == 400
        assert "attachment_id" in (await resp.json())["error"]["message"]
