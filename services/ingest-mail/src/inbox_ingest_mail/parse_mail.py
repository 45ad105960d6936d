"""Raw RFC 5322 bytes → `InboundMessage` (+ the files' bytes). Pure and total.

Checklist (STYLE.md):
- dedup key: `mail:<account>:<Message-ID without <>>`; no Message-ID → sha256 of the raw bytes.
- thread key: `mail:<message-id>`; `references` holds In-Reply-To and References as `mail:<id>`
  (and, for a bounce, the Message-ID of the mail that bounced); a `[#number]` subject tag is
  `context.ticket_number` (for a reply that lost its headers).
- limits: text fields are capped so the JSON stays under the NATS payload limit
  (`context.truncated` says so); the whole raw mail is kept in the store (`raw_ref`).
- loop guard: auto-replies, bounces and list mail are flagged (`automatic_mail`).
- total: never raises on any bytes; a mail it cannot parse is published as its raw text
  (`context.parse_error`), never dropped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from email.utils import parseaddr
from typing import Any, Final

from inbox_core.connector import THREAD_ROOT
from inbox_core.schema import Attachment, Customer, InboundMessage
from inbox_core.text import ticket_number
from inbox_ingest_mail.automatic_mail import MailFacts, detect_flags, suppresses_auto_replies
from inbox_ingest_mail.bounces import read_bounce
from inbox_ingest_mail.charsets import decode_bytes
from inbox_ingest_mail.headers import clean_id, decode_words, header_text, ids_in, message_id, safe
from inbox_ingest_mail.html_text import html_to_text
from inbox_ingest_mail.mime_parts import FilePart, read_body
from inbox_ingest_mail.visible_text import visible_text

CHANNEL: Final = "mail"
# ~3 bytes per Hangul syllable: text + full_text + html stay under NATS' 1 MiB payload;
# `_fit` shrinks further what JSON escaping still blows up (control characters: 6 bytes).
MAX_TEXT_CHARS: Final = 50_000
MAX_BODY_CHARS: Final = 100_000
MAX_JSON_BYTES: Final = 900_000
MAX_REFERENCES: Final = 50


@dataclass
class ReadMail:
    """A parsed mail: the message for the bus, and the bytes of its files (same order as
    `message.attachments`) for the store."""

    message: InboundMessage
    files: list[FilePart] = field(default_factory=list)


def _clip(value: str, limit: int, context: dict[str, Any]) -> str:
    if len(value) > limit:
        context["truncated"] = True
        return value[:limit]
    return value


def _headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    items: list[tuple[str, Any]] = safe(lambda: list(msg.raw_items()), [])
    for name, value in items:
        headers.setdefault(name.strip().lower(), header_text(str(value)))
    return headers


def _texts(msg: Message, context: dict[str, Any]) -> tuple[str, str, str | None, list[FilePart]]:
    """(full text, visible text, html, files)."""
    body = read_body(msg)
    if body.charset_fixes:
        context["charset_fixes"] = body.charset_fixes
    html = "\n".join(body.html) or None
    full_text = "\n\n".join(p for p in body.plain if p.strip())
    cuts: list[str] = []
    if full_text.strip() or not html:
        full_text = full_text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
        text = visible_text(full_text, cuts)
    else:  # HTML only: quote containers dropped from the markup first
        full_text = html_to_text(html)
        text = visible_text(html_to_text(html, without_quotes=True), cuts)
        if not text.strip():
            text = visible_text(full_text, cuts)
    if cuts:
        context["stripped"] = cuts
    if inline := [f.content_id for f in body.files if f.inline and f.content_id]:
        context["inline_images"] = inline
    return full_text, text, html, body.files


def _parse(raw: bytes, account: str, received_at: datetime, envelope_from: str | None,
           own_domains: frozenset[str], mail_policy: Policy) -> ReadMail:  # fmt: skip
    msg = BytesParser(policy=mail_policy).parsebytes(raw)
    headers = _headers(msg)
    from_name, from_addr = safe(lambda: parseaddr(headers.get("from", "")), ("", ""))
    sender = from_addr.strip().lower()
    if "@" not in sender and envelope_from and "@" in envelope_from:
        sender = envelope_from.strip().lower()
    sender = sender if clean_id(sender) else ""
    subject = re.sub(r"\s+", " ", decode_words(headers.get("subject", ""))).strip()
    own_id = message_id(headers.get("message-id"))
    content_type = safe(msg.get_content_type, "text/plain")
    facts = MailFacts(
        headers=headers,
        subject=subject,
        sender=sender,
        content_type=content_type,
        report_type=str(safe(lambda: msg.get_param("report-type", "") or "", "")).lower(),
        envelope_from=envelope_from,
        own_domains=own_domains,
        message_id=own_id,
    )
    external_id = own_id or hashlib.sha256(raw).hexdigest()
    context: dict[str, Any] = {}
    full_text, text, html, files = _texts(msg, context)
    flags, reasons = detect_flags(facts)
    if reasons:
        context["flag_reasons"] = reasons
    if suppresses_auto_replies(facts):
        context["suppress_auto_reply"] = True
    referenced = ids_in(headers.get("in-reply-to")) + ids_in(headers.get("references"))
    if flags.bounce and (bounce := read_bounce(msg, full_text, own_domains)) is not None:
        context["bounce"] = bounce.as_context()
        if bounce.original_message_id:
            referenced.append(bounce.original_message_id)
    referenced = [i for i in dict.fromkeys(referenced[-MAX_REFERENCES:]) if i != external_id]
    if referenced:  # our reply's References: theirs plus their id (RFC 5322 §3.6.4)
        context["mail_references"] = referenced[-20:]
    # The mail the thread started with (References lists it first): a reply is ordered, and
    # with replicas partitioned, with the mail it answers (`connector.order_key_of`).
    started = ids_in(headers.get("references")) or ids_in(headers.get("in-reply-to"))
    if started and started[0] != external_id:
        context[THREAD_ROOT] = f"mail:{started[0]}"
    if (number := ticket_number(subject)) is not None:
        context["ticket_number"] = number
    message = InboundMessage(
        channel=CHANNEL,
        account=account,
        external_id=external_id,
        thread_keys=[f"mail:{external_id}"],
        references=[f"mail:{i}" for i in referenced],
        customer=Customer(
            id=sender or f"unknown:{external_id[:32]}",
            email=sender or None,
            name=_clip(decode_words(from_name).strip(), 200, context) or None,
        ),
        subject=_clip(subject, 1000, context) or None,
        text=_clip(text, MAX_TEXT_CHARS, context),
        full_text=_clip(full_text, MAX_BODY_CHARS, context),
        html=_clip(html, MAX_BODY_CHARS, context) if html else None,
        attachments=[
            Attachment(name=f.name, content_type=f.content_type, size=len(f.data)) for f in files
        ],
        received_at=received_at,
        context=context,
        flags=flags,
    )
    return ReadMail(message, files)


def _fit(message: InboundMessage) -> InboundMessage:
    """Halve html, then the texts, until the JSON fits one NATS message."""
    while len(message.to_json()) > MAX_JSON_BYTES:
        message.context["truncated"] = True
        if message.html:
            message.html = message.html[: len(message.html) // 2] or None
        elif message.full_text or message.text:
            message.full_text = (message.full_text or "")[: len(message.full_text or "") // 2]
            message.text = message.text[: len(message.text) // 2]
        elif message.attachments:
            message.attachments = message.attachments[: len(message.attachments) // 2]
        else:
            break  # nothing left to shrink; the other fields are bounded
    return message


def _unparsed(raw: bytes, account: str, received_at: datetime, error: str) -> InboundMessage:
    """The last resort: the raw bytes as text, under a hash of themselves."""
    digest = hashlib.sha256(raw).hexdigest()
    context: dict[str, Any] = {"parse_error": error[:500]}
    text = decode_bytes(raw).replace("\r\n", "\n")
    return InboundMessage(
        channel=CHANNEL,
        account=account,
        external_id=digest,
        thread_keys=[f"mail:{digest}"],
        customer=Customer(id=f"unknown:{digest[:32]}"),
        text=_clip(text, MAX_TEXT_CHARS, context) or text[:1] or " ",
        full_text=_clip(text, MAX_BODY_CHARS, context),
        received_at=received_at,
        context=context,
    )


def read_mail(
    raw: bytes,
    account: str,
    received_at: datetime,
    *,
    envelope_from: str | None = None,
    own_domains: frozenset[str] = frozenset(),
) -> ReadMail:
    """Pure: raw bytes → message and files. Never raises for any bytes (the account and
    `received_at` must be valid). `envelope_from` (SMTP MAIL FROM, '' for `<>`) stands in
    for a missing From header; `own_domains` are where our Message-IDs live (loop guard).

    `policy.default` first; when its header classes choke on hostile input, `compat32`
    (plain string headers) still gives the structure; the raw text is the last resort."""
    error = ""
    for mail_policy in (policy.default, policy.compat32):
        try:
            read = _parse(raw, account, received_at, envelope_from, own_domains, mail_policy)
            read.message = _fit(read.message)
            return read
        except Exception as err:  # never drop a mail: try the next, then publish raw text
            error = f"{type(err).__name__}: {err}"
    return ReadMail(_fit(_unparsed(raw, account, received_at, error)))


def normalise_mail(
    raw: bytes,
    account: str,
    received_at: datetime,
    *,
    envelope_from: str | None = None,
    own_domains: frozenset[str] = frozenset(),
) -> InboundMessage:
    """`read_mail` without the files' bytes."""
    return read_mail(
        raw, account, received_at, envelope_from=envelope_from, own_domains=own_domains
    ).message
