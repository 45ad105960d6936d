"""Canned responses, customers, dead letters, router notes and auto-replies, SLA timers,
SSE filters, auth on every path and the OpenAPI document, over HTTP on the real stack parts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from inbox_core import subjects
from inbox_core.schema import DeadLetter, OutboundReply, SlaState, utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import CUSTOMER_KEYS, CUSTOMERS, Store
from inbox_core.testing.http import collect, serve
from inbox_notifier import customers as customer_store
from inbox_router.app import create_app as create_router
from inbox_router.settings import RouterSettings

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


async def test_canned_responses_crud_and_preview(notifier: NotifierHarness) -> None:
    await notifier.publish(notifier.routed(1, "c1", context={"product_name": "데일리 슬랙스"}))
    await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    status, created = await notifier.post(
        "/api/canned-responses",
        {"title": "배송 안내", "text": "{{customer.name}}님, {{product.name}} 오늘 출고됩니다."},
    )
    assert status == 201
    status, preview = await notifier.post(
        f"/api/canned-responses/{created['id']}/preview", {"conversation_id": "c1"}
    )
    assert status == 200 and preview == {
        "text": "김민수님, 데일리 슬랙스 오늘 출고됩니다.",
        "missing": [],
    }
    status, preview = await notifier.post(f"/api/canned-responses/{created['id']}/preview", {})
    assert preview["text"] == "고객님, 상품 오늘 출고됩니다."
    assert preview["missing"] == ["customer.name", "product.name"]
    async with notifier.http.put(
        f"{notifier.url}/api/canned-responses/{created['id']}",
        headers={"Authorization": "Bearer token-minji"},
        json={"title": "배송 안내", "text": "내일 출고됩니다."},
    ) as resp:
        assert resp.status == 200 and (await resp.json())["text"] == "내일 출고됩니다."
    listed = await notifier.get("/api/canned-responses")
    assert [c["title"] for c in listed["items"]] == ["배송 안내"]
    async with notifier.http.delete(
        f"{notifier.url}/api/canned-responses/{created['id']}",
        headers={"Authorization": "Bearer token-minji"},
    ) as resp:
        assert resp.status == 204
    assert (await notifier.get("/api/canned-responses"))["items"] == []


async def test_canned_response_with_an_unknown_placeholder_is_refused(
    notifier: NotifierHarness,
) -> None:
    status, body = await notifier.post(
        "/api/canned-responses", {"title": "x", "text": "{{customer.nmae}}님 안녕하세요"}
    )
    assert status == 422
    assert body["errors"] == [{"field": "text", "message": "unknown placeholder {{customer.nmae}}"}]


@pytest.fixture
def router_env(notifier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_ROUTER_MODEL", "0")  # only its commands matter here
    monkeypatch.setenv("INBOX_ROUTER_RULES_POLL_S", "0")


@pytest.fixture
async def router(router_env: None) -> AsyncIterator[str]:
    """The router, which owns customers and carries out the notifier's merge."""
    async with serve(create_router(RouterSettings())) as url:
        yield url


async def _two_customers(notifier: NotifierHarness, store: Store) -> None:
    await store.db[CUSTOMERS].insert_many(
        [
            {
                "_id": "cust-1",
                "identities": ["mail:cs:kim@example.com"],
                "emails": ["kim@example.com"],
                "phones": [],
                "name": "김민수",
            },
            {
                "_id": "cust-2",
                "identities": ["facebook:104233:psid-9"],
                "emails": [],
                "phones": [],
                "name": "Minsu Kim",
            },
        ]
    )
    await store.db[CUSTOMER_KEYS].insert_many(
        [
            {"_id": "identity:mail:cs:kim@example.com", "customer_id": "cust-1"},
            {"_id": "email:kim@example.com", "customer_id": "cust-1"},
            {"_id": "identity:facebook:104233:psid-9", "customer_id": "cust-2"},
        ]
    )
    await notifier.publish(notifier.routed(1, "c1", customer_id="cust-1"))
    await notifier.publish(
        notifier.routed(
            2,
            "c2",
            channel="facebook",
            account="104233",
            customer_id="cust-2",
            text="교환 문의",
        )
    )
    await notifier.wait_for("/api/conversations", lambda b: len(b["items"]) == 2)


