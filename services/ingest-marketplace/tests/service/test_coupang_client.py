"""The Coupang channel against the WING simulator over real HTTP (no bus, no store): HMAC
auth, the list rules (7 days, uppercase, page sizes), replies, the 24-hour rule, 429."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from yarl import URL

from inbox_core.errors import AuthError, PermanentError
from inbox_core.http import RetryPolicy
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.coupang import (
    BOARD_CALL_CENTER,
    BOARD_ONLINE,
    ONLINE_LIST,
    Coupang,
)
from inbox_ingest_marketplace.channels.coupang_signing import authorization, build_query
from inbox_ingest_marketplace.simulators.common import FAULTS

VENDOR = "A00012345"
ONE_TRY = RetryPolicy(attempts=1)


def _channel(sim: Any, vendor: Any, **kwargs: Any) -> Coupang:
    return Coupang(
        kwargs.pop("account", vendor.vendor_id),
        access_key=kwargs.pop("access_key", vendor.access_key),
        secret_key=kwargs.pop("secret_key", vendor.secret_key),
        vendor_id=kwargs.pop("vendor_id", vendor.vendor_id),
        base_url=sim.base_url,
        options=kwargs.pop("options", PollOptions(retry=ONE_TRY)),
        **kwargs,
    )


def _reply(board_key: str, inquiry_id: Any, text: str, **context: Any) -> OutboundReply:
    return OutboundReply(
        conversation_id="c-1",
        channel="coupang",
        account=VENDOR,
        customer=Customer(id="aka***@na"),
        thread_keys=[f"coupang:{VENDOR}:{board_key}:{inquiry_id}"],
        text=text,
        agent="민지",
        context=context,
    )


async def _signed_get(
    http: aiohttp.ClientSession, sim: Any, vendor: Any, path: str, params: list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    query = build_query(params)
    auth = authorization(
        vendor.access_key, vendor.secret_key, "GET", path, query, datetime.now(UTC)
    )
    url = URL(f"{sim.base_url}{path}?{query}", encoded=True)
    async with http.get(url, headers={"Authorization": auth}) as resp:
        return resp.status, await resp.json()


async def test_signed_poll_reads_online_inquiries_with_their_answers(
    coupang: Any, coupang_vendors: list[Any], http: aiohttp.ClientSession
) -> None:
    now = datetime.now(UTC)
    asked = coupang.state.add_online(content="블랙 색상 언제 재입고 되나요?", order_ids=[1600])
    coupang.state.answer_online(asked["inquiryId"], "19일 입고 예정입니다.", "wingid01")
    coupang.state.add_online(content="다른 업체 문의", vendor_id="A00067890")

    page = await _channel(coupang, coupang_vendors[0]).poll(BOARD_ONLINE.name, None, http, now)

    assert [m.external_id for m in page.messages] == [
        f"online:{asked['inquiryId']}",
        page.messages[1].external_id,
    ]
    assert page.messages[1].flags.echo and page.messages[1].text == "19일 입고 예정입니다."
    assert page.messages[0].context["order_id"] == "1600"
    (call,) = coupang.state.requests
    assert "answeredType=ALL" in call and "pageSize=50" in call and f"vendorId={VENDOR}" in call


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret_key": "sk-wrong"}, "Invalid signature"),
        ({"access_key": "ak-unknown"}, "Invalid access key"),
        ({"vendor_id": "A00067890"}, "does not belong to this access key"),
        ({"now": lambda: datetime.now(UTC) - timedelta(minutes=6)}, "expired"),
    ],
    ids=["wrong-secret", "unknown-access-key", "other-vendor", "stale-signed-date"],
)
async def test_refused_credentials_are_an_auth_error_with_coupang_s_message(
    coupang: Any,
    coupang_vendors: list[Any],
    http: aiohttp.ClientSession,
    change: dict[str, Any],
    message: str,
) -> None:
    channel = _channel(coupang, coupang_vendors[0], **change)

    with pytest.raises(AuthError, match=message):
        await channel.poll(BOARD_ONLINE.name, None, http, datetime.now(UTC))


def _params(**changes: str | None) -> list[tuple[str, str]]:
    base = {
        "vendorId": VENDOR,
        "answeredType": "ALL",
        "inquiryStartAt": "2026-11-14",
        "inquiryEndAt": "2026-11-20",
        "pageNum": "1",
        "pageSize": "10",
    }
    base.update(changes)
    return [(k, v) for k, v in base.items() if v is not None]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (_params(answeredType="all"), "answeredType"),
        (_params(inquiryStartAt="2026-11-20"), "same day"),
        (_params(inquiryStartAt="2026-11-12"), "at most 7 days"),
        (_params(pageSize="51"), "pageSize"),
        (_params(vendorId=None), "vendorId"),
    ],
    ids=["lowercase-answered-type", "one-single-day", "eight-days", "page-size-51", "no-vendor-id"],
)
async def test_online_list_refuses_what_coupang_refuses(
    coupang: Any,
    coupang_vendors: list[Any],
    http: aiohttp.ClientSession,
    params: list[tuple[str, str]],
    message: str,
) -> None:
    path = ONLINE_LIST.format(vendor=VENDOR)

    status, body = await _signed_get(http, coupang, coupang_vendors[0], path, params)

    assert status == 400 and body["code"] == 400 and message in body["message"]


@pytest.mark.parametrize(
    ("style", "sent"),
    [("upper", ["NONE"]), ("lower", ["NONE", "none"]), ("both", ["NONE"])],
    ids=["upper-only", "lower-only", "both"],
)
async def test_call_center_status_spelling_is_found_once(
    start_coupang_sim: Callable[..., Any],
    coupang_vendors: list[Any],
    http: aiohttp.ClientSession,
    style: str,
    sent: list[str],
) -> None:
    sim = await start_coupang_sim(status_style=style)
    sim.state.add_call_center(content="배송 언제 되나요?")
    channel = _channel(sim, coupang_vendors[0])

    first = await channel.poll(BOARD_CALL_CENTER.name, None, http, datetime.now(UTC))
    await channel.poll(BOARD_CALL_CENTER.name, None, http, datetime.now(UTC))

    assert [m.text for m in first.messages] == ["배송 언제 되나요?"]
    statuses = [r.split("partnerCounselingStatus=")[1].split("&")[0] for r in sim.state.requests]
    assert statuses == [*sent, sent[-1]]


async def test_online_reply_is_posted_once_and_a_second_is_refused(
    coupang: Any, coupang_vendors: list[Any], http: aiohttp.ClientSession
) -> None:
    asked = coupang.state.add_online(content="270 신는데 275 주문하면 클까요?")
    channel = _channel(coupang, coupang_vendors[0], wing_id="shopa01")
    text = '안녕하세요\n정사이즈입니다.\t"270" 추천드려요 \\ 감사합니다.'

    await channel.send(_reply("online", asked["inquiryId"], text), http)
    with pytest.raises(PermanentError, match="already answered"):
        await channel.send(_reply("online", asked["inquiryId"], "한 번 더"), http)

    (comment,) = coupang.state.online[asked["inquiryId"]]["commentDtoList"]
    assert comment["content"] == text and comment["replyBy"] == "shopa01"


async def test_call_center_reply_carries_the_parent_answer_id(
    coupang: Any, coupang_vendors: list[Any], http: aiohttp.ClientSession
) -> None:
    asked = coupang.state.add_call_center(content="[통합이관] 재배송 요청")
    channel = _channel(coupang, coupang_vendors[0])

    await channel.send(
        _reply("callcenter", asked["inquiryId"], "오늘 재발송합니다.", parent_answer_id="77"), http
    )

    item = coupang.state.call_center[asked["inquiryId"]]
    assert item["partnerTransferStatus"] == "answered"
    assert [r["content"] for r in item["replies"]] == ["오늘 재발송합니다."]


async def test_call_center_closed_after_24_hours_is_confirmed_and_the_agent_told(
    coupang: Any, coupang_vendors: list[Any], http: aiohttp.ClientSession
) -> None:
    asked = coupang.state.add_call_center(
        content="[통합이관] 배송 지연 문의", inquiry_at=datetime.now(UTC) - timedelta(hours=25)
    )
    channel = _channel(coupang, coupang_vendors[0])

    with pytest.raises(PermanentError, match=r"closed call-center inquiry .*24 h.*confirmed"):
        await channel.send(_reply("callcenter", asked["inquiryId"], "늦어서 죄송합니다."), http)

    item = coupang.state.call_center[asked["inquiryId"]]
    assert item["confirmedBy"] == VENDOR and item["replies"] == []
    assert any(r.endswith("/confirms") for r in coupang.state.requests)


async def test_rate_limited_call_is_retried_after_retry_after(
    coupang: Any, coupang_vendors: list[Any], http: aiohttp.ClientSession
) -> None:
    coupang.state.add_online(content="재입고 되나요?")
    coupang.app[FAULTS].add(429, times=1, match="onlineInquiries", retry_after=0.05)
    channel = _channel(
        coupang, coupang_vendors[0], options=PollOptions(retry=RetryPolicy(attempts=2))
    )

    page = await channel.poll(BOARD_ONLINE.name, None, http, datetime.now(UTC))

    assert [m.text for m in page.messages] == ["재입고 되나요?"]
    assert len(coupang.state.requests) == 2
