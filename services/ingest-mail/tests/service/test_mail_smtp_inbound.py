"""SMTP in, against a real nats-server and store: 250 only after the PubAck, 550/552/451 as
the contract says, duplicates stored once, nothing lost while the bus is down."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from inbox_core.schema import InboundMessage

TIMEOUT = 15.0


async def smtp_send(
    port: int, recipients: list[str], data: bytes, sender: str = "hong@naver.com"
) -> tuple[int, str]:
    """One SMTP transaction: the server's final answer, or its first refusal, as (code, text)."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=TIMEOUT, start_tls=False)
    await client.connect()
    try:
        await client.ehlo()
        await client.mail(sender)
        for recipient in recipients:
            await client.rcpt(recipient)
        response = await client.data(data)
        return response.code, response.message
    except aiosmtplib.SMTPResponseException as err:
        return err.code, err.message
    finally:
        client.close()


def korean_mail(message_id: str = "svc-1@naver.com", to: str = "cs@shop.example") -> bytes:
    message = EmailMessage()
    message["From"] = "홍길동 <Hong@Naver.com>"
    message["To"] = to
    message["Subject"] = "배송 문의드립니다"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("주문한 운동화가 아직 안 왔어요.\n확인 부탁드립니다.")
    return message.as_bytes()


async def inbound(bus_reader: Any, account: str = "cs") -> list[Any]:
    return await bus_reader.messages("INBOUND", f"inbox.in.mail.{account}")


async def test_korean_mail_is_on_the_bus_when_smtp_answers_250(
    start_mail: Any, bus_reader: Any
) -> None:
    service = await start_mail(INBOX_MAIL_DOMAINS="shop.example")

    code, _ = await smtp_send(service.smtp_port, ["CS@Shop.Example"], korean_mail())

    assert code == 250
    [stored] = await inbound(bus_reader)
    assert stored.headers["Nats-Msg-Id"] == "mail:cs:svc-1@naver.com"
    message = InboundMessage.from_json(stored.data)
    assert message.subject == "배송 문의드립니다"
    assert message.customer.id == "hong@naver.com" and message.customer.name == "홍길동"
    assert message.text == "주문한 운동화가 아직 안 왔어요.\n확인 부탁드립니다."
    assert message.thread_keys == ["mail:svc-1@naver.com"]
    assert message.context["recipient"] == "CS@Shop.Example"


async def test_one_message_per_recipient_account(start_mail: Any, bus_reader: Any) -> None:
    service = await start_mail()
    recipients = ["cs@shop.example", "cs+order77@shop.example", "sales@other.example"]

    code, _ = await smtp_send(service.smtp_port, recipients, korean_mail("multi@naver.com"))

    assert code == 250
    [cs] = await inbound(bus_reader, "cs")
    [sales] = await inbound(bus_reader, "sales")
    assert cs.headers["Nats-Msg-Id"] == "mail:cs:multi@naver.com"
    assert sales.headers["Nats-Msg-Id"] == "mail:sales:multi@naver.com"


@pytest.mark.parametrize(
    ("recipient", "code"),
    [("cs@evil.example", 550), ("cs@shop.example.evil", 550), ("+tag@shop.example", 553)],
    ids=["foreign_domain", "lookalike_domain", "no_usable_account"],
)
async def test_recipient_is_refused(
    start_mail: Any, bus_reader: Any, recipient: str, code: int
) -> None:
    service = await start_mail(INBOX_MAIL_DOMAINS="shop.example,help.example")

    answer, text = await smtp_send(service.smtp_port, [recipient], korean_mail())

    assert answer == code, text
    assert await bus_reader.messages("INBOUND") == []


async def test_oversize_mail_gets_552_and_is_not_published(
    start_mail: Any, bus_reader: Any
) -> None:
    service = await start_mail(INBOX_MAIL_MAX_BYTES="4096")
    big = korean_mail() + ("가나다라마바사 아자차카타파하\r\n" * 500).encode()

    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], big)

    assert code == 552
    assert await bus_reader.messages("INBOUND") == []


async def test_long_lines_are_accepted_not_bounced(start_mail: Any, bus_reader: Any) -> None:
    service = await start_mail()
    mail = korean_mail("long-line@naver.com") + b"<p>" + "긴 줄 ".encode() * 1000 + b"</p>\r\n"

    code, text = await smtp_send(service.smtp_port, ["cs@shop.example"], mail)

    assert code == 250, text
    assert len(await inbound(bus_reader)) == 1


async def test_same_mail_twice_is_stored_once(start_mail: Any, bus_reader: Any) -> None:
    service = await start_mail()

    first, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], korean_mail("dup@naver.com"))
    again, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], korean_mail("dup@naver.com"))

    assert (first, again) == (250, 250)
    assert len(await inbound(bus_reader)) == 1


async def test_mail_without_message_id_or_headers_is_published_not_dropped(
    start_mail: Any, bus_reader: Any
) -> None:
    service = await start_mail()

    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], "헤더 없는 메일\r\n".encode())

    assert code == 250
    [stored] = await inbound(bus_reader)
    message = InboundMessage.from_json(stored.data)
    assert message.text == "헤더 없는 메일"
    assert message.customer.email == "hong@naver.com"  # from the envelope, MAIL FROM


async def test_bus_down_answers_451_and_the_retry_lands_once(
    start_mail: Any, bus_reader: Any, nats_server: Any, poll: Any
) -> None:
    service = await start_mail()
    mail = korean_mail("retry@naver.com")
    nats_server.process.kill()

    code, text = await smtp_send(service.smtp_port, ["cs@shop.example"], mail)
    assert code == 451 and text.startswith("4.3.0"), text

    await asyncio.to_thread(nats_server.restart)

    async def healthy() -> bool:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{service.http_url}/healthz", timeout=aiohttp.ClientTimeout(total=3)) as resp,
        ):
            return resp.status == 200

    await poll(healthy, "the service to reconnect to the bus", timeout=30)
    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], mail)
    assert code == 250
    [stored] = await inbound(bus_reader)
    assert stored.headers["Nats-Msg-Id"] == "mail:cs:retry@naver.com"


async def test_healthz_reports_the_smtp_listener(start_mail: Any) -> None:
    service = await start_mail()
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{service.http_url}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as resp,
    ):
        body = await resp.json()
    assert resp.status == 200
    assert body["checks"]["smtp"]["listening"] is True
    assert body["checks"]["smtp"]["port"] == service.smtp_port
