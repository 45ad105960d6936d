"""SMTP in, against a real nats-server and store: 250 only after the PubAck, 550/552/451 as
the contract says, duplicates stored once, nothing lost while the bus is down."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import tracemalloc
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from inbox_core.blobs import get_blob
from inbox_core.schema import DeliveryReport, DeliveryStatus, InboundMessage

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
    assert body["checks"]["smtp"]["listening"] is True and body["checks"]["smtp"]["ok"] is True
    assert body["checks"]["smtp"]["port"] == service.smtp_port
    assert body["checks"]["smtp"]["starttls"] is False


# --- STARTTLS ---------------------------------------------------------------------------------
@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=mx.test", "-addext",
         "subjectAltName=DNS:mx.test,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


async def test_starttls_is_offered_and_mail_over_it_is_accepted(
    start_mail: Any, bus_reader: Any, self_signed: tuple[Path, Path]
) -> None:
    cert, key = self_signed
    service = await start_mail(INBOX_SMTP_TLS_CERT=str(cert), INBOX_SMTP_TLS_KEY=str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=service.smtp_port, timeout=TIMEOUT, start_tls=False,
        tls_context=trust,
    )  # fmt: skip
    await client.connect()
    try:
        await client.ehlo()
        assert client.supports_extension("starttls")
        await client.starttls()
        errors, _ = await client.sendmail("hong@naver.com", ["cs@shop.example"], korean_mail())
        assert errors == {}
    finally:
        client.close()

    [stored] = await inbound(bus_reader)
    assert InboundMessage.from_json(stored.data).context["smtp_tls"] is True


async def test_required_tls_refuses_mail_in_the_clear(
    start_mail: Any, bus_reader: Any, self_signed: tuple[Path, Path]
) -> None:
    cert, key = self_signed
    service = await start_mail(
        INBOX_SMTP_TLS_CERT=str(cert), INBOX_SMTP_TLS_KEY=str(key), INBOX_SMTP_REQUIRE_TLS="true"
    )

    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], korean_mail())

    assert code == 530
    assert await bus_reader.messages("INBOUND") == []


# --- size limit with bounded memory ---------------------------------------------------------
async def test_endless_line_far_over_the_limit_gets_552_with_bounded_memory(
    start_mail: Any, bus_reader: Any
) -> None:
    service = await start_mail(INBOX_MAIL_MAX_BYTES=str(64 * 1024))
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", service.smtp_port), TIMEOUT
    )

    async def command(line: bytes) -> bytes:
        writer.write(line + b"\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), TIMEOUT)

    try:
        await asyncio.wait_for(reader.readline(), TIMEOUT)  # greeting
        assert (await command(b"HELO client.test")).startswith(b"250")
        assert (await command(b"MAIL FROM:<hong@naver.com>")).startswith(b"250")
        assert (await command(b"RCPT TO:<cs@shop.example>")).startswith(b"250")
        assert (await command(b"DATA")).startswith(b"354")
        chunk = b"x" * (64 * 1024)
        tracemalloc.start()
        try:
            for _ in range(128):  # 8 MiB, 128 times the limit, and not one line break
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), TIMEOUT)
            answer = await command(b"\r\n.")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        writer.close()

    assert answer.startswith(b"552"), answer
    assert peak < 4 * 1024 * 1024, f"the server kept {peak} bytes of an 8 MiB line"
    assert await bus_reader.messages("INBOUND") == []


# --- raw mail and files kept ------------------------------------------------------------------
async def test_raw_mail_and_attachment_are_kept_and_referenced(
    start_mail: Any, bus_reader: Any, core_env: dict[str, str]
) -> None:
    service = await start_mail()
    message = EmailMessage()
    message["From"] = "한지민 <jimin@gmail.com>"
    message["To"] = "cs@shop.example"
    message["Subject"] = "불량 사진"
    message["Message-ID"] = "<kept-1@gmail.com>"
    message.set_content("사진 첨부합니다.")
    message.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image", "png", filename="흠집.png")
    raw = message.as_bytes()

    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], raw)

    assert code == 250
    [stored] = await inbound(bus_reader)
    published = InboundMessage.from_json(stored.data)
    [attachment] = published.attachments
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(core_env["MONGODB_URL"])
    try:
        db = client[core_env["INBOX_MONGODB_DB"]]
        assert published.raw_ref is not None and attachment.ref is not None
        kept, _, _ = await asyncio.wait_for(get_blob(db, published.raw_ref), TIMEOUT)
        assert kept.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
        data, name, content_type = await asyncio.wait_for(get_blob(db, attachment.ref), TIMEOUT)
        assert (name, content_type, len(data)) == ("흠집.png", "image/png", attachment.size)
        assert data.startswith(b"\x89PNG")
    finally:
        await client.close()


async def test_store_down_answers_451_and_nothing_is_published(
    start_mail: Any, bus_reader: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await start_mail()

    async def store_down(*args: Any, **kwargs: Any) -> str:
        raise AutoReconnect("store unreachable")

    monkeypatch.setattr("inbox_ingest_mail.intake.put_blob", store_down)

    code, text = await smtp_send(service.smtp_port, ["cs@shop.example"], korean_mail())

    assert code == 451, text
    assert await bus_reader.messages("INBOUND") == []


# --- bounces ------------------------------------------------------------------------------------
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"


async def test_bounce_of_our_reply_is_recorded_as_its_delivery_failure(
    start_mail: Any, bus_reader: Any, poll: Any
) -> None:
    service = await start_mail(INBOX_MAIL_DOMAINS="shop.example")
    dsn = (FIXTURES / "dsn_bounce_of_our_reply.eml").read_bytes()

    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], dsn, sender="")

    assert code == 250

    async def reports() -> list[Any]:
        return await bus_reader.messages("ROUTED", "inbox.delivery.mail.cs")

    [stored] = await poll(reports, "the delivery failure")
    report = DeliveryReport.from_json(stored.data)
    assert (report.reply_id, report.conversation_id) == ("r3003", "c42")
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None
    assert "5.1.1" in report.error and "nobody@naver.com" in report.error
    [bounce] = await inbound(bus_reader)
    message = InboundMessage.from_json(bounce.data)
    assert message.flags.bounce and "null_reverse_path" in message.context["flag_reasons"]
    assert message.references == ["mail:inbox.c42.r3003@shop.example"]


async def test_delayed_delivery_notice_is_no_failure(
    start_mail: Any, bus_reader: Any, poll: Any
) -> None:
    service = await start_mail(INBOX_MAIL_DOMAINS="shop.example")
    dsn = (FIXTURES / "dsn_delayed_temporary.eml").read_bytes()

    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], dsn, sender="")

    assert code == 250
    assert len(await inbound(bus_reader)) == 1  # published (flagged) after its PubAck …
    assert await bus_reader.messages("ROUTED") == []  # … and no failure reported


BROKEN_MAILS = {
    "truncated_multipart": (
        b"From: kim@example.com\r\nSubject: =?UTF-8?B?67Cw7IahIOusuOydmA==?=\r\n"
        b"Message-ID: <broken-1@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + "주문 번호 1234 배송 문의".encode()
        + b"\r\n--b1\r\nContent-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK"
    ),
    "bad_base64": (
        b"From: kim@example.com\r\nMessage-ID: <broken-2@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"7KO866y4!!!not*base64@@\r\n"
    ),
    "missing_boundary": (
        b"From: kim@example.com\r\nMessage-ID: <broken-3@example.com>\r\n"
        b"Content-Type: multipart/alternative\r\n\r\n" + "경계 없는 본문입니다".encode() + b"\r\n"
    ),
    "binary_garbage": (
        b"From: kim@example.com\r\nMessage-ID: <broken-4@example.com>\r\n\r\n"
        + bytes(range(1, 256)) * 4
        + b"\r\n"
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MAILS))
async def test_malformed_mime_is_stored_as_best_it_can_with_the_raw_mail_kept(
    start_mail: Any, bus_reader: Any, case: str
) -> None:
    service = await start_mail(INBOX_MAIL_DOMAINS="shop.example")

    code, _ = await smtp_send(service.smtp_port, ["cs@shop.example"], BROKEN_MAILS[case])

    assert code == 250
    [stored] = await inbound(bus_reader)
    message = InboundMessage.from_json(stored.data)
    assert message.customer.id == "kim@example.com"
    assert message.raw_ref, "the mail as received is kept"
    if case in ("truncated_multipart", "missing_boundary"):
        assert ("배송 문의" in message.text) or ("경계 없는 본문" in message.text)
