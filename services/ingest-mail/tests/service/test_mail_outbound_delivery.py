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
    assert mail["From"] == "cs@shop.example" and mail["To"] == "홍길동 <hong@naver.com>"
    assert mail["Subject"] == "Re: 배송 문의드립니다 [#1042]"
    assert mail["In-Reply-To"] == "<svc-1@naver.com>"
    assert mail["References"] == "<svc-1@naver.com>"
    assert (
        report.external_id == mail["Message-ID"].strip("<>") == f"inbox.c42.{reply.id}@shop.example"
    )
    text = mail.get_body(("plain",))
    assert text is not None
    assert text.get_content().rstrip("\n") == "고객님, 오늘 발송되었습니다.\n감사합니다."


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


async def test_relay_deferring_once_is_retried_and_the_reply_sent_once(
    start_mail: Any, relay_sink: Any, bus_reader: Any, poll: Any
) -> None:
    relay_sink.defer_first = 1
    await start_mail(SMTP_RELAY_URL=f"smtp://127.0.0.1:{relay_sink.port}")

    await send_reply(bus_reader, make_reply())

    report = await delivery_report(bus_reader, poll)
    assert report.status == DeliveryStatus.SENT, report.error
    assert len(relay_sink.received) == 1


AUTOMATIC = {"automatic": True, "conversation_number": 1042}


@pytest.mark.parametrize(
    ("context", "customer", "error"),
    [
        ({**AUTOMATIC, "flag_reasons": ["out_of_office_subject"]}, None, "was automatic"),
        ({**AUTOMATIC, "suppress_auto_reply": True}, None, "asked for no automatic"),
        (AUTOMATIC, Customer(id="x", email="no-reply@vendor.example"), "no-reply address"),
    ],
    ids=["to_an_auto_reply", "sender_suppresses", "no_reply_address"],
)
async def test_automatic_reply_that_could_loop_is_not_sent(
    start_mail: Any,
    relay_sink: Any,
    bus_reader: Any,
    poll: Any,
    context: dict[str, Any],
    customer: Customer | None,
    error: str,
) -> None:
    await start_mail(SMTP_RELAY_URL=f"smtp://127.0.0.1:{relay_sink.port}")
    overrides: dict[str, Any] = {"context": context, "agent": "router"}
    if customer is not None:
        overrides["customer"] = customer

    await send_reply(bus_reader, make_reply(**overrides))

    report = await delivery_report(bus_reader, poll)
    assert report.status == DeliveryStatus.FAILED
    assert report.error is not None and error in report.error
    assert relay_sink.received == []


async def test_automatic_replies_per_sender_are_limited_per_day(
    start_mail: Any, relay_sink: Any, bus_reader: Any, poll: Any
) -> None:
    await start_mail(
        SMTP_RELAY_URL=f"smtp://127.0.0.1:{relay_sink.port}", INBOX_MAIL_AUTO_REPLY_LIMIT="2"
    )
    replies = [make_reply(context=AUTOMATIC, agent="router") for _ in range(3)]
    for reply in replies:
        await send_reply(bus_reader, reply)

    async def reports() -> list[DeliveryReport]:
        found = await bus_reader.messages("ROUTED", "inbox.delivery.mail.cs")
        return [DeliveryReport.from_json(m.data) for m in found] if len(found) == 3 else []

    by_reply = {r.reply_id: r for r in await poll(reports, "three delivery reports")}
    statuses = [by_reply[r.id].status for r in replies]
    assert sorted(statuses) == [DeliveryStatus.FAILED, DeliveryStatus.SENT, DeliveryStatus.SENT]
    failed = next(r for r in by_reply.values() if r.status == DeliveryStatus.FAILED)
    assert failed.error is not None and "daily limit of 2" in failed.error
    assert len(relay_sink.received) == 2
    assert all(
        message_from_bytes(e.original_content)["Auto-Submitted"] == "auto-replied"
        for e in relay_sink.received
    )
