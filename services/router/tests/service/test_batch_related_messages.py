"""Messages of one fetched batch that depend on each other are routed one after another: a
mail's reply that arrives in the same batch as the mail it answers joins its conversation,
although its own thread key (its ordering key on the bus) differs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from nats.aio.msg import Msg

from inbox_core.bus import ORDER_KEY_HEADER, Outgoing, order_rounds
from inbox_core.schema import InboundMessage, RoutedMessage
from inbox_core.store import Store
from inbox_router.app import Router, related_keys
from inbox_router.rules import load_rules
from inbox_router.settings import DEFAULT_RULES, RouterSettings

Build = Callable[..., InboundMessage]


class _Publisher:
    """Stands in for the bus: keeps what the router publishes after a batch."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def publish_many(self, items: list[Outgoing]) -> list[None]:
        self.sent.extend(items)
        return [None for _ in items]


def _msg(message: InboundMessage) -> Msg:
    return Msg(
        _client=None,  # type: ignore[arg-type]
        subject=f"inbox.in.{message.channel}.{message.account}",
        data=message.to_json(),
        headers={ORDER_KEY_HEADER: message.thread_keys[0]},
    )


async def _route_batch(store: Store, messages: list[InboundMessage]) -> list[RoutedMessage]:
    bus = _Publisher()
    runtime: Any = SimpleNamespace(store=store, bus=bus)
    router = Router(runtime, load_rules(DEFAULT_RULES), RouterSettings())
    outcomes = await asyncio.wait_for(router.handle_batch([_msg(m) for m in messages]), 30)
    assert outcomes == [None] * len(messages)
    return [RoutedMessage.model_validate_json(o.payload) for o in bus.sent]


async def test_a_reply_in_the_same_batch_as_its_mail_joins_that_conversation(
    store: Store, mail: Build
) -> None:
    first = mail("coat@example.com", "코트 언제 오나요?", subject="코트 배송")
    reply = mail(
        "knit@example.com", "그리고 니트 환불은요?", refs=["mail:coat@example.com"], subject="니트"
    )
    other = mail("other@example.com", "다른 고객 문의", subject="주문", customer=_other())
    routed = await _route_batch(store, [first, reply, other])
    by_text = {r.message.text: r for r in routed}
    assert (
        by_text["그리고 니트 환불은요?"].conversation_id
        == by_text["코트 언제 오나요?"].conversation_id
    )
    assert not by_text["그리고 니트 환불은요?"].conversation_created
    assert by_text["다른 고객 문의"].conversation_id != by_text["코트 언제 오나요?"].conversation_id


def test_related_messages_share_a_round_group_and_strangers_go_together(mail: Build) -> None:
    first = mail("a1@example.com", "첫 메일")
    reply = mail("a2@example.com", "답장", refs=["mail:a1@example.com"], subject="다른 제목")
    stranger = mail("b1@example.com", "남의 메일", customer=_other())
    msgs = [_msg(m) for m in (first, reply, stranger)]
    assert "mail:a1@example.com" in related_keys(msgs[1])
    rounds = [[m.data for m in r] for r in order_rounds(msgs, related_keys)]
    assert rounds == [[msgs[0].data, msgs[2].data], [msgs[1].data]]


def _other() -> Any:
    from inbox_core.schema import Customer

    return Customer(id="park@example.com", email="park@example.com", name="박지훈")
