"""The mail channel: raw RFC 5322 in (`normalise_mail`, see `parse_mail`), replies out by SMTP.

Checklist (STYLE.md):
- dedup key: `mail:<account>:<Message-ID without <>>`; no Message-ID → sha256 of the raw bytes.
- thread key: `mail:<message-id>`; `references` = In-Reply-To/References (+ a bounce's
  original) as `mail:<id>`; `[#number]` in the subject → `context.ticket_number`.
- limits: SMTP refuses mail over `INBOX_MAIL_MAX_BYTES` (552); text fields are capped to fit
  one NATS message; the raw mail and every file are kept in GridFS (`raw_ref`, `ref`).
- loop guard: automatic mail is flagged on the way in (`automatic_mail`); automatic replies
  to it, to no-reply addresses, or beyond a daily limit per sender never leave (`loop_guard`).
- total: `normalise_mail` never raises on any bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import aiohttp
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from inbox_core.connector import Channel, ReplyFile, SendResult
from inbox_core.errors import PermanentError, TransientError
from inbox_core.schema import OutboundReply, utcnow
from inbox_ingest_mail.headers import message_id
from inbox_ingest_mail.loop_guard import is_automatic, refusal, within_daily_limit
from inbox_ingest_mail.mailboxes import Mailbox
from inbox_ingest_mail.outbound import compose_reply, deliver
from inbox_ingest_mail.parse_mail import (
    CHANNEL,
    MAX_BODY_CHARS,
    MAX_JSON_BYTES,
    MAX_TEXT_CHARS,
    normalise_mail,
    read_mail,
)
from inbox_ingest_mail.settings import MailSettings, RelayConfig, parse_relay_url

__all__ = [
    "CHANNEL",
    "MAX_BODY_CHARS",
    "MAX_JSON_BYTES",
    "MAX_TEXT_CHARS",
    "MailAccounts",
    "MailChannel",
    "message_id",
    "normalise_mail",
    "read_mail",
]


class MailChannel(Channel):
    """One account: `<account>@<first INBOX_MAIL_DOMAINS entry>`, or an IMAP mailbox's
    address; replies through the mailbox's own relay or `SMTP_RELAY_URL`."""

    name = CHANNEL

    def __init__(
        self,
        account: str,
        settings: MailSettings,
        mailbox: Mailbox | None = None,
        db: AsyncDatabase[Any] | None = None,
    ) -> None:
        super().__init__(account)
        self.settings = settings
        self.mailbox = mailbox
        self.db = db  # the store, for the automatic-reply limit; None: no limit kept

    @property
    def address(self) -> str:
        if self.mailbox is not None and self.mailbox.address:
            return self.mailbox.address
        return f"{self.account}@{self.settings.from_domain}"

    def relay(self) -> RelayConfig | None:
        if self.mailbox is not None and self.mailbox.smtp_url:
            return parse_relay_url(self.mailbox.smtp_url)
        return self.settings.relay()

    def compose(self, reply: OutboundReply, files: Sequence[ReplyFile] = ()) -> EmailMessage:
        return compose_reply(
            reply,
            self.address,
            sender_name=self.mailbox.name if self.mailbox else None,
            id_domain=self.settings.id_domain,
            files=files,
        )

    async def _guard(self, reply: OutboundReply) -> None:
        if (reason := refusal(reply)) is not None:
            raise PermanentError(reason)
        if not is_automatic(reply) or self.db is None:
            return
        try:
            allowed = await within_daily_limit(
                self.db, reply, self.settings.auto_reply_limit, utcnow()
            )
        except PyMongoError as err:
            raise TransientError(f"store unavailable for the auto-reply limit: {err}") from err
        if not allowed:
            raise PermanentError(
                "automatic reply suppressed: daily limit of "
                f"{self.settings.auto_reply_limit} reached for this address"
            )

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        self.compose(reply)  # PermanentError on header injection, before any I/O
        await self._guard(reply)
        message = self.compose(reply, await self.reply_files(reply))
        await deliver(self.relay(), message)
        return SendResult(external_id=message_id(message["Message-ID"]))


class MailAccounts(dict[str, MailChannel]):
    """Any account may receive mail, so any account may reply: made on first use, with the
    IMAP mailbox of the same account when there is one."""

    def __init__(
        self,
        settings: MailSettings,
        mailboxes: list[Mailbox] | None = None,
        db: AsyncDatabase[Any] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.mailboxes = {m.account: m for m in mailboxes or []}
        self.db = db

    def __missing__(self, account: str) -> MailChannel:
        mailbox = self.mailboxes.get(account)
        channel = self[account] = MailChannel(account, self.settings, mailbox, self.db)
        return channel

    def get(self, account: str, default: Any = None) -> MailChannel:  # type: ignore[override]
        return self[account]

    def own_domains(self) -> frozenset[str]:
        """Domains our Message-IDs may carry (loop guard on the way in)."""
        domains = {self.settings.id_domain, self.settings.from_domain, *self.settings.mail_domains}
        domains |= {m.address.rsplit("@", 1)[1] for m in self.mailboxes.values() if m.address}
        return frozenset(d.lower().rstrip(".") for d in domains if d)
