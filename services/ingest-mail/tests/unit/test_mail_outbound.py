"""Composing replies (threading headers, subject tag, injection guard) and settings parsing."""

from __future__ import annotations

from typing import Any

import pytest

from inbox_core.errors import PermanentError
from inbox_core.schema import Customer, OutboundReply
from inbox_ingest_mail.channels.mail import MailAccounts, MailChannel
from inbox_ingest_mail.outbound import compose_reply, deliver, reply_subject
from inbox_ingest_mail.settings import MailSettings, RelayConfig, parse_relay_url


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


def test_reply_is_threaded_tagged_and_utf8() -> None:
    reply = make_reply()
    message = compose_reply(reply, "cs@shop.example")
    assert message["From"] == "cs@shop.example"
    assert message["To"] == "hong@naver.com"
    assert message["Subject"] == "Re: 교환 문의드립니다 [#1042]"
    assert message["In-Reply-To"] == "<CAF=reply2@mail.gmail.com>"
    assert message["References"] == "<CAF=first1@mail.gmail.com> <CAF=reply2@mail.gmail.com>"
    assert message["Message-ID"] == f"<inbox.c42.{reply.id}@shop.example>"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().rstrip("\n") == reply.text
    assert b"=?utf-8?" in message.as_bytes()  # the Korean subject goes out RFC 2047 encoded


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
    ],
    ids=["subject", "address", "thread_key", "number"],
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
