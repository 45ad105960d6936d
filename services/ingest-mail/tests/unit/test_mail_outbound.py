"""Composing replies (threading headers, subject tag, injection guard) and settings parsing."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from inbox_core.connector import ReplyFile
from inbox_core.errors import PermanentError
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_mail.channels.mail import MailAccounts, MailChannel
from inbox_ingest_mail.mailboxes import Mailbox
from inbox_ingest_mail.outbound import compose_reply, deliver, reply_subject
from inbox_ingest_mail.settings import MailSettings, RelayConfig, parse_relay_url
from inbox_ingest_mail.thread_ids import parse_own_message_id


def make_reply(**overrides: Any) -> OutboundReply:
    fields: dict[str, Any] = {
        "conversation_id": "c42",
        "channel": "mail",
        "account": "cs",
        "customer": Customer(id="hong@naver.com", email="hong@naver.com", name="홍길동"),
        "thread_keys": ["mail:CAF=first1@mail.gmail.com", "mail:CAF=reply2@mail.gmail.com"],
        "in_reply_to": "CAF=reply2@mail.gmail.com",
        "subject": "교환 문의드립니다",
        "text": "안녕하세요 고객님,\nL 사이즈로 교환 접수되었습니다.",
        "agent": "minji",
        "context": {"conversation_number": 1042},
    }
    fields.update(overrides)
    return OutboundReply(**fields)


def _reparsed(message: EmailMessage) -> EmailMessage:
    """What the customer's mail client reads: the bytes on the wire, parsed again."""
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_reply_is_threaded_tagged_and_utf8() -> None:
    reply = make_reply()
    message = compose_reply(reply, "cs@shop.example", sender_name="쇼핑몰 고객센터")
    wire = message.as_bytes()
    parsed = _reparsed(message)
    assert parsed["From"] == "쇼핑몰 고객센터 <cs@shop.example>"
    assert parsed["To"] == "홍길동 <hong@naver.com>"
    assert parsed["Subject"] == "Re: 교환 문의드립니다 [#1042]"
    assert parsed["In-Reply-To"] == "<CAF=reply2@mail.gmail.com>"
    assert parsed["References"] == "<CAF=first1@mail.gmail.com> <CAF=reply2@mail.gmail.com>"
    assert parsed["Message-ID"] == f"<inbox.c42.{reply.id}@shop.example>"
    assert parsed["Auto-Submitted"] is None  # an agent's reply is not automatic
    assert wire.isascii()  # Korean only as RFC 2047 words and base64/QP bodies
    assert b"=?utf-8?" in wire
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == "utf-8" and text["Content-Transfer-Encoding"] == "base64"
    assert text.get_content().rstrip("\n") == reply.text
    assert "L 사이즈로 교환 접수되었습니다.</p>" in html.get_content()


def test_mostly_ascii_body_goes_quoted_printable_and_links_become_links() -> None:
    reply = make_reply(text="Hello, your tracking page: https://shop.example/t/1 (감사)")
    parsed = _reparsed(compose_reply(reply, "cs@shop.example"))
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and text["Content-Transfer-Encoding"] == "quoted-printable"
    assert html is not None
    assert '<a href="https://shop.example/t/1">' in html.get_content()


def test_customer_references_lead_the_references_header() -> None:
    reply = make_reply(context={"conversation_number": 7, "mail_references": ["old@x.example"]})
    parsed = _reparsed(compose_reply(reply, "cs@shop.example"))
    assert parsed["References"].split() == [  # long: folded over lines on the wire
        "<old@x.example>",
        "<CAF=first1@mail.gmail.com>",
        "<CAF=reply2@mail.gmail.com>",
    ]


def test_automatic_reply_says_so() -> None:
    reply = make_reply(context={"automatic": True, "conversation_number": 7})
    parsed = _reparsed(compose_reply(reply, "cs@shop.example"))
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "OOF, AutoReply"


def test_message_id_names_the_conversation_and_reply_on_our_domain() -> None:
    reply = make_reply()
    message = compose_reply(reply, "shop@naver.com", id_domain="mail.shop.example")
    assert message["Message-ID"] == f"<inbox.c42.{reply.id}@mail.shop.example>"
    own = parse_own_message_id(message["Message-ID"], frozenset({"mail.shop.example"}))
    assert own == ("c42", reply.id)
    assert parse_own_message_id(message["Message-ID"], frozenset({"other.example"})) is None


@pytest.mark.parametrize(
    ("subject", "number", "expected"),
    [
        ("교환 문의", 7, "Re: 교환 문의 [#7]"),
        ("Re: RE: 교환 문의 [#7]", 7, "Re: 교환 문의 [#7]"),
        ("회신: 환불", None, "Re: 환불"),
        (None, 12, "Re: [#12]"),
        ("", None, "Re:"),
    ],
    ids=["plain", "no_stacking", "korean_prefix", "no_subject", "nothing"],
)
def test_reply_subject(subject: str | None, number: int | None, expected: str) -> None:
    assert reply_subject(subject, number) == expected


def test_hash_keys_are_not_used_as_message_ids() -> None:
    reply = make_reply(thread_keys=["mail:" + "a" * 64], in_reply_to="a" * 64)
    message = compose_reply(reply, "cs@shop.example")
    assert message["In-Reply-To"] is None and message["References"] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "문의\r\nBcc: victim@example.com"},
        {"customer": Customer(id="x", email="hong@naver.com\r\nBcc: victim@example.com")},
        {"in_reply_to": "a@b>\r\nBcc: victim@example.com"},
        {"context": {"conversation_number": "1\nBcc: victim@example.com"}},
        {"customer": Customer(id="x", email="hong@naver.com", name="홍\r\nBcc: v@example.com")},
    ],
    ids=["subject", "address", "thread_key", "number", "display_name"],
)
def test_header_injection_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(PermanentError, match="line break"):
        compose_reply(make_reply(**overrides), "cs@shop.example")


