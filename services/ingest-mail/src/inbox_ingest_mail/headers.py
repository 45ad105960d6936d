"""Header values: RFC 2047 encoded-words, RFC 2231 parameters, message ids. Pure and total.

Real-world mail breaks the RFCs in known ways, all accepted here: encoded-words split in
the middle of a multibyte character (joined before decoding), encoded-words inside quoted
parameters (`name="=?EUC-KR?B?...?="`), raw 8-bit UTF-8 or CP949 in headers, RFC 2231
values in CP949 labelled `euc-kr`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from email.message import Message
from typing import Any, Final, TypeVar

from inbox_ingest_mail.charsets import decode_bytes, valid_text

T = TypeVar("T")
D = TypeVar("D")
MAX_ID_LENGTH: Final = 250
_ID: Final = re.compile(r"<([^<>\s]{1,250})>")
_WORD: Final = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")


def safe(fn: Callable[[], T], default: D) -> T | D:
    """`fn()`, or `default` when the stdlib email code raises (it raises many types on
    hostile input: IndexError, ValueError, UnicodeError, AttributeError, …)."""
    try:
        return fn()
    except Exception:
        return default


def header_text(raw: str) -> str:
    """A raw header value: unfolded, and raw 8-bit bytes (surrogate-escaped) decoded."""
    value = re.sub(r"\r?\n(?=[ \t])", "", raw).replace("\r", "").replace("\n", "")
    if any("\udc80" <= c <= "\udcff" for c in value):
        try:
            value = decode_bytes(value.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:  # a surrogate that is no escaped byte
            pass
    return valid_text(value).strip()


def _word_bytes(encoding: str, text: str) -> bytes | None:
    if encoding in "bB":
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
    data = text.replace("_", " ").encode("utf-8", "replace")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words. Adjacent words of one charset are joined before
    decoding, because senders split multibyte Korean characters across words (and lines)."""
    out: list[str] = []
    pending, pending_charset = b"", ""
    pos, previous_was_word = 0, False

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset:
            out.append(decode_bytes(pending, pending_charset))
        pending, pending_charset = b"", ""

    for match in _WORD.finditer(value):
        gap = value[pos : match.start()]
        if gap and not (previous_was_word and gap.isspace()):
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:  # not decodable: keep the word as written
            flush()
            out.append(match.group(0))
        else:
            if pending_charset and charset.lower() != pending_charset.lower():
                flush()
            pending += data
            pending_charset = charset
        pos, previous_was_word = match.end(), True
    flush()
    out.append(value[pos:])
    return valid_text("".join(out))


def clean_id(value: str) -> str | None:
    """A usable key: printable ASCII without spaces, at most 250 characters."""
    value = value.strip()
    ok = (
        0 < len(value) <= MAX_ID_LENGTH
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )
    return value if ok else None


def message_id(value: str | None) -> str | None:
    """`<abc@x>` → `abc@x`; None when missing or unusable as a key."""
    if not value:
        return None
    match = _ID.search(value)
    return clean_id(match.group(1) if match else value)


def ids_in(value: str | None) -> list[str]:
    """Every `<id>` in a References / In-Reply-To value, in order, usable ones only."""
    return [i for i in _ID.findall(value or "") if clean_id(i)]


def raw_header(part: Message, name: str) -> str | None:
    """The first raw value of a header, as sent (before any policy's parsing)."""
    items: list[tuple[str, Any]] = safe(lambda: list(part.raw_items()), [])
    for key, value in items:
        if key.strip().lower() == name:
            return str(value)
    return None


def param(part: Message, header: str, name: str) -> str | None:
    """A parameter of a structured header (`filename` of Content-Disposition, `name` or
    `charset` of Content-Type), RFC 2231 and RFC 2047 values decoded."""
    raw = raw_header(part, header)
    if raw is None:
        return None
    holder = Message()  # compat32: the parameter parser sees the raw text
    holder["x"] = header_text(raw)
    value = safe(lambda: holder.get_param(name, None, header="x"), None)
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded latin-1 text)
        charset, _, text = value
        data = str(text).encode("latin-1", "replace")
        return decode_bytes(data, charset or "utf-8").strip() or None
    if not isinstance(value, str):
        return None
    return decode_words(value).strip() or None


def filename_of(part: Message) -> str | None:
    """The file name a part carries, from Content-Disposition or (older mailers) Content-Type."""
    name = param(part, "content-disposition", "filename") or param(part, "content-type", "name")
    if not name:
        return None
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", name).strip(" .")[:200]
    return name or None
