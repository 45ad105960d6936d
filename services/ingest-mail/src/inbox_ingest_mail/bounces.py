"""What a bounce says: which recipient failed, with which status, for which of our mails.

RFC 3464 delivery-status notifications (`multipart/report; report-type=delivery-status`)
are read part by part: the per-recipient blocks of `message/delivery-status`, and the
original's Message-ID from the returned `message/rfc822` or `text/rfc822-headers` part.
Non-RFC bounces (some Korean hosting MTAs) are read from their text: the first
`<address>:` / status code / Message-ID found. Pure and total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Any, Final

from inbox_ingest_mail.headers import header_text, message_id, safe
from inbox_ingest_mail.thread_ids import parse_own_message_id

MAX_TEXT: Final = 300
_STATUS: Final = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_RECIPIENT: Final = re.compile(r"<([^<>@\s]{1,64}@[^<>\s]{1,255})>\s*[:(]")
_MESSAGE_ID_LINE: Final = re.compile(r"^\s*Message-ID\s*:\s*(<[^<>\s]+>)", re.I | re.M)
_OWN_ID_ANYWHERE: Final = re.compile(
    r"<(inbox\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}@[^<>\s]+)>"
)


@dataclass(frozen=True)
class BounceReport:
    recipient: str | None = None
    action: str | None = None  # failed | delayed | delivered | relayed | expanded
    status: str | None = None  # enhanced status code, e.g. 5.1.1
    diagnostic: str | None = None
    original_message_id: str | None = None

    @property
    def permanent(self) -> bool:
        """A final failure (5.x.x or Action: failed); a delay (4.x.x) is not."""
        if self.action:
            return self.action == "failed"
        return bool(self.status and self.status.startswith("5"))

    def as_context(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None} | {
            "permanent": self.permanent
        }


def _field(block: Message, name: str) -> str | None:
    value = safe(lambda: block.get(name), None)
    if value is None:
        return None
    text = header_text(str(value))
    if ";" in text and name.lower() in ("final-recipient", "original-recipient", "diagnostic-code"):
        text = text.split(";", 1)[1]  # "rfc822; a@b", "smtp; 550 …"
    return text.strip()[:MAX_TEXT] or None


def _blocks(part: Message) -> list[Message]:
    payload = safe(part.get_payload, None)
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    if isinstance(payload, str):  # not split into blocks: parse each header block ourselves
        return [HeaderParser().parsestr(b) for b in re.split(r"\r?\n\r?\n", payload) if b.strip()]
    return []


def _recipient_block(part: Message) -> dict[str, str | None] | None:
    found: list[dict[str, str | None]] = []
    for block in _blocks(part):
        recipient = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
        if recipient is None:
            continue
        action = _field(block, "Action")
        found.append(
            {
                "recipient": recipient.strip("<> ").lower(),
                "action": action.lower() if action else None,
                "status": (_STATUS.search(_field(block, "Status") or "") or [None])[0],
                "diagnostic": _field(block, "Diagnostic-Code"),
            }
        )
    failed = [b for b in found if b["action"] == "failed"]
    chosen = failed or found
    return chosen[0] if chosen else None


def _original_id(part: Message) -> str | None:
    ctype = safe(part.get_content_type, "")
    if ctype == "message/rfc822":
        payload = safe(part.get_payload, None)
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message):
            return message_id(str(safe(lambda: inner.get("Message-ID"), "") or ""))
    if ctype == "text/rfc822-headers":
        data = safe(lambda: part.get_payload(decode=True), b"")
        if not isinstance(data, bytes):
            data = str(safe(part.get_payload, "")).encode("utf-8", "replace")
        headers = HeaderParser().parsestr(data.decode("utf-8", "replace"))
        return message_id(str(headers.get("Message-ID") or ""))
    return None


def read_bounce(msg: Message, text: str, own_domains: frozenset[str]) -> BounceReport | None:
    """The report of a bounce, from its DSN parts or, failing that, its text."""
    fields: dict[str, str | None] = {}
    original: str | None = None
    parts: list[Message] = safe(lambda: list(msg.walk()), [])
    for part in parts:
        ctype = safe(part.get_content_type, "")
        if ctype in ("message/delivery-status", "message/global-delivery-status") and not fields:
            fields = _recipient_block(part) or {}
        elif original is None and ctype in ("message/rfc822", "text/rfc822-headers"):
            original = _original_id(part)
    if original is None or parse_own_message_id(original, own_domains) is None:
        # Ours anywhere in the text beats a foreign id (a non-RFC bounce quoting headers).
        for candidate in _OWN_ID_ANYWHERE.findall(text):
            if parse_own_message_id(candidate, own_domains):
                original = candidate
                break
        else:
            if original is None and (match := _MESSAGE_ID_LINE.search(text)):
                original = message_id(match.group(1))
    if not fields:
        recipient = _RECIPIENT.search(text)
        status = _STATUS.search(text)
        fields = {
            "recipient": recipient.group(1).lower() if recipient else None,
            "status": status.group(0) if status else None,
        }
    report = BounceReport(original_message_id=original, **fields)
    return report if any(report.__dict__.values()) else None
