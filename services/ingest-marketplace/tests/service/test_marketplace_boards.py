"""Every board of every platform, end to end: simulator → service → real NATS and store.

Each test runs once per board (`board` fixture: SmartStore product Q&A and customer
inquiries, Coupang online and call-center inquiries, 11st product Q&A)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inbox_core.errors import BusUnavailable
from inbox_core.schema import DeliveryStatus, Direction, InboundMessage, OutboundReply
from inbox_ingest_marketplace.app import CHANNELS
from inbox_ingest_marketplace.channels.board import KST, text_hash
from inbox_ingest_marketplace.simulators.common import FAULTS
from inbox_ingest_marketplace.testing import (
    STEP_TIMEOUT_S,
    cursor_state,
    decoded,
    delivery_report,
    inbound_messages,
    poll_all,
    publish_reply,
    received_count,
)

# Product context each board carries, so the agent sees what is asked about.
CONTEXT_KEYS = {
    "naver-qna": ("product_id", "product_name"),
    "naver-inquiry": ("order_id", "product_id", "product_name", "product_option"),
    "coupang-online": ("product_id", "vendor_item_id"),
    "coupang-callcenter": ("order_id", "vendor_item_id", "product_name"),
    "elevenst-qna": ("product_id", "product_name"),
}
# What each platform says when asked to answer a question it does not know.
UNKNOWN_QUESTION = {
    "naver-qna": "NOT_FOUND",
    "naver-inquiry": "4040",
    "coupang-online": "does not exist",
    "coupang-callcenter": "does not exist",
    "elevenst-qna": "찾을 수 없습니다",
}


def _env(board: Any, **extra: str) -> dict[str, str]:
    # The first poll runs at start; later ones only when a test asks (poll_all).
    return {**board.env(), "INBOX_MARKET_POLL_S": "3600", **extra}


async def _started(start_market: Any, board: Any, eventually: Any, **extra: str) -> Any:
    market = await start_market(**_env(board, **extra))
    runner = market.runner_for(board.channel)

    def first_poll_done() -> bool:
        status = runner.status.get(board.board)
        return status is not None and status.polls >= 1

    await eventually(first_poll_done, what=f"first poll of {board.board}")
    return market


async def _board_messages(market: Any, board: Any) -> list[InboundMessage]:
    msgs = decoded(await inbound_messages(market, board.channel, board.account))
    return [m for m in msgs if m.context.get("board") == board.key]


def _reply(question: InboundMessage, text: str, **fields: Any) -> OutboundReply:
    return OutboundReply(
        conversation_id=fields.pop("conversation_id", "conv-1"),
        channel=question.channel,
        account=question.account,
        customer=question.customer,
        thread_keys=fields.pop("thread_keys", question.thread_keys),
        in_reply_to=question.external_id,
        text=text,
        agent="민지",
        context=fields.pop("context", question.context),
    )


async def test_questions_arrive_once_with_product_context(
    board: Any, start_market: Any, eventually: Any
) -> None:
    older = board.add("지난주에 산 제품 사이즈 교환 되나요?", minutes_ago=180)
    newer = board.add("블랙 M 사이즈 언제 재입고 되나요?", minutes_ago=1)
    market = await _started(start_market, board, eventually)

    msgs = await _board_messages(market, board)

    assert sorted(m.external_id for m in msgs) == sorted(
        [f"{board.key}:{older}", f"{board.key}:{newer}"]
    )
    by_id = {m.external_id: m for m in msgs}
    restock = by_id[f"{board.key}:{newer}"]
    assert restock.text == "블랙 M 사이즈 언제 재입고 되나요?"
    assert restock.thread_keys == [board.thread_key(newer)]
    assert restock.direction is Direction.IN
    assert restock.received_at.utcoffset() == timedelta(0)
    for key in CONTEXT_KEYS[board.id]:
        assert restock.context.get(key), key

    # Overlapping windows read the same questions again: nothing is published twice.
    runner = market.runner_for(board.channel)
    before = received_count(board.channel)
    await poll_all(runner, board.board)
    await poll_all(runner, board.board)

    assert received_count(board.channel) == before
    assert len(await _board_messages(market, board)) == 2


async def test_edit_answer_on_the_platform_and_deletion_are_recorded(
    board: Any, start_market: Any, eventually: Any
) -> None:
    qid = board.add("이 니트 세탁기로 빨아도 되나요?", minutes_ago=1)
    market = await _started(
        start_market,
        board,
        eventually,
        INBOX_MARKET_REVISIT_S="0",  # every poll is a revisit pass
        INBOX_MARKET_WATCH_DAYS="2",
    )
    runner = market.runner_for(board.channel)

    board.edit(qid, "이 니트 세탁기로 빨아도 되나요? 울코스로요.")
    await poll_all(runner, board.board)
    board.answer(qid, "울코스 단독 세탁은 괜찮습니다. 건조기는 피해 주세요.")
    await poll_all(runner, board.board)
    board.delete(qid)
    await poll_all(runner, board.board)
    await poll_all(runner, board.board)  # a question must be missed twice to count as deleted

    msgs = {m.external_id: m for m in await _board_messages(market, board)}
    base = f"{board.key}:{qid}"
    edit = msgs[f"{base}:edit:{text_hash('이 니트 세탁기로 빨아도 되나요? 울코스로요.')}"]
    assert edit.text == "이 니트 세탁기로 빨아도 되나요? 울코스로요."
    assert edit.context["edited"] is True and edit.context["edit_of"] == base
    answer_text = "울코스 단독 세탁은 괜찮습니다. 건조기는 피해 주세요."
    echo = msgs[f"{base}:answer:{text_hash(answer_text)}"]
    assert echo.direction is Direction.OUT and echo.flags.echo
    assert echo.text == answer_text and echo.context["answered_on_platform"] is True
    deleted = msgs[f"{base}:deleted"]
    assert deleted.context["deleted"] is True
    assert {m.thread_keys[0] for m in msgs.values()} == {board.thread_key(qid)}
    assert len(msgs) == 4  # question, edit, answer, deletion: each once


async def test_agent_reply_reaches_the_platform_is_reported_sent_and_not_echoed(
    board: Any, start_market: Any, eventually: Any
) -> None:
    qid = board.add("오늘 주문하면 언제 받을 수 있나요?")
    market = await _started(start_market, board, eventually)
    question = (await _board_messages(market, board))[0]
    text = "안녕하세요 고객님,\n오늘 오후 3시 전 주문은 당일 출고됩니다."

    await publish_reply(market, _reply(question, text))

    await eventually(lambda: text in board.answers(qid), what="answer on the simulator")
    report = await eventually(
        lambda: delivery_report(market, board.channel, board.account), what="delivery report"
    )
    assert report.status is DeliveryStatus.SENT and report.conversation_id == "conv-1"
    assert report.external_id == f"{board.key}:{qid}:answer:{text_hash(text)}"

    before = received_count(board.channel)
    await poll_all(market.runner_for(board.channel), board.board)

    assert received_count(board.channel) == before  # our own answer is no echo
    assert not [m for m in await _board_messages(market, board) if m.flags.echo]


async def test_too_long_reply_is_refused_with_a_clear_reason(
    board: Any, start_market: Any, eventually: Any
) -> None:
    qid = board.add("색상 차이가 큰가요?")
    market = await _started(start_market, board, eventually)
    question = (await _board_messages(market, board))[0]
    channel = market.app[CHANNELS][board.channel][board.account]
    limit = channel.board(board.board).limits.max_chars

    await publish_reply(market, _reply(question, "가" * (limit + 1)))

    report = await eventually(
        lambda: delivery_report(market, board.channel, board.account), what="delivery report"
    )
    assert report.status is DeliveryStatus.FAILED
    assert f"at most {limit} characters" in (report.error or "")
    assert board.answers(qid) == []


async def test_reply_the_platform_refuses_is_reported_failed_with_its_message(
    board: Any, start_market: Any, eventually: Any
) -> None:
    board.add("재입고 알림 신청 가능한가요?")
    market = await _started(start_market, board, eventually)
    question = (await _board_messages(market, board))[0]
    context = {**question.context, "question_id": "999999"}

    await publish_reply(
        market,
        _reply(
            question,
            "확인 후 안내드리겠습니다.",
            thread_keys=[board.thread_key("999999")],
            context=context,
        ),
    )

    report = await eventually(
        lambda: delivery_report(market, board.channel, board.account), what="delivery report"
    )
    assert report.status is DeliveryStatus.FAILED
    assert UNKNOWN_QUESTION[board.id] in (report.error or "")


async def test_bus_down_keeps_the_cursor_and_the_poll_after_it_returns_publishes(
    board: Any, start_market: Any, eventually: Any, nats_server: Any
) -> None:
    market = await _started(start_market, board, eventually)
    runner = market.runner_for(board.channel)
    cursor_id = f"{board.channel}:{board.account}:{board.board}"
    before = await cursor_state(market, cursor_id)
    qid = board.add("배송지 변경 가능한가요?")

    nats_server.process.kill()
    with pytest.raises(BusUnavailable):
        await asyncio.wait_for(runner.poll_once(board.board), STEP_TIMEOUT_S)

    assert await cursor_state(market, cursor_id) == before
    await asyncio.wait_for(asyncio.to_thread(nats_server.restart), 60)
    await eventually(lambda: market.runtime.bus.connected, timeout=30, what="bus reconnected")

    async def poll_succeeds() -> bool:
        try:
            await poll_all(runner, board.board)
        except BusUnavailable:
            return False
        return True

    await eventually(poll_succeeds, timeout=30, what="poll after the bus came back")
    assert [m.external_id for m in await _board_messages(market, board)] == [f"{board.key}:{qid}"]
    after = await cursor_state(market, cursor_id)
    assert after is not None and before is not None and qid in after["known"]


async def test_restart_mid_stream_loses_and_repeats_nothing(
    board: Any, start_market: Any, eventually: Any
) -> None:
    env: dict[str, str] = {"INBOX_MARKET_HTTP_ATTEMPTS": "1"}
    if board.page_size:
        ids = [
            board.add(f"{i}번째 문의: 사이즈 교환 되나요?", minutes_ago=30 + i / 10)
            for i in range(board.page_size + 5)
        ]
        first_batch, failing = board.page_size, board.page_two
    else:  # 11st has no paging: the stream is cut between two 6-day windows instead
        ids = [board.add(f"{i}번째 문의", minutes_ago=8 * 24 * 60 + i) for i in range(3)]
        ids += [board.add(f"{i}번째 최근 문의", minutes_ago=5 + i) for i in range(3)]
        env["INBOX_MARKET_BACKFILL_DAYS"] = "10"
        first_batch = 3
        failing = "/" + datetime.now(UTC).astimezone(KST).strftime("%Y%m%d") + "/00"
    board.sim.app[FAULTS].add(500, times=1000, match=failing)
    market = await start_market(**_env(board, **env))
    runner = market.runner_for(board.channel)

    def stuck() -> bool:
        status = runner.status.get(board.board)
        return status is not None and status.last_error is not None

    await eventually(stuck, what="the second page fails")
    assert len(await _board_messages(market, board)) == first_batch
    await asyncio.wait_for(market.client.close(), STEP_TIMEOUT_S)  # the service stops

    board.sim.app[FAULTS].clear()
    late = board.add("재시작하는 동안 들어온 문의")
    before = received_count(board.channel)
    again = await start_market(**_env(board, **env))

    runner = again.runner_for(board.channel)

    def polled() -> bool:
        status = runner.status.get(board.board)
        return status is not None and status.polls >= 1

    await eventually(polled, timeout=30, what="the first poll after the restart")
    await poll_all(runner, board.board)  # the next poll reads what came in meanwhile

    msgs = await _board_messages(again, board)
    assert sorted(m.external_id for m in msgs) == sorted(f"{board.key}:{i}" for i in [*ids, late])
    # The restarted service went on from its cursor: only the rest was published.
    assert received_count(board.channel) - before == len(ids) + 1 - first_batch
