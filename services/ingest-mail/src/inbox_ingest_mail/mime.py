"""MIME helpers: Korean charsets, RFC 2047 words, the part tree, HTML to text, quotes.

Every function here is pure and total: any input gives a result, nothing raises. That is
what lets `normalise_mail` publish every mail it receives, however broken.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from typing import Final, TypeVar

from inbox_core.schema import Attachment

MAX_ATTACHMENTS: Final = 100
MAX_PART_DEPTH: Final = 30
T = TypeVar("T")


def safe(fn: Callable[[], T], default: T) -> T:
    """`fn()`, or `default` when the stdlib email code raises (it raises many types on
    hostile input: IndexError, ValueError, UnicodeError, AttributeError, …)."""
    try:
        return fn()
    except Exception:
        return default


# Every EUC-KR family label is decoded as CP949 (its superset): Outlook labels CP949 bytes
# `ks_c_5601-1987`, and syllables such as 똠 fail under a strict euc_kr codec.
_CP949_LABELS: Final = frozenset(
    {
        "euc-kr", "euc_kr", "euckr", "ks_c_5601-1987", "ks_c_5601-1989", "ks_c_5601",
        "ksc5601", "ksc_5601", "korean", "cp949", "uhc", "ms949", "x-uhc",
        "windows-949", "x-windows-949",
    }
)  # fmt: skip


def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()[:40]
    if name in _CP949_LABELS:
        return "cp949"
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    return "cp949" if codec == "euc_kr" else codec


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """Lone surrogates (from `unicode_escape`-like charsets or surrogate-escaped bytes) would
    make the message unserialisable as UTF-8 JSON: replace them."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Declared charset strictly, then UTF-8, then CP949; replacement characters last."""
    declared = codec_for(charset)
    for codec in dict.fromkeys(c for c in (declared, "utf-8", "cp949") if c):
        try:
            return valid_text(data.decode(codec))
        except (LookupError, ValueError):  # ValueError covers UnicodeDecodeError
            continue
    try:
        return valid_text(data.decode(declared or "utf-8", errors="replace"))
    except (LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


def header_text(raw: str) -> str:
    """A raw header value: unfolded, and raw 8-bit bytes (surrogate-escaped) decoded."""
    value = re.sub(r"\r?\n(?=[ \t])", "", raw).replace("\r", "").replace("\n", "")
    if any("\udc80" <= c <= "\udcff" for c in value):
        try:
            value = decode_bytes(value.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:  # a surrogate that is no escaped byte
            pass
    return valid_text(value).strip()


_WORD: Final = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")


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
    decoding, because senders split multibyte Korean characters across words."""
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
    return "".join(out)


def _leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    """Leaf parts, not descending into attached messages (message/rfc822 stays one leaf)."""
    payload = part.get_payload()
    maintype = safe(part.get_content_maintype, "text")
    if maintype == "multipart" and isinstance(payload, list) and depth < MAX_PART_DEPTH:
        for sub in payload:
            if isinstance(sub, Message):
                yield from _leaves(sub, depth + 1)
    else:
        yield part


def _payload_bytes(part: Message) -> bytes:
    data = safe(lambda: part.get_payload(decode=True), None)
    if isinstance(data, bytes):
        return data
    if part.is_multipart():  # an attached message: its size as sent
        return safe(part.as_bytes, b"")
    raw = part.get_payload()
    if not isinstance(raw, str):
        return b""
    return safe(lambda: raw.encode("utf-8", "surrogateescape"), raw.encode("utf-8", "replace"))


@dataclass
class Body:
    plain: list[str] = field(default_factory=list)  # inline text/plain parts
    html: list[str] = field(default_factory=list)  # inline text/html parts
    attachments: list[Attachment] = field(default_factory=list)  # listed, bytes not kept


def read_body(msg: Message) -> Body:
    """Walk the part tree: inline text/plain and text/html are the body, the rest is listed."""
    body = Body()
    for part in _leaves(msg):
        ctype = safe(part.get_content_type, "text/plain")
        filename = safe(part.get_filename, None)
        inline = safe(part.get_content_disposition, None) != "attachment" and not filename
        data = _payload_bytes(part)
        if inline and ctype in ("text/plain", "text/html"):
            text = decode_bytes(data, safe(part.get_content_charset, None))
            (body.plain if ctype == "text/plain" else body.html).append(text)
        elif inline and ctype.startswith("multipart/"):
            body.plain.append(decode_bytes(data))  # a broken multipart: its raw text
        elif len(body.attachments) < MAX_ATTACHMENTS:
            name = decode_words(header_text(filename)) if filename else ""
            body.attachments.append(
                Attachment(
                    name=name or f"attachment-{len(body.attachments) + 1}",
                    content_type=ctype,
                    size=len(data),
                )
            )
    return body


_BLOCK_TAGS: Final = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
     "pre", "hr", "section", "article", "header", "footer", "address", "dd", "dt"}
)  # fmt: skip
_SKIP_TAGS: Final = frozenset({"script", "style", "head", "title", "template"})


class _HtmlText(HTMLParser):
    """Crude but correct: tags out, entities decoded, blocks become lines, blockquotes `> `."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.quote = 0
        self.line_start = True

    def _newline(self) -> None:
        self.parts.append("\n")
        self.line_start = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
        elif tag in _BLOCK_TAGS and tag != "br":
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = re.sub(r"\s+", " ", data)
        if self.line_start:
            text = text.lstrip()
            if not text:
                return
            text = "> " * self.quote + text
        self.parts.append(text)
        self.line_start = False


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # html.parser raises AssertionError & co. on broken markup
        text = re.sub(r"<[^>]*>", " ", html)
    lines = [line.rstrip() for line in text.replace("\xa0", " ").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# Where a quoted tail starts. Cut at the first one, then strip `>` lines and attribution.
_SEPARATOR: Final = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|원본\s*(?:메일|메시지))\s*-{2,}\s*$", re.IGNORECASE
)
_HEADER_FROM: Final = re.compile(r"^\s*(?:From|보낸\s*사람)\s*:", re.IGNORECASE)
_HEADER_SENT: Final = re.compile(r"^\s*(?:Sent|Date|보낸\s*날짜)\s*:", re.IGNORECASE)
_ATTRIBUTION: Final = re.compile(
    r"^\s*(?:On\s.+\swrote\s*:|.+님이\s*작성(?:한\s*내용)?\s*[:：])\s*$", re.IGNORECASE
)


def _tail_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line):
            return i
        # Outlook: "From: …" followed within two lines by "Sent: …" (보낸 사람 / 보낸 날짜).
        if _HEADER_FROM.match(line) and any(_HEADER_SENT.match(n) for n in lines[i + 1 : i + 3]):
            return i
    return None


def strip_quoted(body: str) -> str:
    """The visible part of a reply: the quoted tail removed. Never empty for a non-empty body."""
    lines = body.splitlines()
    cut = _tail_start(lines)
    if cut is not None:
        del lines[cut:]

    def drop_trailing_quotes() -> None:
        while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
            lines.pop()

    drop_trailing_quotes()
    if lines and _ATTRIBUTION.match(lines[-1]):
        lines.pop()
    elif len(lines) >= 2 and _ATTRIBUTION.match(lines[-2] + " " + lines[-1]):
        del lines[-2:]  # the attribution wrapped onto two lines
    drop_trailing_quotes()
    visible = "\n".join(lines).strip()
    return visible or body.strip() or body
