"""The part tree of a mail: which parts are the body, which are files. Pure and total.

- Inline `text/plain` and `text/html` parts without a file name are the body (every one of
  them, in order: Apple Mail splits text around inline images); their bytes are decoded
  with `charsets.decode_text`, and a charset that did not fit is noted.
- Every other leaf is a file, with its decoded bytes: attachments, inline images (with
  their Content-ID), attached messages (`message/rfc822`, kept whole, never read as body),
  and the parts of a delivery report.
- Content-Transfer-Encoding (base64, quoted-printable, uuencode, 7/8bit) is undone by the
  stdlib; a payload it cannot decode is kept as sent.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Final

from inbox_ingest_mail.charsets import decode_bytes, decode_text
from inbox_ingest_mail.headers import filename_of, header_text, message_id, raw_header, safe

MAX_FILES: Final = 100
MAX_PART_DEPTH: Final = 30
_NAMES_FOR_TYPE: Final = {
    "message/rfc822": "message.eml",
    "message/delivery-status": "delivery-status.txt",
    "message/global-delivery-status": "delivery-status.txt",
    "text/rfc822-headers": "headers.txt",
    "message/disposition-notification": "disposition-notification.txt",
}


@dataclass(frozen=True)
class FilePart:
    name: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class Body:
    plain: list[str] = field(default_factory=list)  # inline text/plain parts
    html: list[str] = field(default_factory=list)  # inline text/html parts
    files: list[FilePart] = field(default_factory=list)
    charset_fixes: list[str] = field(default_factory=list)  # "declared→used"


def _leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    """Leaf parts, not descending into attached messages (message/rfc822 stays one leaf)."""
    payload = safe(part.get_payload, None)
    maintype = safe(part.get_content_maintype, "text")
    if maintype == "multipart" and isinstance(payload, list) and depth < MAX_PART_DEPTH:
        for sub in payload:
            if isinstance(sub, Message):
                yield from _leaves(sub, depth + 1)
    else:
        yield part


def payload_bytes(part: Message) -> bytes:
    """The decoded bytes of a leaf; an attached message as sent; undecodable as sent."""
    if part.is_multipart() or safe(part.get_content_maintype, "") == "message":
        whole = safe(part.as_bytes, None)
        if whole is None:
            whole = safe(lambda: part.as_string().encode("utf-8", "surrogateescape"), b"")
        _head, sep, rest = whole.partition(b"\n\n")
        return rest if sep else whole  # the part's body: the attached message as sent
    data = safe(lambda: part.get_payload(decode=True), None)
    if isinstance(data, bytes):
        return data
    raw = safe(lambda: part.get_payload(), "")
    if not isinstance(raw, str):
        return b""
    return safe(lambda: raw.encode("utf-8", "surrogateescape"), raw.encode("utf-8", "replace"))


def _content_id(part: Message) -> str | None:
    raw = raw_header(part, "content-id")
    return message_id(header_text(raw)) if raw else None


def _default_name(ctype: str, index: int, inline: bool) -> str:
    if ctype in _NAMES_FOR_TYPE:
        return _NAMES_FOR_TYPE[ctype]
    extension = mimetypes.guess_extension(ctype, strict=False) or ".bin"
    stem = "image" if inline and ctype.startswith("image/") else "attachment"
    return f"{stem}-{index}{extension}"


def _charset_of(part: Message) -> str | None:
    value = safe(part.get_content_charset, None)
    return value if isinstance(value, str) else None


def read_body(msg: Message) -> Body:
    """Walk the part tree: inline text is the body, every other leaf is a file."""
    body = Body()
    for part in _leaves(msg):
        ctype = safe(part.get_content_type, "text/plain")
        if not re.fullmatch(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", ctype):
            ctype = "application/octet-stream"
        disposition = safe(part.get_content_disposition, None)
        name = filename_of(part)
        data = payload_bytes(part)
        if disposition != "attachment" and not name and ctype in ("text/plain", "text/html"):
            decoded = decode_text(data, _charset_of(part))
            if decoded.mislabelled and decoded.declared:
                body.charset_fixes.append(f"{decoded.declared}→{decoded.codec}")
            (body.plain if ctype == "text/plain" else body.html).append(decoded.text)
        elif disposition != "attachment" and not name and ctype.startswith("multipart/"):
            body.plain.append(decode_bytes(data))  # a broken or too deep multipart: its text
        elif len(body.files) < MAX_FILES:
            content_id = _content_id(part)
            inline = disposition == "inline" or (
                disposition is None and content_id is not None and ctype.startswith("image/")
            )
            body.files.append(
                FilePart(
                    name=name or _default_name(ctype, len(body.files) + 1, inline),
                    content_type=ctype,
                    data=data,
                    content_id=content_id,
                    inline=inline,
                )
            )
    return body
