"""Replies out: a reply on `inbox.out.mail.<account>` reaches the relay as a threaded mail and
a DeliveryReport says so on `inbox.delivery.mail.<account>`; refusals are reported as failed."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from inbox_core.schema import Customer, DeliveryReport, DeliveryStatus, OutboundReply


def make_reply(**overrides: Any) -> OutboundReply:
    fields: dict[str, Any] = {
        "conversation_id": "c42",
        "channel": "mail",
        "account": "cs",
        "customer": Customer(id="hong@naver.com", email="hong@naver.com", name="홍길동"),
        "thread_keys": ["mail:svc-1@naver.com"],
        "in_reply_to": "svc-1@naver.com",
        "subject": "배송 문의드립니다",
        "text": "고객님, 오늘 발송되었습니다.\n감사합니다.",
        "agent": "minji",
        "context": {"conversation_number": 1042},
    }
    fields.update(overrides)
    return OutboundReply(**fields)


async def send_reply(bus_reader: Any, reply: OutboundReply) -> None:
    await bus_reader.publish(f"inbox.out.mail.{reply.account}", reply.to_json(), f"out:{reply.id}")


async def delivery_report(bus_reader: Any, poll: Any, account: str = "cs") -> DeliveryReport:
    async def reports() -> list[Any]:
        return await bus_reader.messages("ROUTED", f"inbox.delivery.mail.{account}")

    [stored] = await poll(reports, "a delivery report")
    return DeliveryReport.from_json(stored.data)


async def test_reply_reaches_the_relay_threaded_and_is_reported_sent(
    start_mail: Any, relay_sink: Any, bus_reader: Any, poll: Any
) -> None:
    await start_mail(
        INBOX_MAIL_DOMAINS="shop.example", SMTP_RELAY_URL=f"smtp://127.0.0.1:{relay_sink.port}"
    )
    reply = make_reply()

    await send_reply(bus_reader, reply)

    report = await delivery_report(bus_reader, poll)
    assert report.status == DeliveryStatus.SENT, report.error
    assert (report.reply_id, report.conversation_id) == (reply.id, "c42")
    [envelope] = relay_sink.received
    assert envelope.mail_from == "cs@shop.example" and envelope.rcpt_tos == ["hong@naver.com"]
    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["From"] == "cs@shop.example" and mail["To"] == "hong@naver.com"
    assert mail["Subject"] == "Re: 배송 문의드립니다 [#1042]"
    assert mail["In-Reply-To"] == "<svc-1@naver.com>"
    assert mail["References"] == "<svc-1@naver.com>"
    assert report.external_id == mail["Message-ID"].strip("<>")
    assert mail.get_content().rstrip("\n") == "고객님, 오늘 발송되었습니다.\n감사합니다."


@pytest.mark.parametrize(
    ("with_relay", "refuse_with", "overrides", "error"),
    [
        (False, None, {}, "no SMTP_RELAY_URL configured"),
        (True, None, {"subject": "문의\r\nBcc: victim@example.com"}, "header injection"),
        (True, "550 5.1.1 User unknown", {}, "550 5.1.1 User unknown"),
    ],
    ids=["no_relay", "header_injection", "relay_refuses_recipient"],
)
async def test_undeliverable_reply_is_reported_failed(
    start_mail: Any,
    relay_sink: Any,
    bus_reader: Any,
    poll: Any,
    with_relay: bool,
    refuse_with: str | None,
    overrides: dict[str, Any],
    error: str,
) -> None:
    relay_sink.refuse_with = refuse_with
    env = {"SMTP_RELAY_URL": f"smtp://127.0.0.1:{relay_sink.port}"} if with_relay else {}
    await start_mail(**env)

    await send_reply(bus_reader, make_reply(**overrides))

    report = await delivery_report(bus_reader, poll)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and error in report.error
    assert relay_sink.received == []
