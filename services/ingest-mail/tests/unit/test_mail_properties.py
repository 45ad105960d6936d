"""Properties of `normalise_mail`: it never raises, whatever bytes arrive, and its keys are
stable. Regressions found by hypothesis are pinned with `@example`."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from inbox_core.schema import ACCOUNT_RE, InboundMessage
from inbox_ingest_mail.channels.mail import MAX_BODY_CHARS, MAX_JSON_BYTES, normalise_mail
from inbox_ingest_mail.smtp import account_for

RECEIVED = datetime(2025, 3, 3, tzinfo=UTC)

HEADER_NAMES = [
    "From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type",
    "Content-Transfer-Encoding", "Content-Disposition", "Auto-Submitted", "Precedence",
    "List-Id", "X-Autoreply", "MIME-Version", "Return-Path",
]  # fmt: skip
TRICKY = [
    "=?euc-kr?B?", "=?ks_c_5601-1987?B?wMy6pcbu?=", "=?utf-8?Q?=ZZ_=ED?=", "=?x?B?!!?=",
    "<", ">", '"', "\\", ",", ";", "multipart/mixed; boundary=b", "multipart/report",
    "message/rfc822", "text/html; charset=euc-kr", "text/plain; charset=unknown-8bit",
    "base64", "quoted-printable", "x-uuencode", "attachment; filename*=UTF-8''%ED%95",
    "attachment; filename*0*=x; filename*1=\"", "<a@b> <c@d", "MAILER-DAEMON", "auto-replied",
    "\t", " ", "--b", "<![if x]>", "<blockquote>", "=?", "?=", "@", "unicode_escape",
    "=?unicode_escape?Q?=5Cud800?=", "text/plain; charset=utf-7", "\\ud800", "+2D3-",
]  # fmt: skip

header_value = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=20)), max_size=6).map(
    "".join
)
body_chunk = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(TRICKY).map(str.encode),
    st.text(max_size=100).map(str.encode),
    st.sampled_from(["똠방각하", "배송 문의"]).map(lambda s: s.encode("cp949")),
)


@st.composite
def mail_like(draw: st.DrawFn) -> bytes:
    """Bytes shaped like mail (headers, MIME parts, encodings) to reach the parsers' corners."""
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value), max_size=10))
    head = b"".join(f"{n}: {v}\r\n".encode("utf-8", "surrogatepass") for n, v in headers)
    parts = draw(st.lists(body_chunk, max_size=8))
    separator = draw(st.sampled_from([b"\r\n", b"\n", b"\r\n--b\r\n", b"\r\n\r\n"]))
    return head + b"\r\n" + separator.join(parts)


def check(raw: bytes) -> InboundMessage:
    msg = normalise_mail(raw, "cs", RECEIVED)
    assert msg.channel == "mail" and msg.account == "cs"
    assert 0 < len(msg.external_id) <= 512
    assert msg.thread_keys == [f"mail:{msg.external_id}"]
    assert all(ref.startswith("mail:") for ref in msg.references)
    assert len(msg.full_text or "") <= MAX_BODY_CHARS
    if (msg.full_text or "").strip():
        assert msg.text.strip()  # the visible part is never empty for a non-empty body
    assert len(msg.to_json()) <= MAX_JSON_BYTES  # fits one NATS message
    InboundMessage.from_json(msg.to_json())  # what goes on the bus reads back
    return msg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
@example(b"")
@example(b"\xff\xfe\x00")
@example(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n")
@example(b"Content-Type: text/html\r\n\r\n<![if x]> <b>hi")
@example(b"Subject: =?utf-8?B?\r\n =?euc-kr?Q?=\r\n\r\n")
@example(b"From: <>\r\nMessage-ID: <\xed\x95\x9c@x>\r\n\r\n")
@example(b"Content-Type: text/plain; charset=unicode_escape\r\n\r\n\\ud800")  # lone surrogate
def test_normalise_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mail_like())
@example(
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n"
)
@example(b'Content-Disposition: attachment; filename*0*=x; filename*1="\r\n\r\nx')
def test_normalise_never_raises_on_mail_shaped_bytes(raw: bytes) -> None:
    check(raw)


@settings(max_examples=100, deadline=None)
@given(mail_like())
def test_keys_are_stable_for_the_same_bytes(raw: bytes) -> None:
    first, second = normalise_mail(raw, "cs", RECEIVED), normalise_mail(raw, "cs", RECEIVED)
    assert first.external_id == second.external_id
    assert first.thread_keys == second.thread_keys and first.references == second.references
    assert first.flags == second.flags


@given(st.text(max_size=100))
@example("고객센터@shop.example")
@example("...@x")
def test_account_is_none_or_valid(address: str) -> None:
    account = account_for(address)
    assert account is None or ACCOUNT_RE.match(account)
