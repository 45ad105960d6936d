"""Properties of the mail parser: it never raises, whatever bytes arrive (decoding, HTML,
quote stripping, the whole mail), its keys and visible text are stable, the visible text is
never empty for a non-empty body, and the files line up with the attachments listed.
Regressions found by hypothesis are pinned with `@example`."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from inbox_core.schema import ACCOUNT_RE, InboundMessage
from inbox_ingest_mail.charsets import decode_text
from inbox_ingest_mail.headers import decode_words
from inbox_ingest_mail.html_text import html_to_text
from inbox_ingest_mail.parse_mail import MAX_BODY_CHARS, MAX_JSON_BYTES, normalise_mail, read_mail
from inbox_ingest_mail.smtp import account_for
from inbox_ingest_mail.visible_text import visible_text

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
    read = read_mail(raw, "cs", RECEIVED, own_domains=frozenset({"shop.example"}))
    msg = read.message
    assert len(read.files) >= len(msg.attachments)  # every listed file has its bytes
    assert all(a.size == len(f.data) for a, f in zip(msg.attachments, read.files, strict=False))
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


LABELS = ["utf-8", "euc-kr", "ks_c_5601-1987", "iso-2022-kr", "iso-8859-1", "us-ascii",
          "unicode_escape", "utf-7", "x-unknown", "", "cp949", "utf-16"]  # fmt: skip
# Labels under which ASCII bytes are themselves (not UTF-7, UTF-16, ISO-2022-KR's SO/SI, …).
ASCII_COMPATIBLE = ("utf-8", "euc-kr", "ks_c_5601-1987", "iso-8859-1", "us-ascii", "x-unknown",
                    "", "cp949")  # fmt: skip
korean_bytes = st.sampled_from(["똠방각하", "배송 문의", "환불해 주세요"]).flatmap(
    lambda s: st.sampled_from(
        [s.encode("utf-8"), s.encode("cp949"), s.encode("iso2022_kr", "replace")]
    )
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), korean_bytes), st.sampled_from(LABELS))
@example(b"\x1b$)C\x0e", "us-ascii")  # an ISO-2022-KR designator and nothing after it
@example("똠".encode("cp949"), "euc-kr")
@example(b"+", "utf-7")  # ASCII, but not itself under UTF-7
@example(b"\x0e", "iso-2022-kr")  # SO: a shift, no character
def test_decoding_never_raises_and_gives_json_safe_text(data: bytes, label: str) -> None:
    decoded = decode_text(data, label)
    decoded.text.encode("utf-8")  # no lone surrogates: serialisable
    if data.isascii() and b"\x1b" not in data and label in ASCII_COMPATIBLE:
        assert decoded.text == data.decode("ascii")


@given(st.sampled_from(["똠방각하", "배송 문의", "환불해 주세요"]), st.sampled_from(LABELS[:6]))
def test_korean_text_survives_its_real_encoding_under_any_legacy_label(
    text: str, label: str
) -> None:
    for codec in ("utf-8", "cp949"):
        assert decode_text(text.encode(codec), label).text == text


@given(st.text(max_size=200))
@example("=?utf-8?B?7ZWc?= =?utf-8?B?6riA?=")
def test_decode_words_never_raises(value: str) -> None:
    decode_words(value).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["<div>", "</div>", "<br>", "<blockquote>", "</blockquote>",
                                 "<a href='https://x.example/a'>", "</a>", "텍스트", "text",
                                 "<img alt='사진' src='cid:x'>", "<script>", "&amp;", "<p", "\x00",
                                 "<div class='gmail_quote'>", "<hr id='divRplyFwdMsg'>"]),
                max_size=30).map("".join))  # fmt: skip
def test_html_to_text_never_raises(html: str) -> None:
    for without_quotes in (False, True):
        text = html_to_text(html, without_quotes=without_quotes)
        text.encode("utf-8")


line = st.one_of(
    st.text(max_size=40),
    st.sampled_from([
        "> 인용", ">", "-----Original Message-----", "------ 원본 메일 ------", "보낸 사람: a",
        "보낸 날짜: 2025", "받는 사람: b", "제목: c", "From: a", "Sent: b", "To: c",
        "On Mon, Mar 3, 2025 at 10:00 AM A <a@b> wrote:",
        "2025년 3월 5일 (수) 오전 10:15, A님이 작성:",
        "iPhone에서 보냄", "Galaxy에서 보냄", "-- ", "", "___________________",
    ]),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(line, max_size=15).map("\n".join))
@example("iPhone에서 보냄")
@example("> 인용만")
@example("0\n>\n-- ")  # the signature cut bares a quote: cut again
def test_visible_text_is_never_empty_and_is_stable(body: str) -> None:
    visible = visible_text(body)
    if body.strip():
        assert visible.strip()
    assert visible_text(body) == visible  # deterministic
    assert visible_text(visible) == visible_text(visible_text(visible))  # settles