async def test_customer_history_spans_channels_and_merge_links_two_customers(
    notifier: NotifierHarness, router: str
) -> None:
    store = Store(CoreSettings())
    try:
        await _two_customers(notifier, store)
        status, merged = await notifier.post("/api/customers/cust-1/merge", {"other_id": "cust-2"})
        assert status == 200, merged
        assert {i["channel"] for i in merged["identities"]} == {"mail", "facebook"}
        assert {c["id"] for c in merged["conversations"]} == {"c1", "c2"}
        assert [m["text"] for m in merged["history"]] == ["배송 문의", "교환 문의"]
        assert merged["merged_from"] == ["cust-2"]
        # The router finds the Messenger user's next message by its key: it now names cust-1.
        keys = {d["_id"]: d["customer_id"] async for d in store.db[CUSTOMER_KEYS].find()}
        assert set(keys.values()) == {"cust-1"}
        again = await notifier.get("/api/customers/cust-2")  # the old id still resolves
        assert again["id"] == "cust-1"
        status, body = await notifier.post("/api/customers/cust-1/merge", {"other_id": "cust-1"})
        assert status == 409 and body["code"] == "same_customer"
        async with notifier.http.get(
            f"{notifier.url}/api/customers/nobody", headers={"Authorization": "Bearer token-minji"}
        ) as resp:
            assert resp.status == 404
    finally:
        await store.close()


async def test_a_customer_merge_the_router_cannot_confirm_is_carried_out_when_it_is_back(
    notifier: NotifierHarness, router_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customer_store, "ROUTER_WAIT_S", 1.0)
    store = Store(CoreSettings())
    try:
        await _two_customers(notifier, store)
        status, body = await notifier.post("/api/customers/cust-1/merge", {"other_id": "cust-2"})
        assert status == 503 and body["code"] == "router_unavailable", body
        async with serve(create_router(RouterSettings())):
            merged = await notifier.wait_for(
                "/api/customers/cust-2", lambda b: b["id"] == "cust-1", timeout=30
            )
        assert {i["channel"] for i in merged["identities"]} == {"mail", "facebook"}
        assert {c["id"] for c in merged["conversations"]} == {"c1", "c2"}
    finally:
        await store.close()


async def test_poison_message_is_listed_as_dead_letter_and_replay_processes_it(
    notifier: NotifierHarness,
) -> None:
    newer = notifier.routed(1, "c9").model_dump(mode="json")
    newer["schema_version"] = 99  # from a newer router: refused, not misread
    await notifier.bus.publish(subjects.routed("mail", "cs"), orjson.dumps(newer), msg_id="p1")
    await notifier.publish(notifier.routed(2, "c2"))  # the next one still flows
    await notifier.wait_for("/api/conversations/c2", lambda b: b["message_count"] == 1)
    letters = await notifier.wait_for("/api/dead-letters", lambda b: len(b["items"]) == 1)
    letter = letters["items"][0]
    assert letter["consumer"] == "notifier" and "schema_version 99" in letter["error"]
    assert letter["deliveries"] == 1 and letter["replayed_at"] is None
    # After the fix (here: the same message as the current schema) a replay goes through.
    fixed = DeadLetter(
        stream="ROUTED",
        consumer="notifier",
        subject="inbox.routed.mail.cs",
        data=notifier.routed(3, "c3").to_json().decode(),
        error="store was down",
        deliveries=5,
    )
    await notifier.bus.publish_model(subjects.dead_letter("ROUTED", "notifier"), fixed)
    letters = await notifier.wait_for("/api/dead-letters", lambda b: len(b["items"]) == 2)
    status, body = await notifier.post(f"/api/dead-letters/{letters['items'][0]['id']}/replay", {})
    assert status == 200 and body["subject"] == "inbox.routed.mail.cs"
    await notifier.wait_for("/api/conversations/c3", lambda b: b["message_count"] == 1)
    listed = await notifier.get("/api/dead-letters")
    assert listed["items"][0]["replayed_at"] is not None
    status, _ = await notifier.post("/api/dead-letters/99999/replay", {})
    assert status == 404


