"""The router against a real nats-server and Mongo-wire store."""

from __future__ import annotations

import asyncio

import pytest

from inbox_core import subjects
from inbox_core.bus import Bus
from inbox_core.schema import Customer, InboundMessage, MessageFlags, RoutedMessage
from inbox_core.settings import CoreSettings
from inbox_core.store import Store
from inbox_core.testing.http import collect, serve
from inbox_router.app import IGNORED, Router, create_app
from inbox_router.rules import load_rules
from inbox_router.settings import DEFAULT_RULES, RouterSettings


def _mail(
    external_id: str, text: str, refs: list[str] | None = None, **kw: object
) -> InboundMessage:
    return InboundMessage(
        channel="mail",
        account="cs",
        external_id=external_id,
        thread_keys=[f"mail:{external_id}"],
        references=refs or [],
        customer=Customer(id="kim@example.com", email="kim@example.com", name="김민수"),
        subject="배송 문의",
        text=text,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def bus(core_env: dict[str, str]) -> Bus:
    bus = Bus(CoreSettings(), "test-client")
    await bus.connect(timeout=5)
    await bus.provision()
    yield bus
    await bus.close(grace=1)


async def test_inbound_message_is_routed_with_team_and_sla(bus: Bus) -> None:
    async with serve(create_app(RouterSettings())) as url:
        message = _mail("a1@example.com", "주문한 니트 배송이 언제 되나요?")
        await bus.publish_model(subjects.inbound("mail", "cs"), message, msg_id=message.dedup_id)
        [got] = await collect(bus.js, "inbox.routed.mail.cs", 1)
        routed = RoutedMessage.from_json(got.data)
        assert got.headers["Nats-Msg-Id"] == "routed:mail:cs:a1@example.com"
        assert routed.decision.team == "shipping"
        assert routed.decision.sla.first_response_due is not None
        assert routed.conversation_created is True
        assert routed.customer_id
        assert url


async def test_reply_joins_the_conversation_of_the_mail_it_answers(bus: Bus) -> None:
    async with serve(create_app(RouterSettings())):
        first = _mail("q1@example.com", "배송 문의드립니다")
        reply = _mail("q2@example.com", "추가로 주소 변경 부탁드려요", refs=["mail:q1@example.com"])
        for m in (first, reply):
            await bus.publish_model(subjects.inbound("mail", "cs"), m, msg_id=m.dedup_id)
            await collect(bus.js, "inbox.routed.mail.cs", 1 if m is first else 2)
        msgs = await collect(bus.js, "inbox.routed.mail.cs", 2)
        a, b = (RoutedMessage.from_json(m.data) for m in msgs)
        assert a.conversation_id == b.conversation_id
        assert (a.conversation_created, b.conversation_created) == (True, False)


async def test_concurrent_messages_of_a_new_thread_get_one_conversation(
    core_env: dict[str, str],
) -> None:
    store = Store(CoreSettings())
    runtime = type("R", (), {"store": store})()
    router = Router(runtime, load_rules(DEFAULT_RULES))  # type: ignore[arg-type]
    try:
        messages = [
            InboundMessage(
                channel="facebook",
                account="page1",
                external_id=f"mid.{i}",
                thread_keys=["facebook:page1:psid-7"],
                customer=Customer(id="psid-7"),
                text=f"메시지 {i}",
            )
            for i in range(8)
        ]
        routed = await asyncio.wait_for(
            asyncio.gather(*(router.route(m) for m in messages)), timeout=20
        )
        again = await asyncio.wait_for(router.route(messages[3]), timeout=10)
    finally:
        await store.close()
    ids = {r.conversation_id for r in routed if r}
    assert len(ids) == 1
    assert sum(1 for r in routed if r and r.conversation_created) == 1
    assert again is not None and again.conversation_id in ids
    assert again.conversation_created == routed[3].conversation_created  # type: ignore[union-attr]


async def test_auto_reply_without_thread_creates_nothing_and_is_kept(bus: Bus) -> None:
    store = Store(CoreSettings())
    try:
        async with serve(create_app(RouterSettings())):
            ooo = _mail("ooo@example.com", "부재중입니다", flags=MessageFlags(auto_reply=True))
            normal = _mail("n1@example.com", "배송 문의")
            for m in (ooo, normal):
                await bus.publish_model(subjects.inbound("mail", "cs"), m, msg_id=m.dedup_id)
            [got] = await collect(bus.js, "inbox.routed.mail.cs", 1)
            assert RoutedMessage.from_json(got.data).message.external_id == "n1@example.com"
            kept = await asyncio.wait_for(store.db[IGNORED].find_one({}), timeout=5)
            assert kept is not None and kept["_id"] == "mail:cs:ooo@example.com"
            info = await bus.js.stream_info(subjects.STREAM_ROUTED)
            assert info.state.messages == 1
    finally:
        await store.close()


async def test_unreadable_message_goes_to_dead_letters(bus: Bus) -> None:
    async with serve(create_app(RouterSettings())):
        await bus.publish("inbox.in.mail.cs", b"{not json", msg_id="bad-1")
        [letter] = await collect(bus.js, "inbox.dlq.>", 1)
        assert b"InvalidPayload" in letter.data
