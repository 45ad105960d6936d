"""Agent replies as mail: compose an RFC 5322 reply and hand it to the SMTP relay.

- Threading (RFC 5322 §3.6.4): `In-Reply-To` names the customer's mail, `References` its
  references plus its id; our own `Message-ID` `<inbox.<conversation>.<reply>@<domain>>`
  carries the conversation, so the customer's answer threads back (and a bounce names the
  reply). The subject carries the conversation number as `[#<number>]` for a reply that
  lost its headers.
- Encoding: UTF-8 everywhere. Korean subjects and display names go out as RFC 2047 words
  (the stdlib's `policy.default`); the body is `multipart/alternative` with a text part
  (quoted-printable when mostly ASCII, else base64) and a simple HTML part; files the agent
  attached follow as parts of a `multipart/mixed` (Korean names per RFC 2231).
- Automatic replies carry `Auto-Submitted: auto-replied` (RFC 3834); every reply asks
  Exchange not to answer it automatically (`X-Auto-Response-Suppress`).
- Header injection (CR/LF in any header value we set) is refused, before any I/O.
- Relay answers are translated at this edge: 5xx → PermanentError (reported failed with
  the server's reply); 4xx and network trouble → TransientError, retried here a few times
  with backoff (the core's `RetryPolicy`), then by the outbound consumer (nak with delay), then DLQ.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

import aiosmtplib

from inbox_core.connector import ReplyFile
from inbox_core.errors import PermanentError, TransientError
from inbox_core.http import RetryPolicy
from inbox_core.schema import OutboundReply
from inbox_ingest_mail.settings import RelayConfig
from inbox_ingest_mail.thread_ids import outbound_message_id

RELAY_TIMEOUT_S: Final = 30.0
RELAY_ATTEMPTS: Final = 3
MAX_REFERENCES: Final = 20
_REPLY_PREFIX: Final = re.compile(r"^\s*(?:(?:re|aw|회신|답장)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I)
_NUMBER_TAG: Final = re.compile(r"\s*\[#[^\]\s]{1,32}\]")
_MSG_ID_OK: Final = re.compile(r"^[!-;=?-~]+@[!-;=?-~]+$")  # printable ASCII, no '<' '>' or space
_URL: Final = re.compile(r"https?://[^\s<>\"']+")


def _refuse_line_breaks(what: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise PermanentError(f"{what} contains a line break (header injection refused)")


def reply_subject(subject: str | None, number: object | None) -> str:
    """`Re: <subject> [#<number>]`, without stacking `Re:` prefixes or number tags."""
    base = _REPLY_PREFIX.sub("", subject or "").strip()
    parts = ["Re:"]
    if number is not None:
        tag = str(number)
        _refuse_line_breaks("conversation number", tag)
        base = _NUMBER_TAG.sub("", base).strip()
        parts += [base, f"[#{tag}]"]
    else:
        parts.append(base)
    return " ".join(p for p in parts if p)


def _thread_ids(reply: OutboundReply) -> tuple[str | None, list[str]]:
    """(In-Reply-To id, References ids oldest first). Ids without '@' (hashes) are skipped."""
    earlier = reply.context.get("mail_references")
    ids = [str(i) for i in earlier if isinstance(i, str)] if isinstance(earlier, list) else []
    ids += [k.removeprefix("mail:") for k in reply.thread_keys if k.startswith("mail:")]
    if reply.in_reply_to:
        ids.append(reply.in_reply_to.strip().strip("<>"))
    for value in ids:
        _refuse_line_breaks("thread key", value)
    usable = [i for i in dict.fromkeys(ids) if _MSG_ID_OK.match(i)]
    answered = reply.in_reply_to.strip().strip("<>") if reply.in_reply_to else None
    parent: str | None
    if answered is not None and answered in usable:
        parent = answered
        usable.remove(answered)
        usable.append(answered)  # the parent comes last in References
    else:
        parent = usable[-1] if usable else None
    return parent, usable[-MAX_REFERENCES:]


def _address(what: str, addr: str | None, name: str | None = None) -> Address:
    addr = (addr or "").strip()
    _refuse_line_breaks(what, addr)
    _refuse_line_breaks(f"{what} name", name or "")
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or any(c in addr for c in ' <>,;"()'):
        raise PermanentError(f"{what} {addr!r} is not a usable e-mail address")
    try:
        return Address(display_name=(name or "").strip(), username=local, domain=domain)
    except (ValueError, IndexError) as err:
        raise PermanentError(f"{what} {addr!r} is not a usable e-mail address") from err


def _html_body(text: str) -> str:
    escaped = html.escape(text)
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    paragraphs = [p.replace("\n", "<br>\n") for p in re.split(r"\n{2,}", linked.strip())]
    inner = "\n".join(f"<p>{p}</p>" for p in paragraphs if p)
    return (
        '<!DOCTYPE html>\n<html><body><div style="font-family:sans-serif">\n'
        f"{inner}\n</div></body></html>\n"
    )


def compose_reply(
    reply: OutboundReply,
    sender: str,
    *,
    sender_name: str | None = None,
    id_domain: str | None = None,
    files: Sequence[ReplyFile] = (),
) -> EmailMessage:
    """The reply as a UTF-8 mail. Raises PermanentError on header injection or no address."""
    to = _address("recipient", reply.customer.email or reply.customer.id, reply.customer.name)
    from_ = _address("sender", sender, sender_name)
    _refuse_line_breaks("subject", reply.subject or "")
    parent, references = _thread_ids(reply)

    message = EmailMessage()
    message["From"] = from_
    message["To"] = to
    message["Subject"] = reply_subject(reply.subject, reply.context.get("conversation_number"))
    message["Date"] = format_datetime(reply.created_at)
    # Stable per reply: a redelivered reply carries the same Message-ID, so it can be deduped.
    domain = id_domain or from_.domain
    message["Message-ID"] = f"<{outbound_message_id(reply.conversation_id, reply.id, domain)}>"
    if parent:
        message["In-Reply-To"] = f"<{parent}>"
        message["References"] = " ".join(f"<{i}>" for i in references)
    if reply.context.get("automatic"):
        message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    mostly_ascii = sum(not c.isascii() for c in reply.text) * 10 < max(1, len(reply.text))
    cte = "quoted-printable" if mostly_ascii else "base64"
    message.set_content(reply.text, charset="utf-8", cte=cte)
    message.add_alternative(_html_body(reply.text), subtype="html", charset="utf-8", cte=cte)
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        if not maintype or not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        _refuse_line_breaks("attachment name", file.name)
        # The stdlib writes a Korean name as an RFC 2231 `filename*=utf-8''…` parameter.
        message.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=file.name)
    return message


async def _send_once(relay: RelayConfig, message: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            message,
            hostname=relay.host,
            port=relay.port,
            username=relay.username,
            password=relay.password,
            use_tls=relay.use_tls,
            start_tls=relay.start_tls,
            timeout=RELAY_TIMEOUT_S,
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        detail = "; ".join(f"{r.code} {r.message}" for r in err.recipients)
        if all(r.code >= 500 for r in err.recipients):
            raise PermanentError(f"relay refused the recipient: {detail}") from err
        raise TransientError(f"relay deferred the recipient: {detail}") from err
    except aiosmtplib.SMTPAuthenticationError as err:
        raise PermanentError(f"relay refused our credentials: {err.code} {err.message}") from err
    except aiosmtplib.SMTPResponseException as err:
        if err.code >= 500:
            raise PermanentError(f"relay refused the message: {err.code} {err.message}") from err
        raise TransientError(f"relay deferred the message: {err.code} {err.message}") from err
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as err:
        raise TransientError(f"relay unreachable: {type(err).__name__}: {err}") from err


async def deliver(
    relay: RelayConfig | None, message: EmailMessage, *, attempts: int = RELAY_ATTEMPTS
) -> None:
    """Send through the relay, retrying temporary failures a few times with backoff."""
    if relay is None:
        raise PermanentError("no SMTP_RELAY_URL configured")
    retry = RetryPolicy(attempts=attempts, base_s=0.2, max_wait_s=5.0)
    await retry.call(lambda: _send_once(relay, message), what=f"smtp relay {relay.host}")