async def test_router_note_is_stored_and_auto_reply_is_sent_once(notifier: NotifierHarness) -> None:
    routed = notifier.routed(1, "c1", note="재입고 문의: 재고표 확인", auto_reply="접수되었습니다.")
    await notifier.publish(routed)
    await notifier.publish(routed, msg_id="redelivered")  # redelivery changes nothing
    detail = await notifier.wait_for("/api/conversations/c1", lambda b: len(b["messages"]) == 3)
    await asyncio.sleep(0.5)
    detail = await notifier.get("/api/conversations/c1")
    assert [m["kind"] for m in detail["messages"]] == ["message", "note", "auto_reply"]
    [out] = await collect(notifier.bus.js, "inbox.out.mail.cs", 1)
    assert OutboundReply.from_json(out.data).text == "접수되었습니다."
    info = await notifier.bus.js.stream_info(subjects.STREAM_OUTBOUND)
    assert info.state.messages == 1


async def test_sla_warning_and_breach_fire_once_per_deadline(notifier: NotifierHarness) -> None:
    now = utcnow()
    routed = notifier.routed(1, "c1")
    routed.decision.sla = SlaState(
        first_response_minutes=1, first_response_due=now + timedelta(seconds=1.5)
    )
    routed.message.received_at = now
    await notifier.publish(routed)
    events = await notifier.events(2, timeout=15, types="sla.warning,sla.breached")
    types = [e["data"]["type"] for e in events]
    assert types == ["sla.warning", "sla.breached"]
    assert events[1]["data"]["conversation"]["sla"]["breached"] is True
    await asyncio.sleep(1.0)  # several more timer ticks: nothing fires again
    again = await collect(notifier.bus.js, "inbox.events.sla.>", 2)
    with pytest.raises(TimeoutError):
        await collect(notifier.bus.js, "inbox.events.sla.>", 3, timeout=1.5)
    assert {m.subject for m in again} == {"inbox.events.sla.warning", "inbox.events.sla.breached"}


async def test_sse_filters_by_type_and_team(notifier: NotifierHarness) -> None:
    await notifier.publish(notifier.routed(1, "c1", team="shipping"))
    await notifier.publish(notifier.routed(2, "c2", team="returns"))
    events = await notifier.events(1, types="conversation.created", team="returns")
    assert events[0]["data"]["conversation_id"] == "c2"
    assert events[0]["data"]["type"] == "conversation.created"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/conversations"),
        ("GET", "/api/conversations/c1"),
        ("POST", "/api/conversations/c1/reply"),
        ("POST", "/api/conversations/c1/assign"),
        ("GET", "/api/canned-responses"),
        ("GET", "/api/customers/x"),
        ("GET", "/api/dead-letters"),
        ("GET", "/api/events"),
        ("GET", "/api/nothing-here"),
    ],
    ids=[
        "list",
        "detail",
        "reply",
        "assign",
        "canned",
        "customer",
        "dead-letters",
        "events",
        "unknown-path",
    ],
)
async def test_every_api_path_needs_a_token(
    notifier: NotifierHarness, method: str, path: str
) -> None:
    async with notifier.http.request(method, f"{notifier.url}{path}", json={}) as resp:
        assert resp.status == 401
        assert (await resp.json())["code"] == "unauthorized"
    async with notifier.http.request(
        method, f"{notifier.url}{path}", json={}, params={"access_token": "token-minji"}
    ) as resp:
        # ?access_token= is for EventSource only.
        assert (resp.status == 401) == (path != "/api/events")


async def test_openapi_document_describes_every_route(notifier: NotifierHarness) -> None:
    async with notifier.http.get(f"{notifier.url}/openapi.json") as resp:
        spec = await resp.json()
    assert spec["openapi"].startswith("3.1")
    assert {
        "/api/conversations",
        "/api/conversations/{conversation_id}/reply",
        "/api/events",
        "/api/dead-letters/{letter_id}/replay",
        "/api/customers/{customer_id}/merge",
    } <= set(spec["paths"])
    reply = spec["paths"]["/api/conversations/{conversation_id}/reply"]["post"]
    assert reply["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ReplyIn")
    assert "ConversationOut" in spec["components"]["schemas"]


