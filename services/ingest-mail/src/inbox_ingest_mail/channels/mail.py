"""The mail channel: one raw RFC 5322 message in, one `InboundMessage` out; replies out by SMTP.

Checklist (STYLE.md):
- dedup key: `mail:<account>:<Message-ID without <>>`; no Message-ID → sha256 of the raw bytes.
- thread key: `mail:<message-id>`; `references` holds In-Reply-To and References as `mail:<id>`.
- limits: the SMTP server refuses mail over `INBOX_MAIL_MAX_BYTES` (552); text fields are capped
  so the JSON stays under the NATS payload limit (`context.truncated` says so).
- loop guard: auto-replies, bounces and list mail are flagged here, by small checks run in the
  declared order below; the router never answers them.
- total: `normalise_mail` never raises on any bytes; a mail it cannot parse is published as
  its raw text (`context.parse_error`), never dropped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import Policy
from email.utils import parseaddr
from typing import Any, Final

import aiohttp

from inbox_core.connector import Channel, SendResult
from inbox_core.schema import Customer, InboundMessage, MessageFlags, OutboundReply
from inbox_ingest_mail.mime import (
    decode_bytes,
    decode_words,
    header_text,
    html_to_text,
    read_body,
    safe,
    strip_quoted,
)
from inbox_ingest_mail.outbound import compose_reply, deliver
from inbox_ingest_mail.settings import MailSettings

CHANNEL: Final = "mail"
# ~3 bytes per Hangul syllable: text + full_text + html stay under NATS' 1 MiB payload;
# `_fit` shrinks further what JSON escaping still blows up (control characters: 6 bytes).
MAX_TEXT_CHARS: Final = 50_000
MAX_BODY_CHARS: Final = 100_000
MAX_JSON_BYTES: Final = 900_000
MAX_REFERENCES: Final = 50

_ID: Final = re.compile(r"<([^<>\s]{1,250})>")


def _clean_id(value: str) -> str | None:
    value = value.strip()
    ok = 0 < len(value) <= 250 and value.isascii() and value.isprintable() and " " not in value
    return value if ok else None


def message_id(value: str | None) -> str | None:
    """`<abc@x>` → `abc@x`; None when missing or unusable as a key."""
    if not value:
        return None
    match = _ID.search(value)
    return _clean_id(match.group(1) if match else value)


@dataclass(frozen=True)
class MailFacts:
    """What the detection checks look at: decoded headers, subject, sender."""

    headers: dict[str, str]  # lower-case name → first value, unfolded
    subject: str
    sender: str  # lower-cased address, '' when unknown
    content_type: str

    def header(self, name: str) -> str:
        return self.headers.get(name, "").strip().lower()


# --- detection, one heuristic per function, run in the declared order --------------------
_OUT_OF_OFFICE: Final = (
    "out of office", "automatic reply", "자동 회신", "자동회신", "[자동회신]", "자동응답", "부재중",
    "[부재중]",
)  # fmt: skip


def auto_submitted(f: MailFacts) -> bool:  # RFC 3834: anything but "no"
    value = f.header("auto-submitted").split(";", 1)[0].strip()
    return bool(value) and value != "no"


def x_autoreply(f: MailFacts) -> bool:  # vendor headers: X-Autoreply: yes, X-Autorespond: *
    return any(
        f.header(h) not in ("", "no", "false", "0") for h in ("x-autoreply", "x-autorespond")
    )


def precedence_auto(f: MailFacts) -> bool:
    return f.header("precedence") in ("auto_reply", "bulk", "junk")


def out_of_office_subject(f: MailFacts) -> bool:
    return f.subject.lstrip().lower().startswith(_OUT_OF_OFFICE)


def system_sender(f: MailFacts) -> bool:
    return f.sender.split("@", 1)[0] in ("mailer-daemon", "postmaster")


def delivery_report(f: MailFacts) -> bool:  # RFC 3462/6522 multipart/report
    return f.content_type == "multipart/report"


def list_headers(f: MailFacts) -> bool:  # RFC 2919 List-Id, RFC 2369 List-Unsubscribe
    return "list-id" in f.headers or "list-unsubscribe" in f.headers


def precedence_list(f: MailFacts) -> bool:
    return f.header("precedence") == "list"


AUTO_REPLY_CHECKS: Final = (auto_submitted, x_autoreply, precedence_auto, out_of_office_subject)
BOUNCE_CHECKS: Final = (system_sender, delivery_report)
LIST_CHECKS: Final = (list_headers, precedence_list)


def detect_flags(f: MailFacts) -> tuple[MessageFlags, list[str]]:
    """The flags and the names of the checks that set them."""
    fired = {
        kind: [c.__name__ for c in checks if c(f)]
        for kind, checks in (
            ("auto_reply", AUTO_REPLY_CHECKS), ("bounce", BOUNCE_CHECKS), ("list_mail", LIST_CHECKS)
        )
    }  # fmt: skip
    flags = MessageFlags(**{kind: bool(names) for kind, names in fired.items()})
    return flags, [name for names in fired.values() for name in names]


# --- parsing ------------------------------------------------------------------------------
def _clip(value: str, limit: int, context: dict[str, Any]) -> str:
    if len(value) > limit:
        context["truncated"] = True
        return value[:limit]
    return value


def _parse(
    raw: bytes,
    account: str,
    received_at: datetime,
    envelope_from: str | None,
    mail_policy: Policy,
) -> InboundMessage:
    msg = BytesParser(policy=mail_policy).parsebytes(raw)
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.strip().lower(), header_text(str(value)))
    from_name, from_addr = safe(lambda: parseaddr(headers.get("from", "")), ("", ""))
    sender = from_addr.strip().lower()
    if "@" not in sender and envelope_from and "@" in envelope_from:
        sender = envelope_from.strip().lower()
    sender = sender if _clean_id(sender) else ""
    subject = re.sub(r"\s+", " ", decode_words(headers.get("subject", ""))).strip()
    facts = MailFacts(headers, subject, sender, safe(msg.get_content_type, "text/plain"))

    own_id = message_id(headers.get("message-id"))
    external_id = own_id or hashlib.sha256(raw).hexdigest()
    irt = _ID.findall(headers.get("in-reply-to", ""))
    refs = _ID.findall(headers.get("references", ""))[-MAX_REFERENCES:]
    referenced = [i for i in dict.fromkeys(irt + refs) if _clean_id(i) and i != external_id]

    body = read_body(msg)
    context: dict[str, Any] = {}
    html = "\n".join(body.html) or None
    full_text = "\n\n".join(p for p in body.plain if p.strip())
    if not full_text.strip() and html:
        full_text = html_to_text(html)
    full_text = full_text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    flags, reasons = detect_flags(facts)
    if reasons:
        context["flag_reasons"] = reasons
    return InboundMessage(
        channel=CHANNEL,
        account=account,
        external_id=external_id,
        thread_keys=[f"mail:{external_id}"],
        references=[f"mail:{i}" for i in referenced[:MAX_REFERENCES]],
        customer=Customer(
            id=sender or f"unknown:{external_id[:32]}",
            email=sender or None,
            name=_clip(decode_words(from_name).strip(), 200, context) or None,
        ),
        subject=_clip(subject, 1000, context) or None,
        text=_clip(strip_quoted(full_text), MAX_TEXT_CHARS, context),
        full_text=_clip(full_text, MAX_BODY_CHARS, context),
        html=_clip(html, MAX_BODY_CHARS, context) if html else None,
        attachments=body.attachments,
        received_at=received_at,
        context=context,
        flags=flags,
    )


def _fit(message: InboundMessage) -> InboundMessage:
    """Halve html, then the texts, until the JSON fits one NATS message."""
    while len(message.to_json()) > MAX_JSON_BYTES:
        message.context["truncated"] = True
        if message.html:
            message.html = message.html[: len(message.html) // 2] or None
        elif message.full_text or message.text:
            message.full_text = (message.full_text or "")[: len(message.full_text or "") // 2]
            message.text = message.text[: len(message.text) // 2]
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
        text=_clip(text, MAX_TEXT_CHARS, context),
        full_text=_clip(text, MAX_BODY_CHARS, context),
        received_at=received_at,
        context=context,
    )


def normalise_mail(
    raw: bytes, account: str, received_at: datetime, *, envelope_from: str | None = None
) -> InboundMessage:
    """Pure: raw RFC 5322 bytes → InboundMessage. Never raises for any bytes (the account
    and `received_at` must be valid). `envelope_from` (SMTP MAIL FROM) stands in for a
    missing From header.

    `policy.default` first; when its header classes choke on hostile input, `compat32`
    (plain string headers) still gives the structure; the raw text is the last resort."""
    error = ""
    for mail_policy in (policy.default, policy.compat32):
        try:
            return _fit(_parse(raw, account, received_at, envelope_from, mail_policy))
        except Exception as err:  # never drop a mail: try the next, then publish raw text
            error = f"{type(err).__name__}: {err}"
    return _fit(_unparsed(raw, account, received_at, error))


# --- outbound -----------------------------------------------------------------------------
class MailChannel(Channel):
    """One mailbox (`<account>@<first INBOX_MAIL_DOMAINS entry>`), replying through the relay."""

    name = CHANNEL

    def __init__(self, account: str, settings: MailSettings) -> None:
        super().__init__(account)
        self.settings = settings

    def compose(self, reply: OutboundReply) -> EmailMessage:
        return compose_reply(reply, f"{self.account}@{self.settings.from_domain}")

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        message = self.compose(reply)  # PermanentError on header injection, before any I/O
        await deliver(self.settings.relay(), message)
        return SendResult(external_id=message_id(message["Message-ID"]))


class MailAccounts(dict[str, MailChannel]):
    """Any account may receive mail, so any account may reply: made on first use."""

    def __init__(self, settings: MailSettings) -> None:
        super().__init__()
        self.settings = settings

    def __missing__(self, account: str) -> MailChannel:
        channel = self[account] = MailChannel(account, self.settings)
        return channel

    def get(self, account: str, default: Any = None) -> MailChannel:  # type: ignore[override]
        return self[account]
