"""The six conversation rules of DESIGN.md against the real store.

Each test sets up the conversation the way the notifier stores it and asserts what the
notifier will act on: the conversation id, whether it was created, `reopen`, the link.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from inbox_core.schema import Customer, InboundMessage, MessageFlags, RoutedMessage
from inbox_core.store import CUSTOMER_KEYS, CUSTOMERS, Store
from inbox_router.app import IGNORED, Router
from inbox_router.legacy_customers import prepare_customers
from inbox_router.rules import parse_rules

RouterFactory = Callable[..., Router]

Build = Callable[..., InboundMessage]
Route = Callable[[Router, InboundMessage], Awaitable[RoutedMessage]]
Remember = Callable[..., Awaitable[None]]

NOW = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)  # the builders' default: Tuesday 11:00 in Seoul
KIM = Customer(id="kim@example.com", email="kim@example.com", name="김민수")
LEE = Customer(id="lee@example.com", email="lee@example.com", name="이서연")

# --- rule 1: a reply joins its conversation and reopens it ------------------------------


async def test_reply_joins_and_reopens_a_resolved_conversation(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("q1@example.com"))
    await store_conversation(first, status="resolved", resolved_ago=timedelta(days=2))
    reply = await route(
        router, mail("q2@example.com", "주소도 바꿔주세요", refs=["mail:q1@example.com"])
    )
    assert reply.conversation_id == first.conversation_id
    assert (reply.conversation_created, reply.reopen) == (False, True)
    assert reply.decision.reasons[0].startswith("conversation: rule 1: reopens")


@pytest.mark.parametrize("status", ["open", "pending"], ids=["open", "pending"])
async def test_chat_message_joins_its_thread_and_reopens(
    router: Router,
    status: str,
    chat: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, chat("m1", "배송 언제 와요"))
    await store_conversation(first, status=status)
    later = await route(router, chat("m2", "아직 답이 없네요"))
    assert later.conversation_id == first.conversation_id
    assert (later.conversation_created, later.reopen) == (False, True)


async def test_marketplace_follow_up_on_the_same_question_joins_it(
    router: Router,
    route: Route,
) -> None:
    def qna(external_id: str, question_id: str, text: str) -> InboundMessage:
        return InboundMessage(
            channel="naver_commerce",
            account="shop",
            external_id=external_id,
            thread_keys=[f"naver_commerce:shop:qna:{question_id}"],
            customer=Customer(id="kim***"),
            subject="[상품문의] 캐시미어 라운드 니트",
            text=text,
            context={"question_id": question_id, "product_name": "캐시미어 라운드 니트"},
            received_at=NOW,
        )

    first = await route(router, qna("qna:1", "1", "보풀 생기나요?"))
    follow_up = await route(router, qna("qna:1:2", "1", "답변 부탁드려요"))
    other = await route(router, qna("qna:2", "2", "세탁 방법은요?"))
    assert follow_up.conversation_id == first.conversation_id
    assert other.conversation_id != first.conversation_id
    assert other.conversation_created
    assert first.decision.team == "product"


# --- rule 2: a thanks-only reply does not reopen -----------------------------------------


@pytest.mark.parametrize(
    ("text", "reopen"),
    [
        ("감사합니다!", False),
        ("네 확인했습니다 감사합니다 :)", False),
        ("Thank you so much 🙏", False),
        ("감사합니다. 그런데 교환은 어떻게 하나요?", True),
        ("thanks, but it still hasn't arrived", True),
    ],
    ids=["thanks", "ack-and-thanks", "en-thanks", "thanks-and-question", "en-thanks-and-complaint"],
)
async def test_thanks_only_reply_to_a_resolved_conversation_does_not_reopen(
    router: Router,
    text: str,
    reopen: bool,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("t1@example.com"))
    await store_conversation(first, status="resolved", resolved_ago=timedelta(hours=3))
    reply = await route(router, mail("t2@example.com", text, refs=["mail:t1@example.com"]))
    assert reply.conversation_id == first.conversation_id
    assert reply.reopen is reopen
    assert reply.decision.auto_reply is None


async def test_thanks_only_reply_after_the_window_stays_in_the_old_conversation(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("t3@example.com"))
    await store_conversation(first, status="resolved", resolved_ago=timedelta(days=30))
    reply = await route(router, mail("t4@example.com", "감사합니다", refs=["mail:t3@example.com"]))
    assert reply.conversation_id == first.conversation_id
    assert (reply.conversation_created, reply.reopen) == (False, False)


# --- rule 3: after the reopen window, a new linked conversation ---------------------------


async def test_reply_after_the_window_starts_a_linked_conversation(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    old = await route(router, mail("o1@example.com"))
    await store_conversation(old, status="resolved", resolved_ago=timedelta(days=8))
    reply = await route(
        router, mail("o2@example.com", "또 문의드려요", refs=["mail:o1@example.com"])
    )
    assert reply.conversation_id != old.conversation_id
    assert (reply.conversation_created, reply.reopen) == (True, True)
    assert reply.linked_conversation_id == old.conversation_id
    assert "rule 3" in reply.decision.reasons[0]
    # Later messages of the thread go to the new conversation, whichever key they cite.
    again = await route(router, mail("o3@example.com", "추가로", refs=["mail:o1@example.com"]))
    to_reply = await route(router, mail("o4@example.com", "또", refs=["mail:o2@example.com"]))
    assert again.conversation_id == to_reply.conversation_id == reply.conversation_id
    assert not again.conversation_created and not to_reply.conversation_created
    # Even automatic mail, which never starts anything, now lands in the new conversation.
    ooo = mail("o5@example.com", "부재중", refs=["mail:o1@example.com"],
               flags=MessageFlags(auto_reply=True))  # fmt: skip
    assert (await route(router, ooo)).conversation_id == reply.conversation_id


async def test_chat_after_the_window_starts_a_linked_conversation(
    router: Router,
    chat: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    old = await route(router, chat("c1", "배송 문의"))
    await store_conversation(old, status="resolved", resolved_ago=timedelta(days=10))
    new = await route(router, chat("c2", "또 주문했는데요"))
    later = await route(router, chat("c3", "언제 와요"))
    assert new.conversation_id != old.conversation_id
    assert new.linked_conversation_id == old.conversation_id
    assert later.conversation_id == new.conversation_id


@pytest.mark.parametrize(
    ("window_days", "new_conversation"),
    [(1.0, True), (7.0, False)],
    ids=["one-day-window", "default-window"],
)
async def test_reopen_window_is_configurable(
    make_router: RouterFactory,
    window_days: float,
    new_conversation: bool,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    router = make_router(reopen_window_days=window_days)
    old = await route(router, mail("w1@example.com"))
    await store_conversation(old, status="resolved", resolved_ago=timedelta(days=2))
    reply = await route(router, mail("w2@example.com", "다시 문의", refs=["mail:w1@example.com"]))
    assert (reply.conversation_id != old.conversation_id) is new_conversation
    assert reply.reopen


async def test_redelivered_reply_after_the_window_gives_the_same_linked_conversation(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    old = await route(router, mail("r1@example.com"))
    await store_conversation(old, status="resolved", resolved_ago=timedelta(days=9))
    message = mail("r2@example.com", "또 문의", refs=["mail:r1@example.com"])
    first = await route(router, message)
    again = await route(router, message)
    assert again.conversation_id == first.conversation_id
    assert again.conversation_created and first.conversation_created
    assert again.linked_conversation_id == first.linked_conversation_id == old.conversation_id


# --- rule 4: a new mail on the same subject joins the open conversation ---------------------


@pytest.mark.parametrize(
    "subject",
    ["배송 문의", "RE: 배송 문의", "회신: 배송  문의", "Fwd: 배송 문의", "답장: 배송 문의"],
    ids=["same", "re", "hoesin-and-spacing", "fwd", "dapjang"],
)
async def test_new_mail_with_the_same_subject_joins_the_open_conversation(
    router: Router,
    subject: str,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("s1@example.com"))
    await store_conversation(first, status="open")
    second = await route(router, mail("s2@example.com", "하나 더 여쭤볼게요", subject=subject))
    assert second.conversation_id == first.conversation_id
    assert not second.conversation_created
    assert "rule 4" in second.decision.reasons[0]


async def test_new_mail_joins_an_open_conversation_found_by_subject_in_the_store(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    # A conversation the router never saw by subject (e.g. created from a reply thread).
    first = await route(router, mail("x1@example.com", subject="주문 변경"))
    await store_conversation(first, status="pending", subject="교환 요청")
    joined = await route(router, mail("x2@example.com", "교환 건입니다", subject="Re: 교환 요청"))
    assert joined.conversation_id == first.conversation_id


async def test_new_mail_joins_the_latest_of_two_open_conversations_with_its_subject(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    older = await route(
        router, mail("o1@example.com", subject="주문 변경", at=NOW - timedelta(hours=2))
    )
    newer = await route(
        router, mail("o2@example.com", subject="배송지", at=NOW - timedelta(hours=1))
    )
    assert older.conversation_id != newer.conversation_id
    await store_conversation(older, status="open", subject="교환 요청")
    await store_conversation(newer, status="pending", subject="교환 요청")
    joined = await route(router, mail("o3@example.com", "교환 건입니다", subject="Re: 교환 요청"))
    assert joined.conversation_id == newer.conversation_id


@pytest.mark.parametrize(
    ("status", "customer", "subject"),
    [
        ("resolved", KIM, "배송 문의"),
        ("open", LEE, "배송 문의"),
        ("open", KIM, "교환 문의"),
    ],
    ids=["old-one-resolved", "another-customer", "another-subject"],
)
async def test_new_mail_starts_a_new_conversation_otherwise(
    router: Router,
    status: str,
    customer: Customer,
    subject: str,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("n1@example.com"))
    await store_conversation(first, status=status, resolved_ago=timedelta(hours=1))
    second = await route(router, mail("n2@example.com", "문의", subject=subject, customer=customer))
    assert second.conversation_id != first.conversation_id
    assert second.conversation_created


async def test_subject_tag_joins_the_conversation_with_that_number(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("g1@example.com", subject="사이즈 문의"))
    await store_conversation(first, status="resolved", resolved_ago=timedelta(days=1),
                             number=1234)  # fmt: skip
    tagged = await route(
        router, mail("g2@example.com", "추가 질문", subject="Re: 사이즈 문의 [#1234]")
    )
    assert tagged.conversation_id == first.conversation_id
    assert tagged.reopen
    assert "subject tag [#1234]" in tagged.decision.reasons[0]


async def test_subject_tag_of_another_customers_conversation_is_ignored(
    router: Router,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("h1@example.com", subject="사이즈 문의"))
    await store_conversation(first, status="open", number=77)
    stranger = await route(
        router, mail("h2@example.com", "문의", subject="[#77] 문의", customer=LEE)
    )
    assert stranger.conversation_id != first.conversation_id


# --- rule 5: automatic mail never creates, reopens or gets answered -----------------------

AUTOMATIC = [
    MessageFlags(auto_reply=True),
    MessageFlags(bounce=True),
    MessageFlags(list_mail=True),
]
AUTOMATIC_IDS = ["auto-reply", "bounce", "list-mail"]


@pytest.mark.parametrize("flags", AUTOMATIC, ids=AUTOMATIC_IDS)
@pytest.mark.parametrize(
    "resolved_ago", [timedelta(hours=1), timedelta(days=30)], ids=["recent", "past-window"]
)
async def test_automatic_mail_joins_silently_and_never_reopens(
    router: Router,
    flags: MessageFlags,
    resolved_ago: timedelta,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("a1@example.com"))
    await store_conversation(first, status="resolved", resolved_ago=resolved_ago)
    ooo = await route(
        router,
        mail("a2@example.com", "부재중입니다", refs=["mail:a1@example.com"], flags=flags,
             at=NOW + timedelta(hours=12)),
    )  # fmt: skip
    assert ooo.conversation_id == first.conversation_id
    assert (ooo.conversation_created, ooo.reopen) == (False, False)
    assert ooo.decision.auto_reply is None and ooo.decision.note is None


@pytest.mark.parametrize("flags", AUTOMATIC, ids=AUTOMATIC_IDS)
async def test_automatic_mail_without_a_conversation_is_kept_aside(
    router: Router,
    store: Store,
    flags: MessageFlags,
    mail: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    first = await route(router, mail("b1@example.com"))
    await store_conversation(first, status="open")
    # Same customer and subject as an open conversation, but automatic: it never joins by
    # subject and never creates anything.
    routed = await asyncio.wait_for(
        router.route(mail("b2@example.com", "Out of office", flags=flags)), timeout=10
    )
    assert routed is None
    kept = await asyncio.wait_for(store.db[IGNORED].find_one({}), timeout=5)
    assert kept is not None and kept["_id"] == "mail:cs:b2@example.com"


async def test_automatic_mail_creates_no_customer(
    router: Router,
    store: Store,
    mail: Build,
    route: Route,
) -> None:
    bounce = mail("d1@example.com", "Undelivered", flags=MessageFlags(bounce=True),
                  customer=Customer(id="mailer-daemon@example.com"))  # fmt: skip
    assert await asyncio.wait_for(router.route(bounce), timeout=10) is None
    assert await asyncio.wait_for(store.db[CUSTOMERS].count_documents({}), timeout=5) == 0


# --- rule 6: one customer across channels ------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (Customer(id="kim@example.com", email="kim@example.com"),
         Customer(id="kakao-1", email="KIM@example.com"), True),
        (Customer(id="tt-1", phone="010-1234-5678"),
         Customer(id="kakao-2", phone="+82 10 1234 5678"), True),
        (Customer(id="tt-2", phone="010-1111-2222"), Customer(id="kakao-3", phone="010-3333-4444"),
         False),
    ],
    ids=["same-email", "same-phone-local-and-international", "different-phones"],
)  # fmt: skip
async def test_customers_on_several_channels_are_linked(
    router: Router,
    store: Store,
    first: Customer,
    second: Customer,
    same: bool,
    chat: Build,
    route: Route,
) -> None:
    a = await route(router, chat("l1", "배송 문의", channel="naver_talktalk", user=first.id,
                                 customer=first))  # fmt: skip
    b = await route(router, chat("l2", "배송 문의", channel="kakao", user=second.id,
                                 customer=second))  # fmt: skip
    assert (a.customer_id == b.customer_id) is same
    if same:
        doc = await asyncio.wait_for(store.db[CUSTOMERS].find_one({"_id": a.customer_id}), 5)
        assert doc is not None and len(doc["identities"]) == 2


@pytest.mark.parametrize(
    ("field", "value", "customer"),
    [
        ("emails", "kim@example.com", KIM),
        ("phones", "01012345678", Customer(id="u-77", phone="010-1234-5678", name="김민수")),
        ("identities", "kakao:shop:u-78", Customer(id="u-78", name="김민수")),
    ],
    ids=["email", "phone", "identity"],
)
async def test_customer_without_key_locks_is_found_by_each_key_after_the_start(
    router: Router,
    store: Store,
    chat: Build,
    route: Route,
    field: str,
    value: str,
    customer: Customer,
) -> None:
    # A customer record from before key locks, or written straight into the store (e.g.
    # from the shop's CRM): the router's start gives it its keys.
    await store.db[CUSTOMERS].insert_one(
        {"_id": "crm-1", "identities": [], "emails": [], "phones": [], field: [value]}
    )
    await asyncio.wait_for(prepare_customers(store.db), timeout=10)
    routed = await route(router, chat("i1", "문의", channel="kakao", user=customer.id,
                                      customer=customer))  # fmt: skip
    assert routed.customer_id == "crm-1"


async def test_customer_record_takes_a_later_messages_new_email_and_name(
    router: Router, store: Store, chat: Build, route: Route
) -> None:
    first = await route(router, chat("n1", "배송 문의", user="u-n", customer=Customer(id="u-n")))
    again = Customer(id="u-n", email="Park@Example.com", name="박지훈")
    second = await route(router, chat("n2", "교환 문의", user="u-n", customer=again))
    renamed = Customer(id="u-n", email="park@example.com", name="박지훈 (회사)")
    third = await route(router, chat("n3", "또 문의", user="u-n", customer=renamed))
    assert first.customer_id == second.customer_id == third.customer_id
    doc = await asyncio.wait_for(store.db[CUSTOMERS].find_one({"_id": first.customer_id}), 5)
    assert doc is not None
    assert (doc["emails"], doc["name"]) == (["park@example.com"], "박지훈 (회사)")
    assert doc["identities"] == ["kakao:shop:u-n"]
    # The e-mail now leads to this customer from another channel too.
    mail_kim = Customer(id="park@example.com", email="park@example.com")
    other = await route(router, chat("n4", "메일 문의", channel="naver_talktalk", user="u-m",
                                     customer=mail_kim))  # fmt: skip
    assert other.customer_id == first.customer_id


async def test_customer_merged_by_an_agent_stays_merged_for_later_messages(
    router: Router, store: Store, chat: Build, route: Route
) -> None:
    a = await route(router, chat("g1", "배송 문의", channel="kakao", user="u-a"))
    b = await route(router, chat("g2", "교환 문의", channel="naver_talktalk", user="u-b"))
    assert a.customer_id != b.customer_id
    # What the notifier's merge does to the router's records: keys first, then the customer.
    db = store.db
    await db[CUSTOMER_KEYS].update_many(
        {"customer_id": b.customer_id}, {"$set": {"customer_id": a.customer_id}}
    )
    await db[CUSTOMERS].delete_one({"_id": b.customer_id})
    later = await route(router, chat("g3", "또 문의", channel="naver_talktalk", user="u-b"))
    assert later.customer_id == a.customer_id
    assert await db[CUSTOMERS].find_one({"_id": b.customer_id}) is None  # not brought back


# --- customer facts for the rules ----------------------------------------------------------


async def test_customer_marked_vip_in_the_store_gets_high_priority(
    router: Router,
    store: Store,
    chat: Build,
    route: Route,
) -> None:
    first = await route(router, chat("v1", "안녕하세요"))
    await asyncio.wait_for(
        store.db[CUSTOMERS].update_one({"_id": first.customer_id}, {"$set": {"vip": True}}), 5
    )
    second = await route(router, chat("v2", "배송 언제 와요", user="user-1"))
    assert second.decision.priority == "high"
    assert "VIP" in second.decision.tags


async def test_contact_in_another_conversation_within_a_day_raises_priority(
    router: Router,
    mail: Build,
    chat: Build,
    route: Route,
    store_conversation: Remember,
) -> None:
    earlier = await route(router, mail("e1@example.com", subject="사이즈 문의"))
    await store_conversation(earlier, status="open")
    kim_on_kakao = Customer(id="kim-kakao", email="kim@example.com")
    message = chat("e2", "메일 보냈는데 답이 없어요", user="kim-kakao", customer=kim_on_kakao)
    again = await route(router, message)
    assert again.customer_id == earlier.customer_id
    assert again.conversation_id != earlier.conversation_id
    assert again.decision.priority == "high"
    assert "재문의" in again.decision.tags


async def test_returning_customer_is_recognised_from_earlier_conversations(
    make_router: RouterFactory, mail: Build, route: Route, store_conversation: Remember
) -> None:
    rules = parse_rules(
        {"rules": [{"name": "returning", "when": {"customer": {"returning": True}},
                    "set": {"tags": ["단골"]}}]}
    )  # fmt: skip
    router = make_router(rules)
    first = await route(router, mail("f1@example.com", subject="사이즈 문의"))
    assert "단골" not in first.decision.tags
    await store_conversation(first, status="resolved", resolved_ago=timedelta(days=40))
    second = await route(router, mail("f2@example.com", subject="재입고 문의"))
    assert second.conversation_id != first.conversation_id
    assert "단골" in second.decision.tags
    assert "rule returning: returning customer" in second.decision.reasons