async def test_stored_attachment_and_raw_mail_download_through_the_api(
    notifier: NotifierHarness,
) -> None:
    from urllib.parse import unquote

    from inbox_core.blobs import put_blob
    from inbox_core.schema import Attachment

    store = Store(CoreSettings())
    try:
        pdf = b"%PDF-1.4 receipt"
        ref = await put_blob(store.db, pdf, filename="영수증.pdf", content_type="application/pdf")
        raw = await put_blob(
            store.db, b"From: a@b\r\n\r\nhi", filename="raw.eml", content_type="message/rfc822"
        )
    finally:
        await store.close()
    routed = notifier.routed(1, "c1")
    routed.message.attachments = [
        Attachment(name="영수증.pdf", content_type="application/pdf", size=len(pdf), ref=ref)
    ]
    routed.message.raw_ref = raw
    await notifier.publish(routed)
    detail = await notifier.wait_for("/api/conversations/c1", lambda b: b["message_count"] == 1)
    message = detail["messages"][0]
    url = message["attachments"][0]["url"]
    assert url == f"/api/attachments/{ref}" and message["raw_url"] == f"/api/attachments/{raw}"
    auth = {"Authorization": "Bearer token-minji"}
    async with notifier.http.get(f"{notifier.url}{url}", headers=auth) as resp:
        assert resp.status == 200 and await resp.read() == pdf
        assert resp.headers["Content-Type"] == "application/pdf"
        assert "영수증.pdf" in unquote(resp.headers["Content-Disposition"])
    async with notifier.http.get(f"{notifier.url}{url}") as resp:
        assert resp.status == 401
    async with notifier.http.get(
        f"{notifier.url}/api/attachments/gridfs:{'0' * 64}", headers=auth
    ) as resp:
        assert resp.status == 404
    async with notifier.http.get(
        f"{notifier.url}/api/attachments/..%2F..%2Fetc%2Fpasswd", headers=auth
    ) as resp:
        assert resp.status == 404


async def test_conversation_shows_its_predecessor_and_its_successor(
    notifier: NotifierHarness,
) -> None:
    await notifier.publish(notifier.routed(1, "c-old"))
    later = notifier.routed(2, "c-new", text="또 문의드려요").model_copy(
        update={"linked_conversation_id": "c-old"}
    )
    await notifier.publish(later)
    await notifier.publish(notifier.routed(3, "c-other"))
    await notifier.wait_for("/api/conversations", lambda b: len(b["items"]) == 3)
    new = await notifier.get("/api/conversations/c-new")
    assert [c["id"] for c in new["linked_conversations"]] == ["c-old"]
    old = await notifier.get("/api/conversations/c-old")
    assert [c["id"] for c in old["linked_conversations"]] == ["c-new"]
    other = await notifier.get("/api/conversations/c-other")
    assert other["linked_conversations"] == []


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..\\..\\boot.ini", "_.._boot.ini"),
        ("a.pdf\r\nSet-Cookie: x=1", "a.pdf_Set-Cookie: x=1"),
        ('say "hi".txt', "say _hi_.txt"),
    ],
)
async def test_attachment_name_is_never_a_path_or_a_header(
    notifier: NotifierHarness, stored: str, shown: str
) -> None:
    from urllib.parse import unquote

    from inbox_core.blobs import put_blob

    store = Store(CoreSettings())
    try:
        ref = await put_blob(store.db, b"x", filename=stored, content_type="text/plain")
    finally:
        await store.close()
    auth = {"Authorization": "Bearer token-minji"}
    async with notifier.http.get(f"{notifier.url}/api/attachments/{ref}", headers=auth) as resp:
        assert resp.status == 200
        disposition = resp.headers["Content-Disposition"]
        assert "Set-Cookie" not in resp.headers
    assert disposition.startswith(f'attachment; filename="{shown}";')
    assert "/" not in unquote(disposition.split("filename*=UTF-8''")[1])
