"""The agent desk on the whole stack (processes, real SMTP): a bulk reply answers fifty
conversations and fifty mails reach the customers; merged and split conversations take the
customer's next mail where it belongs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from .helpers import SmtpSink, mail_text, send_mail

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer e2e-agent-token"}  # INBOX_AGENT_TOKENS in conftest


@pytest.fixture(scope="module")
def stack_env(smtp_sink: tuple[SmtpSink, int]) -> dict[str, str]:
    return {"SMTP_RELAY_URL": f"smtp://127.0.0.1:{smtp_sink[1]}"}


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def get(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.base}{path}", headers=AUTH, params=params) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.http.post(f"{self.base}{path}", headers=AUTH, json=body) as r:
            return r.status, await r.json()

    async def search(self, needle: str, count: int = 1, timeout: float = 60) -> list[Any]:
        async with asyncio.timeout(timeout):
            while True:
                items = (await self.get("/api/conversations", q=needle, limit="200"))["items"]
                if len(items) >= count:
                    return list(items)
                await asyncio.sleep(0.3)

    async def wait_detail(self, conv_id: str, check: Any, timeout: float = 30) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                detail = await self.get(f"/api/conversations/{conv_id}")
                if check(detail):
                    return detail
                await asyncio.sleep(0.3)


@pytest.fixture
async def api(stack: Any) -> Any:
    async with aiohttp.ClientSession() as http:
        yield Api(http, stack.api)


async def _wait_mails(sink: SmtpSink, needle: str, count: int, timeout: float = 90) -> list[Any]:
    async with asyncio.timeout(timeout):
        while True:
            found = sink.matching(needle)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.3)


async def test_bulk_reply_answers_fifty_conversations_and_fifty_mails_are_delivered(
    stack: Any, api: Api, smtp_sink: tuple[SmtpSink, int]
) -> None:
    sink, _ = smtp_sink
    tag = uuid.uuid4().hex[:8]
    customers = [(f"고객{i:02d}", f"buyer{i:02d}.{tag}@example.com") for i in range(50)]
    for name, address in customers:
        await asyncio.to_thread(
            send_mail,
            stack.smtp_port,
            f"블랙프라이데이 쿠폰 문의 {tag}",
            "쿠폰이 적용되지 않아요.",
            f"{name} <{address}>",
        )
    convs = await api.search(tag, count=50)
    assert len(convs) == 50  # fifty customers: fifty conversations
    status, body = await api.post(
        "/api/conversations/bulk",
        {
            "ids": [c["id"] for c in convs],
            "action": "reply",
            "text": "{{customer.name}}님, 쿠폰 오류가 해결되었습니다. 다시 시도해 주세요. " + tag,
        },
    )
    assert status == 200, body
    assert all(r["ok"] for r in body["results"]) and len(body["results"]) == 50
    mails = await _wait_mails(sink, f"다시 시도해 주세요. {tag}", 50)
    assert len(mails) == 50
    by_recipient = {str(m["To"]).split("<")[-1].rstrip(">"): mail_text(m) for m in mails}
    for name, address in customers:  # each customer got their own, named, reply
        assert by_recipient[address].startswith(f"{name}님, 쿠폰 오류가 해결되었습니다.")
    detail = await api.wait_detail(
        convs[0]["id"], lambda d: d["messages"][-1]["delivery"]["status"] == "sent"
    )
    assert detail["messages"][-1]["direction"] == "out"


async def test_after_a_merge_the_customer_s_next_mail_lands_in_the_merged_conversation(
    stack: Any, api: Api, smtp_sink: tuple[SmtpSink, int]
) -> None:
    sink, _ = smtp_sink
    tag = uuid.uuid4().hex[:8]
    sender = f"이서연 <seoyeon.{tag}@example.com>"
    await asyncio.to_thread(
        send_mail, stack.smtp_port, f"코트 배송 문의 {tag}", "언제 오나요?", sender
    )
    [first] = await api.search(f"코트 배송 문의 {tag}")
    # A new mail instead of a reply: a second conversation for the same case.
    second_id = await asyncio.to_thread(
        send_mail, stack.smtp_port, f"주문 변경 {tag}", "사이즈를 M으로 바꿔 주세요", sender
    )
    [second] = await api.search(f"주문 변경 {tag}")
    assert second["id"] != first["id"]
    status, body = await api.post(
        f"/api/conversations/{first['id']}/merge", {"other_id": second["id"]}
    )
    assert status == 200, body
    # The customer answers their second mail: it joins the merged conversation.
    await asyncio.to_thread(
        send_mail,
        stack.smtp_port,
        f"Re: 주문 변경 {tag}",
        "빨리 부탁드려요",
        sender,
        in_reply_to=second_id,
    )
    detail = await api.wait_detail(
        first["id"], lambda d: any("빨리 부탁드려요" in m["text"] for m in d["messages"])
    )
    texts = [m["text"] for m in detail["messages"] if m["direction"] == "in"]
    assert [t.strip() for t in texts] == [
        "언제 오나요?",
        "사이즈를 M으로 바꿔 주세요",
        "빨리 부탁드려요",
    ]
    merged = await api.get(f"/api/conversations/{second['id']}")
    assert merged["status"] == "merged" and merged["messages"] == []
    status, _ = await api.post(
        f"/api/conversations/{first['id']}/reply", {"text": f"M으로 변경했습니다 {tag}"}
    )
    assert status == 201
    [mail] = await _wait_mails(sink, f"M으로 변경했습니다 {tag}", 1)
    assert f"seoyeon.{tag}@example.com" in str(mail["To"])


async def test_after_a_split_the_customer_s_reply_to_the_split_part_follows_it(
    stack: Any, api: Api
) -> None:
    tag = uuid.uuid4().hex[:8]
    sender = f"박지훈 <jihoon.{tag}@example.com>"
    first_id = await asyncio.to_thread(
        send_mail, stack.smtp_port, f"코트 배송 {tag}", "코트 언제 오나요?", sender
    )
    [conv] = await api.search(f"코트 배송 {tag}")
    # The customer reuses the thread for a new topic.
    refund_id = await asyncio.to_thread(
        send_mail,
        stack.smtp_port,
        f"Re: 코트 배송 {tag}",
        "그리고 니트 환불은 어떻게 되나요?",
        sender,
        in_reply_to=first_id,
    )
    detail = await api.wait_detail(conv["id"], lambda d: d["message_count"] == 2)
    refund = next(m for m in detail["messages"] if "환불" in m["text"])
    status, body = await api.post(
        f"/api/conversations/{conv['id']}/split", {"message_ids": [refund["id"]]}
    )
    assert status == 201, body
    new_id = body["conversation"]["id"]
    await asyncio.to_thread(
        send_mail,
        stack.smtp_port,
        f"Re: 코트 배송 {tag}",
        "환불 계좌는 국민은행입니다",
        sender,
        in_reply_to=refund_id,
    )
    split_part = await api.wait_detail(new_id, lambda d: d["message_count"] == 2)
    assert [m["text"].strip() for m in split_part["messages"] if m["direction"] == "in"] == [
        "그리고 니트 환불은 어떻게 되나요?",
        "환불 계좌는 국민은행입니다",
    ]
    original = await api.get(f"/api/conversations/{conv['id']}")
    assert original["message_count"] == 1
    assert new_id in [c["id"] for c in original["linked_conversations"]]


async def test_a_reply_with_a_file_reaches_the_customer_as_a_mime_part(
    stack: Any, api: Api, smtp_sink: tuple[SmtpSink, int]
) -> None:
    sink, _ = smtp_sink
    tag = uuid.uuid4().hex[:8]
    await asyncio.to_thread(
        send_mail,
        stack.smtp_port,
        f"사이즈 문의 {tag}",
        "코트 사이즈표 있나요?",
        f"최유진 <yujin.{tag}@example.com>",
    )
    [conv] = await api.search(f"사이즈 문의 {tag}")
    png = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 64
    form = aiohttp.FormData()
    form.add_field("file", png, filename="사이즈표.png", content_type="application/octet-stream")
    async with api.http.post(f"{stack.api}/api/attachments", data=form, headers=AUTH) as r:
        assert r.status == 201, await r.text()
        file = await r.json()
    assert file["content_type"] == "image/png"
    status, body = await api.post(
        f"/api/conversations/{conv['id']}/reply",
        {"text": f"사이즈표 첨부드립니다 {tag}", "attachments": [file["ref"]]},
    )
    assert status == 201, body
    [mail] = await _wait_mails(sink, f"사이즈표 첨부드립니다 {tag}", 1)
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "사이즈표.png" and part.get_content_type() == "image/png"
    assert part.get_content() == png


async def test_after_a_customer_merge_the_other_address_s_next_mail_is_the_merged_customer_s(
    stack: Any, api: Api
) -> None:
    tag = uuid.uuid4().hex[:8]
    home, work = f"minsu.{tag}@example.com", f"kim.{tag}@work.example.com"
    await asyncio.to_thread(
        send_mail, stack.smtp_port, f"반품 문의 {tag}", "반품하고 싶어요", f"김민수 <{home}>"
    )
    await asyncio.to_thread(
        send_mail, stack.smtp_port, f"교환 문의 {tag}", "회사 메일로 씁니다", f"김민수 <{work}>"
    )
    [by_home] = await api.search(f"반품 문의 {tag}")
    [by_work] = await api.search(f"교환 문의 {tag}")
    assert by_home["customer_id"] != by_work["customer_id"]  # two addresses: two customers
    status, merged = await api.post(
        f"/api/customers/{by_home['customer_id']}/merge", {"other_id": by_work["customer_id"]}
    )
    assert status == 200, merged
    assert set(merged["emails"]) == {home, work}
    # Right after the answer: a new mail from the work address belongs to the merged customer.
    await asyncio.to_thread(
        send_mail, stack.smtp_port, f"배송 문의 {tag}", "언제 오나요?", f"김민수 <{work}>"
    )
    [later] = await api.search(f"배송 문의 {tag}")
    assert later["customer_id"] == by_home["customer_id"]
    customer = await api.get(f"/api/customers/{by_work['customer_id']}")  # the old id resolves
    assert customer["id"] == by_home["customer_id"]
    assert {c["id"] for c in customer["conversations"]} == {
        by_home["id"],
        by_work["id"],
        later["id"],
    }


async def test_the_answer_to_our_reply_joins_the_conversation_by_our_message_id_alone(
    stack: Any, api: Api, smtp_sink: tuple[SmtpSink, int]
) -> None:
    sink, _ = smtp_sink
    tag = uuid.uuid4().hex[:8]
    sender = f"최유진 <yujin.{tag}@example.com>"
    await asyncio.to_thread(send_mail, stack.smtp_port, f"환불 요청 {tag}", "환불해 주세요", sender)
    [conv] = await api.search(f"환불 요청 {tag}")
    status, _ = await api.post(
        f"/api/conversations/{conv['id']}/reply", {"text": f"계좌번호를 알려 주세요 {tag}"}
    )
    assert status == 201
    [ours] = await _wait_mails(sink, f"계좌번호를 알려 주세요 {tag}", 1)
    await api.wait_detail(
        conv["id"], lambda d: d["messages"][-1].get("delivery", {}).get("status") == "sent"
    )
    # A new subject and only our Message-ID to go by (the router claimed it when it was sent).
    await asyncio.to_thread(
        send_mail,
        stack.smtp_port,
        f"계좌 {tag}",
        "국민은행 123-45-6789 입니다",
        sender,
        in_reply_to=str(ours["Message-ID"]),
    )
    detail = await api.wait_detail(
        conv["id"], lambda d: any("국민은행" in m["text"] for m in d["messages"]), timeout=60
    )
    assert [m["direction"] for m in detail["messages"] if m["kind"] == "message"] == [
        "in",
        "out",
        "in",
    ]