def test_customer_without_address_is_refused() -> None:
    reply = make_reply(customer=Customer(id="unknown:abc"))
    with pytest.raises(PermanentError, match="not a usable e-mail address"):
        compose_reply(reply, "cs@shop.example")


async def test_no_relay_configured_is_a_permanent_error() -> None:
    message = compose_reply(make_reply(), "cs@shop.example")
    with pytest.raises(PermanentError, match="no SMTP_RELAY_URL configured"):
        await deliver(None, message)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.local", RelayConfig("relay.local", 25)),
        ("smtp://relay.local:2526", RelayConfig("relay.local", 2526)),
        (
            "smtp+starttls://u%40shop:p%3Ass@smtp.example:587",
            RelayConfig("smtp.example", 587, start_tls=True, username="u@shop", password="p:ss"),
        ),
        ("smtps://smtp.example", RelayConfig("smtp.example", 465, use_tls=True)),
    ],
    ids=["plain", "port", "starttls_with_credentials", "implicit_tls"],
)
def test_relay_url(url: str, expected: RelayConfig) -> None:
    assert parse_relay_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://cs:s3cret@relay.local", "smtp://cs:s3cret@", "smtp://cs:s3cret@relay:notaport"],
    ids=["scheme", "host", "port"],
)
def test_bad_relay_url_is_refused_at_start_without_echoing_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_RELAY_URL", url)
    with pytest.raises(ValueError, match="SMTP_RELAY_URL") as info:
        MailSettings()
    assert "s3cret" not in str(info.value)  # the password never reaches a log or a traceback


def test_relay_password_is_not_in_repr() -> None:
    relay = parse_relay_url("smtp://user:s3cret@relay.local")
    assert "s3cret" not in repr(relay)


def test_settings_read_the_contract_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_MAIL_HTTP_PORT", "18082")
    monkeypatch.setenv("INBOX_SMTP_PORT", "12525")
    monkeypatch.setenv("INBOX_MAIL_DOMAINS", " Shop.Example , help.shop.example.,")
    monkeypatch.setenv("INBOX_MAIL_MAX_BYTES", "1000")
    settings = MailSettings()
    assert (settings.port, settings.smtp_port, settings.max_message_size) == (18082, 12525, 1000)
    assert settings.mail_domains == ["shop.example", "help.shop.example"]
    assert settings.from_domain == "shop.example"
    assert settings.accepts_domain("SHOP.example") and not settings.accepts_domain("evil.example")
    assert settings.relay() is None


def test_no_domains_accepts_any_and_sends_from_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INBOX_MAIL_DOMAINS", "INBOX_MAIL_HTTP_PORT", "INBOX_SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = MailSettings()
    assert (settings.port, settings.smtp_port) == (8082, 2525)
    assert settings.accepts_domain("anything.example") and settings.from_domain == "localhost"


def test_any_account_gets_a_mail_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_MAIL_DOMAINS", raising=False)
    accounts = MailAccounts(MailSettings())
    channel = accounts.get("sales")
    assert isinstance(channel, MailChannel) and channel.account == "sales"
    assert accounts.get("sales") is channel
    message = channel.compose(make_reply(account="sales"))
    assert message["From"] == "sales@localhost"


def test_imap_account_replies_from_its_own_address_and_relay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INBOX_MAIL_DOMAINS", "shop.example")
    mailbox = Mailbox(
        account="naver",
        host="imap.naver.com",
        port=993,
        tls=True,
        username="shop@naver.com",
        password="pw",
        address="shop@naver.com",
        name="쇼핑몰",
        smtp_url="smtps://shop%40naver.com:pw@smtp.naver.com",
    )
    accounts = MailAccounts(MailSettings(), [mailbox])
    channel = accounts.get("naver")
    parsed = _reparsed(channel.compose(make_reply(account="naver")))
    assert parsed["From"] == "쇼핑몰 <shop@naver.com>"
    assert parsed["Message-ID"].endswith("@shop.example>")
    relay = channel.relay()
    assert relay is not None and (relay.host, relay.port, relay.use_tls) == (
        "smtp.naver.com",
        465,
        True,
    )
    assert accounts.own_domains() == frozenset({"shop.example", "naver.com"})


def test_reply_files_are_mime_parts_with_korean_names_per_rfc_2231() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    files = [
        ReplyFile("사이즈표.png", "image/png", png),
        ReplyFile("반품 신청서.pdf", "application/pdf", b"%PDF-1.4\n"),
    ]
    message = compose_reply(make_reply(), "cs@shop.example", files=files)
    wire = message.as_bytes()
    assert wire.isascii()
    assert b"filename*=utf-8''%EC%82%AC%EC%9D%B4%EC%A6%88%ED%91%9C.png" in wire
    parsed = _reparsed(message)
    assert parsed.get_content_type() == "multipart/mixed"
    text = parsed.get_body(("plain",))
    assert text is not None and "교환 접수" in text.get_content()
    parts = list(parsed.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("사이즈표.png", "image/png"),
        ("반품 신청서.pdf", "application/pdf"),
    ]
    assert parts[0].get_content() == png


def test_reply_file_with_a_line_break_in_its_name_is_refused() -> None:
    with pytest.raises(PermanentError, match="header injection"):
        compose_reply(
            make_reply(),
            "cs@shop.example",
            files=[ReplyFile("a.pdf\r\nBcc: x@evil.example", "application/pdf", b"%PDF")],
        )
