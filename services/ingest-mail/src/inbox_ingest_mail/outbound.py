"""Agent replies as mail: compose an RFC 5322 reply and hand it to the SMTP relay.

Threading follows RFC 5322 §3.6.4: `In-Reply-To` names the message answered, `References`
the thread. The subject carries the conversation number as `[#<number>]` (DESIGN.md).
Relay answers are translated at this edge: 5xx → PermanentError (reported as failed),
4xx and network trouble → TransientError (retried by the outbound consumer).
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Final

import aiosmtplib

from inbox_core.errors import PermanentError, TransientError
from inbox_core.schema import OutboundReply
from inbox_ingest_mail.settings import RelayConfig

RELAY_TIMEOUT_S: Final = 30.0
_REPLY_PREFIX: Final = re.compile(r"^\s*(?:(?:re|aw|회신|답장)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I)
_NUMBER_TAG: Final = re.compile(r"\s*\[#[^\]\s]{1,32}\]")
_MSG_ID_OK: Final = re.compile(r"^[!-;=?-~]+@[!-;=?-~]+$")  # printable ASCII, no '<' '>' or space


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
    ids = [k.removeprefix("mail:") for k in reply.thread_keys if k.startswith("mail:")]
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
    return parent, usable


def _address(what: str, value: str | None) -> str:
    value = (value or "").strip()
    _refuse_line_breaks(what, value)
    _, addr = parseaddr(value)
    if not addr or addr != value or "@" not in addr or " " in addr:
        raise PermanentError(f"{what} {value!r} is not a usable e-mail address")
    return addr


def compose_reply(reply: OutboundReply, sender: str) -> EmailMessage:
    """The reply as a UTF-8 mail. Raises PermanentError on header injection or no address."""
    to = _address("recipient", reply.customer.email or reply.customer.id)
    sender = _address("sender", sender)
    _refuse_line_breaks("subject", reply.subject or "")
    parent, references = _thread_ids(reply)
    domain = sender.rsplit("@", 1)[1]
    safe = re.compile(r"[^A-Za-z0-9_-]")

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = reply_subject(reply.subject, reply.context.get("conversation_number"))
    message["Date"] = format_datetime(reply.created_at)
    # Stable per reply: a redelivered reply carries the same Message-ID, so it can be deduped.
    conversation, reply_id = safe.sub("", reply.conversation_id), safe.sub("", reply.id)
    message["Message-ID"] = f"<inbox.{conversation}.{reply_id}@{domain}>"
    if parent:
        message["In-Reply-To"] = f"<{parent}>"
        message["References"] = " ".join(f"<{i}>" for i in references)
    message.set_content(reply.text, charset="utf-8", cte="base64")
    return message


async def deliver(relay: RelayConfig | None, message: EmailMessage) -> None:
    """Send through the relay; translate its answers into the error taxonomy."""
    if relay is None:
        raise PermanentError("no SMTP_RELAY_URL configured")
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
