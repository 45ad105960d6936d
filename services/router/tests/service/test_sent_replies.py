"""The router claims our sent mail replies' Message-IDs from the connectors' delivery
reports: the customer's answer to our reply joins the conversation even when it quotes
nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from inbox_core.schema import DeliveryReport, DeliveryStatus, InboundMessage, RoutedMessage
from inbox_core.store import THREADS, Store
from inbox_router.app import Router
from inbox_router.sent_replies import claim_reply_key

Build = Callable[..., InboundMessage]
Route = Callable[[Router, InboundMessage], Awaitable[RoutedMessage]]
OURS = "inbox.c1.r1@shop.example"


def _report(conversation_id: str, **kw: object) -> DeliveryReport:
    fields: dict[str, object] = {
        "reply_id": "r1",
        "conversation_id": conversation_id,
        "channel": "mail",
        "account": "cs",
        "status": DeliveryStatus.SENT,
        "external_id": f"<{OURS}>",
        **kw,
    }
    return DeliveryReport.model_validate(fields)


async def _claim(store: Store, report: DeliveryReport) -> bool:
    return await asyncio.wait_for(claim_reply_key(store.db, report), timeout=10)


async def test_the_answer_to_our_sent_reply_joins_its_conversation(
    router: Router, store: Store, mail: Build, route: Route
) -> None:
    first = await route(router, mail("q1@example.com", subject="환불 문의"))
    assert await _claim(store, _report(first.conversation_id))
    assert not await _claim(store, _report(first.conversation_id))  # redelivered: no change
    answer = await route(
        router, mail("q2@example.com", "계좌로 받을게요", refs=[f"mail:{OURS}"], subject="계좌")
    )
    assert answer.conversation_id == first.conversation_id and not answer.conversation_created


@pytest.mark.parametrize(
    "change",
    [
        {"status": DeliveryStatus.FAILED, "error": "550 no such user"},
        {"channel": "kakao"},
        {"external_id": None},
    ],
    ids=["failed", "not-mail", "no-message-id"],
)
async def test_a_reply_not_sent_by_mail_claims_no_key(
    store: Store, change: dict[str, object]
) -> None:
    assert not await _claim(store, _report("c1", **change))
    assert await store.db[THREADS].find_one({"_id": f"mail:{OURS}"}) is None
