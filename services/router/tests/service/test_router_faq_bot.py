"""The router's FAQ bot decision on the real store: which messages the bot answers."""

from __future__ import annotations

from typing import Any

import pytest

from inbox_core.faq import FAQ
from inbox_core.faq_examples import example_docs
from inbox_core.schema import utcnow
from inbox_core.store import Store
from inbox_router.app import Router

Fixture = Any


@pytest.fixture
async def faq_router(router: Router, store: Store) -> Router:
    # The notifier owns the FAQ; this test stands in for its API.
    await store.db[FAQ].insert_many(example_docs(utcnow()))
    await router.faq.refresh()
    return router


@pytest.mark.parametrize("channel", ["naver_talktalk", "facebook", "instagram", "kakao"])
async def test_a_covered_question_on_a_chat_channel_is_answered_by_the_bot(
    faq_router: Router, chat: Fixture, route: Fixture, channel: str
) -> None:
    routed = await route(faq_router, chat("q1", "배송 보통 며칠 걸려요?", channel=channel))
    answer = routed.decision.bot_answer
    assert answer is not None
    assert answer.faq_id == "shipping_time"
    assert answer.text.startswith("박지훈님, 결제 완료 후")  # placeholders rendered
    assert (answer.delivered, answer.resolve) == (False, True)
    assert routed.decision.auto_reply is None


@pytest.mark.parametrize(
    "text",
    [
        "상담원 연결해주세요",
        "배송 며칠 걸려요? 사람이랑 얘기하고 싶어요",
        "배송이 일주일째 안 와요",
    ],
    ids=["agent", "person with a covered question", "complaint"],
)
async def test_people_and_complaints_reach_an_agent(
    faq_router: Router, chat: Fixture, route: Fixture, text: str
) -> None:
    routed = await route(faq_router, chat("q1", text))
    assert routed.decision.bot_answer is None


async def test_mail_gets_no_bot_answer(faq_router: Router, mail: Fixture, route: Fixture) -> None:
    routed = await route(faq_router, mail("m1@x", "배송 보통 며칠 걸려요?"))
    assert routed.decision.bot_answer is None


async def test_the_bot_stays_out_of_a_conversation_an_agent_has(
    faq_router: Router, chat: Fixture, route: Fixture, store_conversation: Fixture
) -> None:
    first = await route(faq_router, chat("q1", "이 원피스 안감 있나요?"))
    await store_conversation(first, status="open")
    routed = await route(faq_router, chat("q2", "배송 보통 며칠 걸려요?"))
    assert routed.decision.bot_answer is None


async def test_the_bot_answers_again_in_a_resolved_conversation(
    faq_router: Router, chat: Fixture, route: Fixture, store_conversation: Fixture
) -> None:
    first = await route(faq_router, chat("q1", "이 원피스 안감 있나요?"))
    await store_conversation(first, status="resolved", resolved_ago=None)
    routed = await route(faq_router, chat("q2", "쿠폰 사용법 알려주세요"))
    assert routed.decision.bot_answer is not None
    assert routed.decision.bot_answer.faq_id == "coupon_use"


async def test_an_answer_the_connector_gave_is_recorded_as_delivered(
    faq_router: Router, chat: Fixture, route: Fixture
) -> None:
    given = {"faq_id": "shipping_time", "score": 0.9, "text": "1~3일 걸려요."}
    routed = await route(
        faq_router,
        chat("q1", "배송 며칠?", context={"bot_answer": given, "faq_checked": True}),
    )
    answer = routed.decision.bot_answer
    assert answer is not None
    assert (answer.text, answer.delivered) == ("1~3일 걸려요.", True)


async def test_a_connector_that_checked_and_did_not_answer_is_final(
    faq_router: Router, chat: Fixture, route: Fixture
) -> None:
    routed = await route(faq_router, chat("q1", "배송 며칠 걸려요?", context={"faq_checked": True}))
    assert routed.decision.bot_answer is None


async def test_mail_gets_a_bot_answer_when_an_entry_lists_mail(
    router: Router, store: Store, mail: Fixture, route: Fixture
) -> None:
    now = utcnow()
    await store.db[FAQ].insert_one(
        {
            "_id": "hours",
            "question": "고객센터 운영시간이 어떻게 되나요?",
            "examples": ["고객센터 몇 시까지 해요", "상담 가능 시간"],
            "answer": "평일 10시~17시에 운영해요.",
            "channels": ["mail", "kakao"],
            "auto_answer": True,
            "created_at": now,
            "updated_at": now,
        }
    )
    await router.faq.refresh()
    routed = await route(router, mail("m1@x", "고객센터 운영시간이 어떻게 되나요?"))
    assert routed.decision.bot_answer is not None
    assert routed.decision.bot_answer.text == "평일 10시~17시에 운영해요."
    # An entry that lists channels answers only there: not on Instagram.
    chat = await route(
        router,
        mail("m2@x", "고객센터 운영시간이 어떻게 되나요?").model_copy(
            update={"channel": "instagram", "thread_keys": ["instagram:shop:u9"]}
        ),
    )
    assert chat.decision.bot_answer is None
