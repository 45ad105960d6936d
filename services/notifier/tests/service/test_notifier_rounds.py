"""How many store round trips, one after another, a fetched batch waits for (real
nats-server and Mongo-wire store, behind a proxy that counts rounds: `store_rounds`).

Each round is a queue of commands at the embedded store, so the notifier's latency per
batch is its number of sequential rounds: a batch of new conversations with automatic
replies (the night shift: every one gets one) takes three, its delivery reports two, and
a batch of follow-ups four, however many messages the batch holds. And what is stored and
published is what it was one call at a time: the automatic reply carries the conversation's
number, every event goes out once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.bus import ORDER_KEY_HEADER
from inbox_core.runtime import Runtime
from inbox_core.schema import DeliveryReport, DeliveryStatus, RoutedMessage
from inbox_core.settings import CoreSettings
from inbox_core.store import CONVERSATIONS, MESSAGES, OUTBOX, Store
from inbox_core.testing.plugin import MongoServer
from inbox_notifier.app import Notifier
from inbox_notifier.queue import INDEXES, PUBLISHED
from inbox_notifier.report_counters import REPORT_COUNTERS
from inbox_notifier.settings import NotifierSettings

from .conftest import routed_message
from .store_rounds import StoreRounds

N = 12
NIGHT_REPLY = "문의 감사합니다. 접수 번호 {{conversation.number}}번, 내일 오전에 답변드립니다."


@dataclass
class Rig:
    notifier: Notifier
    rounds: StoreRounds
    direct: Store

    async def handle(self, msgs: list[Msg]) -> None:
        """One fetched batch, handled as the consumer does; every message must succeed."""
        outcomes = await asyncio.wait_for(self.notifier.handle_batch(msgs), 60)
        assert outcomes == [None] * len(msgs)

    def db(self) -> Any:
        """The store as the test reads it: directly, not through the counting proxy."""
        return self.direct.db


@pytest.fixture
async def rig(
    notifier_env: dict[str, str], mongo_server: MongoServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Rig]:
    async with StoreRounds(mongo_server.port) as rounds:
        monkeypatch.setenv("MONGODB_URL", rounds.url)
        # A connection for each of a batch's conversation writes (a guarded update each):
        # with fewer, they would queue for connections and spread over rounds.
        monkeypatch.setenv("INBOX_MONGODB_POOL", str(4 * N))
        settings = NotifierSettings()
        runtime = Runtime("notifier", settings, indexes=INDEXES)
        await asyncio.wait_for(runtime.start(), 30)
        direct = Store(CoreSettings(mongodb_url=mongo_server.url))
        try:
            yield Rig(Notifier(runtime, settings), rounds, direct)
        finally:
            await direct.close()
            await asyncio.wait_for(runtime.stop(), 30)


def _msg(subject: str, data: bytes, key: str) -> Msg:
    return Msg(
        _client=cast(NATS, None), subject=subject, data=data, headers={ORDER_KEY_HEADER: key}
    )


def _routed(routed: RoutedMessage) -> Msg:
    m = routed.message
    return _msg(subjects.routed(m.channel, m.account), routed.to_json(), routed.conversation_id)


def _new_conversations(tag: str, first: int) -> list[RoutedMessage]:
    return [
        routed_message(
            first + i,
            f"{tag}-{i}",
            text=f"주문 {tag}-{i} 배송 문의",
            customer_id=f"cust-{tag}-{i}",
            auto_reply=NIGHT_REPLY,
        )
        for i in range(N)
    ]


def _follow_up(routed: RoutedMessage, n: int) -> RoutedMessage:
    return routed_message(n, routed.conversation_id, created=False, text="언제 와요?")


async def _sent_reports(db: Any, conversations: list[RoutedMessage]) -> list[DeliveryReport]:
    """The connector's reports that the conversations' automatic replies were sent."""
    reports = []
    for i, routed in enumerate(conversations):
        cid = routed.conversation_id
        reply = await db[MESSAGES].find_one({"conversation_id": cid, "kind": "auto_reply"})
        assert reply is not None
        reports.append(
            DeliveryReport(
                reply_id=reply["_id"],
                conversation_id=cid,
                channel="mail",
                account="cs",
                status=DeliveryStatus.SENT,
                external_id=f"sent-{cid}-{i}@shop.example",
            )
        )
    return reports


def _report(report: DeliveryReport) -> Msg:
    return _msg(subjects.delivery("mail", "cs"), report.to_json(), report.conversation_id)


async def _created_counted(db: Any) -> int:
    """Conversations created as the hourly report buckets count them."""
    buckets = db[REPORT_COUNTERS].find({"_id": {"$regex": "^h\\|"}})
    return sum([int((d.get("created") or {}).get("all", 0)) async for d in buckets])


async def test_a_batch_of_new_conversations_with_automatic_replies_takes_three_rounds(
    rig: Rig,
) -> None:
    await rig.handle([_routed(r) for r in _new_conversations("day", 0)])  # already there
    rig.rounds.reset()
    batch = _new_conversations("night", 100)
    await rig.handle([_routed(r) for r in batch])
    # (1) the messages with the conversations' numbers; (2) the conversations with their
    # automatic replies and outbox documents; (3) the published marks with the report
    # counters. One at a time this was seven rounds.
    assert rig.rounds.rounds == 3
    assert rig.rounds.commands <= 8  # one per collection and step, not one per message
    db = rig.db()
    for routed in batch:
        cid = routed.conversation_id
        conv = await db[CONVERSATIONS].find_one({"_id": cid})
        reply = await db[MESSAGES].find_one({"conversation_id": cid, "kind": "auto_reply"})
        assert conv is not None and reply is not None
        assert f"접수 번호 {conv['number']}번" in reply["text"]
        assert await db[OUTBOX].find_one({"_id": PUBLISHED + f"conversation.created:{cid}"})
    assert await _created_counted(db) == 2 * N

    # Their delivery reports: (1) the replies, conversations and published marks read and
    # the deliveries written together; (2) the events marked. One at a time: five.
    reports = await _sent_reports(db, batch)
    rig.rounds.reset()
    await rig.handle([_report(r) for r in reports])
    assert rig.rounds.rounds == 2
    for report in reports:
        reply = await db[MESSAGES].find_one({"_id": report.reply_id})
        assert reply["delivery"]["status"] == "sent"
        marker = PUBLISHED + f"message.updated:{report.reply_id}:sent"
        assert await db[OUTBOX].find_one({"_id": marker})

    # The customers write again: (1) the messages with their conversations read; (2) the
    # conversations written; (3) the outbox documents; (4) marks and counters. Was six.
    follow_ups = [_follow_up(r, 200 + i) for i, r in enumerate(batch)]
    rig.rounds.reset()
    await rig.handle([_routed(r) for r in follow_ups])
    assert rig.rounds.rounds == 4
    for routed in batch:
        conv = await db[CONVERSATIONS].find_one({"_id": routed.conversation_id})
        assert conv["message_count"] == 2 and conv["preview"] == "언제 와요?"
    assert await _created_counted(db) == 2 * N  # follow-ups create nothing


async def test_new_conversations_and_earlier_replies_delivery_reports_take_three_rounds(
    rig: Rig,
) -> None:
    """The night shift's batch: half new conversations, half the delivery reports of the
    automatic replies sent a moment before. The reports' reads and writes go out with the
    new messages' first round, so the batch takes what its new conversations take."""
    earlier = _new_conversations("earlier", 0)
    await rig.handle([_routed(r) for r in earlier])
    reports = await _sent_reports(rig.db(), earlier)
    batch = _new_conversations("later", 100)
    mixed = [m for pair in zip(batch, reports, strict=True) for m in pair]
    rig.rounds.reset()
    await rig.handle([_routed(m) if isinstance(m, RoutedMessage) else _report(m) for m in mixed])
    assert rig.rounds.rounds == 3
    db = rig.db()
    for report in reports:
        reply = await db[MESSAGES].find_one({"_id": report.reply_id})
        assert reply is not None and reply["delivery"]["status"] == "sent"
    assert await db[CONVERSATIONS].count_documents({}) == 2 * N
    assert await _created_counted(db) == 2 * N
