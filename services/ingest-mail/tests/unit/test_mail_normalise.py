"""`normalise_mail` on named raw fixtures: what an agent would see for each kind of mail."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from inbox_ingest_mail.channels.mail import MAX_JSON_BYTES, normalise_mail

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
RECEIVED = datetime(2025, 3, 3, 1, 15, tzinfo=UTC)


def load(case: str) -> bytes:
    return (FIXTURES / f"{case}.eml").read_bytes()


@dataclass(frozen=True)
class Expected:
    case: str
    subject: str | None
    sender: str | None  # customer.email
    name: str | None
    text: str
    message_id: str | None  # None: a sha256 of the raw bytes
    references: list[str] = field(default_factory=list)
    auto_reply: bool = False
    bounce: bool = False
    list_mail: bool = False


CASES = [
    Expected(
        "plain_utf8_korean",
        "배송 언제 오나요?",
        "hong.gildong@naver.com",
        "홍길동",
        "안녕하세요. 지난주 금요일에 주문한 운동화(주문번호 20250228-0012)가\n"
        "아직 도착하지 않았습니다. 배송 조회 부탁드립니다.\n\n감사합니다.\n홍길동 드림",
        "CAF=x1y2z3@mail.gmail.com",
    ),
    Expected(
        "euc_kr_subject_b_encoded",
        "[문의] 똠양꿍 소스 재입고 언제 되나요",
        "younghee.kim@daum.net",
        "김영희",
        "똠양꿍 소스가 품절이라 재입고 알림을 받고 싶습니다.\n연락처로 문자 주세요.",
        "20250304090000.ABCD1234@smtp.daum.net",
    ),
    Expected(
        "mislabelled_ascii_cp949_body",
        "반품 요청",
        "old-mailer@example.kr",
        None,
        "반품하고 싶습니다. 똠방각하.",
        "old-mailer-1@example.kr",
    ),
    Expected(
        "raw_utf8_headers",
        "앱 로그인이 안 돼요",
        "oh@kakao.example",
        "오세훈",
        "앱에서 본인인증 후 로그인이 안 됩니다.",
        "raw-8bit-1@kakao.example",
    ),
    Expected(
        "html_only",
        "주문 취소",
        "sumin@example.co.kr",
        "Lee Sumin",
        "주문 취소 요청드립니다.\n\n사이즈가 맞지 않아요 & 색상도 달라요.\n"
        "환불 부탁드려요.\n\n<이수민> 드림",
        "html-only-1@example.co.kr",
    ),
    Expected(
        "multipart_alternative_with_attachments",
        "불량 상품 사진 보내드립니다",
        "jimin@gmail.com",
        "한지민",
        "받은 상품에 흠집이 있습니다. 사진 첨부합니다.",
        "CAF=mixed9@mail.gmail.com",
    ),
    Expected(
        "reply_with_quote",
        "Re: [#1042] 교환 문의드립니다",
        "hong@naver.com",
        "홍길동",
        "네 L 사이즈로 교환 부탁드려요.",
        "CAF=reply2@mail.gmail.com",
        references=["mail:inbox.c42.r1001@shop.example", "mail:CAF=first1@mail.gmail.com"],
    ),
    Expected(
        "reply_original_message_tail",
        "RE: 환불 문의",
        "park@naver.com",
        "Park",
        "환불 계좌는 국민은행입니다.",
        "naver-reply-77@naver.com",
        references=["mail:inbox.c7.r7@shop.example"],
    ),
    Expected(
        "auto_reply_out_of_office",
        "Out of Office: 주문 확인",
        "minho@company.co.kr",
        "Choi Minho",
        "3월 10일까지 휴가 중입니다. 급한 용무는 02-123-4567로 연락 주세요.",
        "oof-123@company.co.kr",
        references=["mail:inbox.c9.r9@shop.example"],
        auto_reply=True,
    ),
    Expected(
        "auto_reply_korean_subject_only",
        "[자동회신] 부재중입니다",
        "jung@hanmail.net",
        None,
        "현재 부재중입니다.",
        "auto-ko-5@hanmail.net",
        auto_reply=True,
    ),
    Expected(
        "bounce_report",
        "Undelivered Mail Returned to Sender",
        "mailer-daemon@mx.shop-relay.example",
        "Mail Delivery System",
        "This is the mail system at host mx.shop-relay.example.\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.",
        "20250306.bounce.1@mx.shop-relay.example",
        auto_reply=True,
        bounce=True,
    ),
    Expected(
        "list_mail_newsletter",
        "이번 주 특가 안내",
        "news@coupang.example",
        "쿠팡 뉴스",
        "이번 주 특가 상품을 확인하세요.",
        "news-2025-10@coupang.example",
        auto_reply=True,
        list_mail=True,  # Precedence: bulk counts as automatic too
    ),
    Expected(
        "missing_message_id",
        "hello",
        "guest@example.com",
        None,
        "Is the store open on Sunday?",
        None,
    ),
    Expected(
        "malformed_no_headers",
        None,
        None,
        None,
        "주문한 상품이 안 와요!!\n연락 주세요 010-1234-5678",
        None,
    ),
]


@pytest.mark.parametrize("expected", CASES, ids=[c.case for c in CASES])
def test_fixture_normalises_to_what_an_agent_should_see(expected: Expected) -> None:
    raw = load(expected.case)
    msg = normalise_mail(raw, "cs", RECEIVED)

    key = expected.message_id or hashlib.sha256(raw).hexdigest()
    assert msg.channel == "mail" and msg.account == "cs"
    assert msg.external_id == key
    assert msg.dedup_id == f"mail:cs:{key}"
    assert msg.thread_keys == [f"mail:{key}"]
    assert msg.references == expected.references
    assert msg.subject == expected.subject
    assert msg.customer.email == expected.sender
    assert msg.customer.id == (expected.sender or f"unknown:{key[:32]}")
    assert msg.customer.name == expected.name
    assert msg.text == expected.text
    assert (msg.flags.auto_reply, msg.flags.bounce, msg.flags.list_mail) == (
        expected.auto_reply,
        expected.bounce,
        expected.list_mail,
    )
    assert msg.received_at == RECEIVED
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


def test_attachments_are_listed_with_decoded_names_and_sizes() -> None:
    msg = normalise_mail(load("multipart_alternative_with_attachments"), "cs", RECEIVED)
    listed = [(a.name, a.content_type, a.size) for a in msg.attachments]
    assert listed == [("영수증.pdf", "application/pdf", 1033), ("흠집 사진.png", "image/png", 108)]
    assert all(a.ref is None for a in msg.attachments)  # bytes are not stored yet
    assert msg.html is not None and "<b>흠집</b>" in msg.html


def test_bounce_lists_report_parts_and_ignores_the_returned_message_body() -> None:
    msg = normalise_mail(load("bounce_report"), "cs", RECEIVED)
    assert [a.content_type for a in msg.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert "inner text" not in (msg.full_text or "")


def test_flag_reasons_name_the_checks_that_fired() -> None:
    msg = normalise_mail(load("auto_reply_out_of_office"), "cs", RECEIVED)
    assert msg.context["flag_reasons"] == ["auto_submitted", "out_of_office_subject"]


@pytest.mark.parametrize(
    ("header", "auto_reply"),
    [
        ("Auto-Submitted: no", False),
        ("Auto-Submitted: auto-generated", True),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: Out of office", True),
        ("Precedence: junk", True),
        ("Precedence: list", False),
    ],
    ids=["auto_submitted_no", "auto_generated", "x_autoreply", "x_autorespond", "junk", "list"],
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

    monkeypatch.setattr("inbox_ingest_mail.channels.mail.BytesParser", BrokenParser)
    raw = "Subject: 환불\r\n\r\n환불해 주세요\r\n".encode()
    msg = normalise_mail(raw, "cs", RECEIVED)
    key = hashlib.sha256(raw).hexdigest()
    assert msg.external_id == key and msg.thread_keys == [f"mail:{key}"]
    assert msg.text == "Subject: 환불\n\n환불해 주세요\n"
    assert msg.context["parse_error"] == "IndexError: parser bug"
