"""How the API shows stored documents: conversations (their SLA), messages, attachments,
customers' identities, dead letters, file names."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from inbox_core.schema import DeadLetter
from inbox_notifier.attachment_files import content_disposition, download_name, upload_name
from inbox_notifier.customers import identity_parts
from inbox_notifier.dead_letters import letter_data, replay_headers
from inbox_notifier.models import ConversationDetail
from inbox_notifier.queue import attachment_url, conversation_view, message_view

T0 = datetime(2025, 10, 6, 1, 0, tzinfo=UTC)


def _conv(**extra: object) -> dict[str, object]:
    return {
        "_id": "c1",
        "number": 7,
        "status": "open",
        "channel": "mail",
        "account": "cs",
        "customer": {"id": "kim@example.com", "name": "김민수", "secret": "x"},
        "sla": {"policy": "normal", "first_response_due": T0 + timedelta(hours=8)},
        "sla_deadline": T0 + timedelta(hours=8),
        "sla_warn_from": T0 + timedelta(hours=6),
        **extra,
    }


def test_conversation_view_fills_defaults_and_keeps_only_customer_fields() -> None:
    view = conversation_view(_conv())
    assert view["category"] == "general"
    assert view["tags"] == [] and view["version"] == 0 and view["message_count"] == 0
    assert view["customer"] == {"id": "kim@example.com", "name": "김민수", "email": None,
                                "phone": None}  # fmt: skip
    assert view["sla"]["warn_at"] == T0 + timedelta(hours=6)
    assert view["sla"]["paused"] is False and view["sla"]["breached"] is False


def test_answered_conversation_shows_no_first_response_due() -> None:
    sla = {"first_response_due": T0, "first_response_at": T0 - timedelta(minutes=5)}
    view = conversation_view(_conv(sla=sla, sla_deadline=None))
    assert view["sla"]["first_response_due"] is None
    assert view["sla"]["first_response_at"] == T0 - timedelta(minutes=5)
    assert view["sla"]["warn_at"] is None  # no running deadline


def test_paused_conversation_and_its_snooze() -> None:
    sla = {"paused_remaining_s": 0.0}
    pending = conversation_view(_conv(status="pending", sla=sla, snoozed_until=T0))
    assert pending["sla"]["paused"] is True and pending["snoozed_until"] == T0
    assert conversation_view(_conv(snoozed_until=T0))["snoozed_until"] is None


def test_conversation_view_is_a_valid_detail() -> None:
    ConversationDetail.model_validate(
        {**conversation_view(_conv()), "messages": [], "linked_conversations": []}
    )


def test_message_view_defaults() -> None:
    view = message_view({"_id": "m1", "direction": "in"})
    assert view["kind"] == "message" and view["text"] == ""
    assert view["attachments"] == [] and view["deleted_on_platform"] is False


@pytest.mark.parametrize(
    ("ref", "url", "expected"),
    [
        ("gridfs:abc", None, "/api/attachments/gridfs:abc"),
        ("gridfs:abc", "https://cdn/x", "/api/attachments/gridfs:abc"),
        (None, "https://cdn/x", "https://cdn/x"),
        ("https://platform/file", None, "https://platform/file"),
        ("s3:elsewhere", None, None),
    ],
    ids=["stored", "stored-wins", "platform-link", "ref-is-a-link", "unknown-ref"],
)
def test_attachment_url(ref: str | None, url: str | None, expected: str | None) -> None:
    assert attachment_url(ref, url) == expected


@pytest.mark.parametrize(
    ("identity", "parts"),
    [
        ("kakao:shop:u1", {"channel": "kakao", "account": "shop", "id": "u1"}),
        ("mail:cs:a:b", {"channel": "mail", "account": "cs", "id": "a:b"}),
        ("mail", {"channel": "mail", "account": "", "id": ""}),
    ],
    ids=["three-parts", "id-with-colons", "channel-only"],
)
def test_identity_parts(identity: str, parts: dict[str, str]) -> None:
    assert identity_parts(identity) == parts


def _letter(**extra: object) -> DeadLetter:
    base = {
        "stream": "INBOUND",
        "consumer": "router",
        "subject": "inbox.in.mail.cs",
        "error": "boom",
        "deliveries": 5,
        "data": "{}",
        "headers": {"Nats-Msg-Id": "mail:cs:1", "traceparent": "00-ab"},
    }
    return DeadLetter.model_validate({**base, **extra})


def test_dead_letter_data_and_headers_for_a_replay() -> None:
    letter = _letter(data=base64.b64encode(b"\xff\x00").decode(), data_encoding="base64")
    assert letter_data(letter) == b"\xff\x00"
    assert letter_data(_letter(data="한글")) == "한글".encode()
    assert replay_headers(letter) == {"traceparent": "00-ab"}  # a new Nats-Msg-Id is given


@pytest.mark.parametrize(
    ("stored", "safe"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("a\r\nSet-Cookie: x.pdf", "a_Set-Cookie: x.pdf"),
        ("  . ", "attachment"),
        ("주문서.pdf", "주문서.pdf"),
    ],
    ids=["path", "header-injection", "nothing-left", "korean"],
)
def test_download_name_is_never_a_path_or_a_header(stored: str, safe: str) -> None:
    assert download_name(stored) == safe


def test_content_disposition_keeps_korean_names_with_an_ascii_fallback() -> None:
    header = content_disposition('주문 "1".pdf')
    assert header.startswith('attachment; filename="?? _1_.pdf"; ')
    assert header.endswith("filename*=UTF-8''%EC%A3%BC%EB%AC%B8%20%221%22.pdf")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("C:\\Users\\kim\\사진.jpg", "사진.jpg"),
        ("%EC%82%AC%EC%A7%84.jpg", "사진.jpg"),
        ("100%ZZ.txt", "100%ZZ.txt"),
        ("%FF%FE.txt", "%FF%FE.txt"),
        (None, "attachment"),
    ],
    ids=["windows-path", "percent-encoded-utf8", "not-an-escape", "not-utf8", "no-name"],
)
def test_upload_name(raw: str | None, name: str) -> None:
    assert upload_name(raw) == name
