"""The 11st channel against its simulator over real HTTP: every charset the API is known to
answer in, in-band errors, the 7-day window, answers in EUC-KR and what cannot be sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from inbox_core.errors import AuthError, PermanentError, TransientError
from inbox_core.http import RetryPolicy
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.elevenst import BOARD_QNAS, Elevenst
from inbox_ingest_marketplace.simulators.common import FAULTS
from inbox_ingest_marketplace.simulators.elevenst import CHARSETS

KEY = "0123456789abcdef0123456789abcdef"
QNAS = BOARD_QNAS.name


def _channel(sim: Any, key: str = KEY, **options: Any) -> Elevenst:
    options.setdefault("retry", RetryPolicy(attempts=1))
    return Elevenst("11st", api_key=key, base_url=sim.base_url, options=PollOptions(**options))


def _reply(number: str, text: str, product: str | None = "48073872") -> OutboundReply:
    return OutboundReply(
        conversation_id="c-1",
        channel="elevenst",
        account="11st",
        customer=Customer(id="hong1234"),
        thread_keys=[f"elevenst:11st:qna:{number}"],
        text=text,
        agent="민지",
        context={} if product is None else {"product_id": product},
    )


@pytest.mark.parametrize("prefix", [True, False], ids=["ns2-prefix", "no-prefix"])
@pytest.mark.parametrize("charset", CHARSETS, ids=CHARSETS)
async def test_korean_text_survives_every_charset_11st_answers_in(
    start_elevenst_sim: Any, http: aiohttp.ClientSession, charset: str, prefix: bool
) -> None:
    sim = await start_elevenst_sim(charset=charset, prefix=prefix)
    sim.state.add_question(content="똠양꿍 맛 과자도 들어오나요? 270 사이즈 있나요?")

    page = await _channel(sim).poll(QNAS, None, http, datetime.now(UTC))

    (message,) = page.messages
    assert message.text == "똠양꿍 맛 과자도 들어오나요? 270 사이즈 있나요?"
    assert message.customer.name == "홍길동" and message.context["product_name"] == "경량 러닝화"


async def test_unknown_key_is_an_auth_error_with_11st_s_message(
    elevenst: Any, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(AuthError, match="OpenAPI Key"):
        await _channel(elevenst, key="wrong-key").poll(QNAS, None, http, datetime.now(UTC))


async def test_nothing_found_is_an_empty_page(elevenst: Any, http: aiohttp.ClientSession) -> None:
    page = await _channel(elevenst).poll(QNAS, None, http, datetime.now(UTC))

    assert page.messages == [] and not page.more


async def test_long_backfill_is_read_in_windows_of_at_most_7_days(
    elevenst: Any, http: aiohttp.ClientSession
) -> None:
    now = datetime.now(UTC)
    old = elevenst.state.add_question(
        content="작년 겨울 모델 있나요?", created=now - timedelta(days=9)
    )
    new = elevenst.state.add_question(
        content="오늘 출고되나요?", created=now - timedelta(minutes=3)
    )
    channel = _channel(elevenst, backfill=timedelta(days=10))
    cursor, seen, more = None, [], True

    while more:
        page = await channel.poll(QNAS, cursor, http, now)
        cursor, more = page.cursor, page.more
        seen += [m.context["question_id"] for m in page.messages]

    assert seen == [old["brdInfoNo"], new["brdInfoNo"]]
    for call in elevenst.state.requests:
        start, end = call.split("/")[4:6]
        span = datetime.strptime(end, "%Y%m%d") - datetime.strptime(start, "%Y%m%d")
        assert span <= timedelta(days=7)


async def test_answer_is_sent_as_euc_kr_xml_and_stored(
    elevenst: Any, http: aiohttp.ClientSession
) -> None:
    asked = elevenst.state.add_question(content="평소 270 신는데 어떤 사이즈가 맞을까요?")
    text = "정사이즈로 나왔습니다 <270> 주문하시면 됩니다.\n똠양꿍 맛은 다음 주 입고!"

    result = await _channel(elevenst).send(_reply(asked["brdInfoNo"], text), http)

    stored = elevenst.state.qnas[int(asked["brdInfoNo"])]
    assert stored["answerCont"] == text and stored["answerYn"] == "Y"
    (body,) = elevenst.state.answer_bodies
    assert body.startswith(b'<?xml version="1.0" encoding="euc-kr"?>')
    assert "똠양꿍" in body.decode("cp949")
    assert result.external_id is not None and result.external_id.startswith("qna:")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (_reply("4881274", "감사합니다 😊"), "EUC-KR"),
        (_reply("4881274", "감사합니다", product=None), "product number"),
    ],
    ids=["emoji", "no-product-number"],
)
async def test_answer_11st_cannot_take_is_refused_before_any_call(
    elevenst: Any, http: aiohttp.ClientSession, reply: OutboundReply, reason: str
) -> None:
    elevenst.state.add_question(content="사이즈 문의")

    with pytest.raises(PermanentError, match=reason):
        await _channel(elevenst).send(reply, http)

    assert not any(r.startswith("PUT") for r in elevenst.state.requests)


async def test_answer_to_the_wrong_product_is_permanent_with_11st_s_message(
    elevenst: Any, http: aiohttp.ClientSession
) -> None:
    asked = elevenst.state.add_question(content="사이즈 문의")

    with pytest.raises(PermanentError, match="상품번호가 일치하지 않습니다"):
        await _channel(elevenst).send(_reply(asked["brdInfoNo"], "네", product="1"), http)


async def test_server_error_is_transient(elevenst: Any, http: aiohttp.ClientSession) -> None:
    elevenst.app[FAULTS].add(503, times=1, match="prodqnalist", retry_after=30)

    with pytest.raises(TransientError, match="HTTP 503") as caught:
        await _channel(elevenst).poll(QNAS, None, http, datetime.now(UTC))

    assert caught.value.retry_after == 30
