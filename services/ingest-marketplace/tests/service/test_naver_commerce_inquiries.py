"""SmartStore customer inquiries (고객문의) against the simulator over real HTTP: the list's
documented shape and limits, KST calendar-day windows, answers and edits, 429 retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from inbox_core.errors import PermanentError
from inbox_core.http import RetryPolicy
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_marketplace.channels.board import KST
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.naver_commerce import BOARD_INQUIRIES, NaverCommerce
from inbox_ingest_marketplace.simulators.common import FAULTS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "naver_commerce"
INQUIRIES = BOARD_INQUIRIES.name


def _channel(sim: Any, creds: Any, **options: Any) -> NaverCommerce:
    return NaverCommerce(
        "smartstore",
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        base_url=sim.base_url,
        options=PollOptions(**options),
    )


async def _get(http: aiohttp.ClientSession, sim: Any, channel: NaverCommerce, **params: str) -> Any:
    token = await channel.access_token(http)
    async with http.get(
        f"{sim.base_url}/v1/pay-user/inquiries",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, await resp.json()


async def test_inquiry_list_has_the_documented_shape(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    documented = orjson.loads(
        (FIXTURES / "responses" / "inquiries_page_documented.json").read_bytes()
    )
    naver_sim.state.add_inquiry(content="11월 18일 주문했는데 아직 발송 전인가요?")
    today = datetime.now(KST).date().isoformat()

    status, body = await _get(
        http,
        naver_sim,
        _channel(naver_sim, naver_credentials),
        startSearchDate=today,
        endSearchDate=today,
        size="10",
    )

    assert status == 200
    assert set(documented) <= set(body)
    assert set(documented["content"][0]) <= set(body["content"][0])
    assert body["number"] == 0 and body["last"] is True


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"startSearchDate": "2025-01-01", "endSearchDate": "2026-11-20"}, "4003"),
        ({"startSearchDate": "2026-11-20", "endSearchDate": "2026-11-19"}, "4002"),
        ({"size": "9"}, "4006"),
        ({"size": "201"}, "4007"),
        ({"startSearchDate": "2026-11-20T00:00:00"}, "4001"),
    ],
    ids=["over-365-days", "start-after-end", "size-under-10", "size-over-200", "not-a-date"],
)
async def test_inquiry_list_refuses_what_naver_refuses(
    naver_sim: Any,
    naver_credentials: Any,
    http: aiohttp.ClientSession,
    params: dict[str, str],
    code: str,
) -> None:
    query = {"startSearchDate": "2026-11-19", "endSearchDate": "2026-11-20", "size": "10", **params}

    status, body = await _get(http, naver_sim, _channel(naver_sim, naver_credentials), **query)

    assert status == 400 and body["code"] == code and "traceId" in body


async def test_poll_asks_kst_days_and_reads_every_page(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    now = datetime.now(UTC)
    for i in range(230):
        naver_sim.state.add_inquiry(
            content=f"{i}번째 배송 문의", registered=now - timedelta(minutes=i)
        )
    channel = _channel(naver_sim, naver_credentials, backfill=timedelta(days=1))
    cursor, seen, more = None, [], True

    while more:
        page = await channel.poll(INQUIRIES, cursor, http, now)
        cursor, more = page.cursor, page.more
        seen += [m.context["question_id"] for m in page.messages]

    assert len(seen) == len(set(seen)) == 230
    calls = [r for r in naver_sim.state.requests if "/pay-user/inquiries?" in r]
    assert all("startSearchDate=" in c and "size=200" in c for c in calls)
    kst_today = now.astimezone(KST).date().isoformat()
    assert f"endSearchDate={kst_today}" in calls[0]
    assert any("page=2" in c for c in calls)


async def test_answer_posts_then_an_edit_puts_to_the_answer_id(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    inquiry = naver_sim.state.add_inquiry(content="이번 주말까지 받을 수 있을까요?")
    channel = _channel(naver_sim, naver_credentials)
    reply = OutboundReply(
        conversation_id="c-1",
        channel="naver_commerce",
        account="smartstore",
        customer=Customer(id="hong****"),
        thread_keys=[f"naver_commerce:smartstore:inquiry:{inquiry['inquiryNo']}"],
        text="오늘 출고 예정입니다.",
        agent="민지",
    )

    await channel.send(reply, http)
    answer_id = naver_sim.state.inquiries[inquiry["inquiryNo"]]["answerContentId"]
    edit = reply.model_copy(
        update={"text": "오늘 오후 출고되었습니다.", "context": {"edit_answer_id": answer_id}}
    )
    await channel.send(edit, http)

    stored = naver_sim.state.inquiries[inquiry["inquiryNo"]]
    assert stored["answered"] is True and stored["answerContent"] == "오늘 오후 출고되었습니다."
    assert stored["answerContentId"] == answer_id
    calls = [r for r in naver_sim.state.requests if "/pay-merchant/" in r]
    assert [c.split()[0] for c in calls] == ["POST", "PUT"]
    assert calls[1].endswith(f"/answer/{answer_id}")


async def test_edit_of_an_unknown_answer_is_permanent_with_the_platform_code(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    inquiry = naver_sim.state.add_inquiry(content="교환 가능한가요?")
    reply = OutboundReply(
        conversation_id="c-1",
        channel="naver_commerce",
        account="smartstore",
        customer=Customer(id="hong****"),
        thread_keys=[f"naver_commerce:smartstore:inquiry:{inquiry['inquiryNo']}"],
        text="네 가능합니다.",
        agent="민지",
        context={"edit_answer_id": 1},
    )

    with pytest.raises(PermanentError, match="4040"):
        await _channel(naver_sim, naver_credentials).send(reply, http)


async def test_rate_limited_call_is_retried_after_retry_after(
    naver_sim: Any, naver_credentials: Any, http: aiohttp.ClientSession
) -> None:
    naver_sim.state.add_inquiry(content="재입고 알림 받을 수 있나요?")
    naver_sim.app[FAULTS].add(429, times=1, match="/pay-user/inquiries", retry_after=0.05)
    channel = _channel(naver_sim, naver_credentials, retry=RetryPolicy(attempts=2))

    page = await channel.poll(INQUIRIES, None, http, datetime.now(UTC))

    assert [m.text for m in page.messages] == ["재입고 알림 받을 수 있나요?"]
    assert sum("/pay-user/inquiries?" in r for r in naver_sim.state.requests) == 2
