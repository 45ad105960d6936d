"""`normalise_mail` on named raw fixtures: what an agent would see for each kind of mail."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from inbox_core.bus import ORDER_KEY_HEADER
from inbox_core.connector import THREAD_ROOT, order_key_of
from inbox_core.partitions import partition_of
from inbox_ingest_mail.parse_mail import MAX_JSON_BYTES, normalise_mail, read_mail

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
RECEIVED = datetime(2025, 3, 3, 1, 15, tzinfo=UTC)
OWN = frozenset({"shop.example"})
CASES = sorted(p.name.removesuffix(".eml") for p in FIXTURES.glob("*.eml"))


def _published(order_key: str) -> Msg:
    return Msg(None, subject="inbox.in.mail.cs", headers={ORDER_KEY_HEADER: order_key})  # type: ignore[arg-type]


def load(case: str) -> bytes:
    return (FIXTURES / f"{case}.eml").read_bytes()


def test_corpus_covers_every_point_of_the_issue() -> None:
    assert len(CASES) >= 40
    assert all((FIXTURES / f"{case}.expected.json").exists() for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_fixture_keeps_its_html_and_a_visible_text(case: str) -> None:
    """Each pair's message is checked by the conformance suite (test_mail_conformance); here
    what only mail has: the HTML part kept or not, and a visible text that is never empty."""
    expected = json.loads((FIXTURES / f"{case}.expected.json").read_text(encoding="utf-8"))
    msg = normalise_mail(load(case), "cs", RECEIVED, own_domains=OWN)

    assert (msg.html is not None) == expected["has_html"]
    assert msg.text.strip(), "the visible text is never empty for a non-empty mail"
    assert "parse_error" not in msg.context


def test_quoted_history_stays_in_full_text_only() -> None:
    msg = normalise_mail(load("reply_with_quote"), "cs", RECEIVED)
    assert msg.full_text is not None
    assert "> 교환을 원하시는 사이즈를 알려주세요." in msg.full_text
    assert "님이 작성:" in msg.full_text
    assert "님이 작성" not in msg.text


def test_html_part_is_kept_and_scripts_never_reach_the_text() -> None:
    msg = normalise_mail(load("html_only"), "cs", RECEIVED)
    assert msg.html is not None and "<script>" in msg.html
    assert "alert" not in msg.text and "color: red" not in msg.text


def test_attachments_come_with_their_bytes_in_order() -> None:
    read = read_mail(load("multipart_alternative_with_attachments"), "cs", RECEIVED)
    listed = [(a.name, a.content_type, a.size) for a in read.message.attachments]
    assert listed == [("영수증.pdf", "application/pdf", 1033), ("흠집 사진.png", "image/png", 108)]
    assert [len(f.data) for f in read.files] == [1033, 108]
    assert read.files[1].data.startswith(b"\x89PNG")
    assert all(a.ref is None for a in read.message.attachments)  # refs come with the store
    assert read.message.html is not None and "<b>흠집</b>" in read.message.html


def test_inline_image_is_a_file_with_its_content_id() -> None:
    read = read_mail(load("inline_image_related"), "cs", RECEIVED)
    [image] = read.files
    assert (image.inline, image.content_id, image.content_type) == (
        True,
        "damage@icloud.com",
        "image/png",
    )
    assert read.message.context["inline_images"] == ["damage@icloud.com"]


def test_attached_message_is_kept_whole_and_not_read_as_body() -> None:
    read = read_mail(load("attached_message_and_files"), "cs", RECEIVED)
    eml = read.files[0]
    assert eml.content_type == "message/rfc822" and eml.data.startswith(b"From: Coupang")
    assert "주문이 확인되었습니다" not in (read.message.full_text or "")


def test_reply_keeps_the_customers_references_for_our_answer() -> None:
    msg = normalise_mail(load("reply_with_quote"), "cs", RECEIVED)
    assert msg.context["mail_references"] == [
        "inbox.c42.r1001@shop.example",
        "CAF=first1@mail.gmail.com",
    ]


def test_a_reply_is_ordered_and_partitioned_with_the_mail_its_thread_started_with() -> None:
    first = normalise_mail(
        b"From: a@b.example\r\nSubject: coat\r\nMessage-ID: <m1@b.example>\r\n\r\nwhen?\r\n",
        "cs",
        RECEIVED,
    )
    reply = normalise_mail(
        b"From: a@b.example\r\nSubject: Re: coat\r\nMessage-ID: <m2@b.example>\r\n"
        b"In-Reply-To: <m1@b.example>\r\n\r\nand the knit?\r\n",
        "cs",
        RECEIVED,
    )
    # A reply to our answer names the first mail first in References, our answer last.
    later = normalise_mail(
        b"From: a@b.example\r\nSubject: Re: coat\r\nMessage-ID: <m3@b.example>\r\n"
        b"In-Reply-To: <inbox.c1.r1@shop.example>\r\n"
        b"References: <m1@b.example> <inbox.c1.r1@shop.example>\r\n\r\nthanks\r\n",
        "cs",
        RECEIVED,
    )
    assert reply.thread_keys == ["mail:m2@b.example"]  # its own key stays its own
    keys = {order_key_of(m) for m in (first, reply, later)}
    assert keys == {"mail:m1@b.example"}
    assert len({partition_of(_published(k), 8) for k in keys}) == 1
    # Mail that starts a thread is ordered by itself, as before.
    assert THREAD_ROOT not in first.context


def test_bounce_lists_report_parts_and_ignores_the_returned_message_body() -> None:
    msg = normalise_mail(load("bounce_report"), "cs", RECEIVED)
    assert [a.content_type for a in msg.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert "inner text" not in (msg.full_text or "")


def test_flag_reasons_name_the_checks_that_fired() -> None:
    msg = normalise_mail(load("auto_reply_out_of_office"), "cs", RECEIVED)
    assert msg.context["flag_reasons"] == [
        "auto_submitted",
        "x_auto_response_suppress",
        "out_of_office_subject",
    ]


@pytest.mark.parametrize(
    ("header", "auto_reply"),
    [
        ("Auto-Submitted: no", False),
        ("Auto-Submitted: auto-generated", True),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: Out of office", True),
        ("Precedence: junk", True),
        ("Precedence: list", False),
        ("X-Loop: yes", True),
        ("X-Autogenerated: Reply", True),
        ("X-Auto-Response-Suppress: OOF", False),
    ],
    ids=[
        "auto_submitted_no",
        "auto_generated",
        "x_autoreply",
        "x_autorespond",
        "junk",
        "list",
        "x_loop",
        "x_autogenerated",
        "suppress_oof_only",
    ],
)
def test_auto_reply_headers(header: str, auto_reply: bool) -> None:
    raw = f"From: a@b.example\r\n{header}\r\nSubject: 문의\r\n\r\n본문\r\n".encode()
    assert normalise_mail(raw, "cs", RECEIVED).flags.auto_reply is auto_reply


def test_received_at_is_the_time_given_in_utc() -> None:
    kst = timezone(timedelta(hours=9))
    msg = normalise_mail(load("plain_utf8_korean"), "cs", datetime(2025, 3, 3, 10, 15, tzinfo=kst))
    assert msg.received_at == RECEIVED and msg.received_at.utcoffset() == timedelta(0)


def test_missing_from_falls_back_to_the_envelope_sender() -> None:
    raw = b"Subject: hi\r\nMessage-ID: <x1@y>\r\n\r\nbody\r\n"
    msg = normalise_mail(raw, "cs", RECEIVED, envelope_from="Guest@Example.com")
    assert msg.customer.id == msg.customer.email == "guest@example.com"


def test_same_bytes_give_the_same_keys() -> None:
    raw = load("missing_message_id")
    first, second = (normalise_mail(raw, "cs", RECEIVED) for _ in range(2))
    assert first.external_id == second.external_id and first.thread_keys == second.thread_keys
    assert first.id != second.id  # the envelope id is per publish, the keys are per mail


def test_huge_body_is_clipped_to_fit_the_bus() -> None:
    raw = b"From: a@b.example\r\nSubject: big\r\n\r\n" + ("가나다라 " * 100_000).encode()
    msg = normalise_mail(raw, "cs", RECEIVED)
    assert msg.context["truncated"] is True
    assert len(msg.to_json()) < 1024 * 1024


def test_body_that_json_escaping_inflates_still_fits_the_bus() -> None:
    html = "<p>" + "\x01" * 200_000 + "</p>"
    raw = b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + html.encode()
    msg = normalise_mail(raw, "cs", RECEIVED)
    assert msg.context["truncated"] is True
    assert len(msg.to_json()) <= MAX_JSON_BYTES


def test_header_the_default_policy_chokes_on_still_gives_a_structured_message() -> None:
    # policy.default's header classes raise on this Content-Type; compat32 reads the rest.
    raw = (
        b"From: =?UTF-8?B?7ZmN6ri464+Z?= <hong@naver.com>\r\n"
        b"Subject: =?UTF-8?B?67Cw7IahIOusuOydmA==?=\r\n"
        b"Message-ID: <odd-ctype@naver.com>\r\n"
        b"Content-Type: =?unicode_escape?Q?=5Cud800?=\r\n\r\n" + "언제 와요?\r\n".encode()
    )
    msg = normalise_mail(raw, "cs", RECEIVED)
    assert (msg.subject, msg.customer.email, msg.customer.name) == (
        "배송 문의",
        "hong@naver.com",
        "홍길동",
    )
    assert msg.external_id == "odd-ctype@naver.com" and msg.text == "언제 와요?"
    assert "parse_error" not in msg.context


def test_unparseable_mail_is_kept_as_raw_text(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenParser:
        def __init__(self, **_: object) -> None:
            pass

        def parsebytes(self, raw: bytes) -> None:
            raise IndexError("parser bug")

    monkeypatch.setattr("inbox_ingest_mail.parse_mail.BytesParser", BrokenParser)
    raw = "Subject: 환불\r\n\r\n환불해 주세요\r\n".encode()
    msg = normalise_mail(raw, "cs", RECEIVED)
    key = hashlib.sha256(raw).hexdigest()
    assert msg.external_id == key and msg.thread_keys == [f"mail:{key}"]
    assert msg.text == "Subject: 환불\n\n환불해 주세요\n"
    assert msg.context["parse_error"] == "IndexError: parser bug"
