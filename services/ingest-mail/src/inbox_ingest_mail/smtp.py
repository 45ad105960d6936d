"""The inbound SMTP server (MX / relay target), in the service's own asyncio loop.

The SMTP answer is the platform acknowledgement of DESIGN.md: `250` only after the raw
mail is kept in the store and every recipient account's message got its JetStream PubAck;
`451` when the bus or the store is down, so the sending MTA keeps the mail and retries.
Refusals: `550` for a domain we do not serve, `553` for a local part that names no usable
account, `552` for oversize mail (read with bounded memory, `smtp_data`), `530` for mail
before STARTTLS when `INBOX_SMTP_REQUIRE_TLS` is set. STARTTLS is offered when a
certificate and key are configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from opentelemetry import trace

from inbox_core import metrics
from inbox_core.errors import BusUnavailable, TransientError
from inbox_core.logging import get_logger
from inbox_core.schema import utcnow
from inbox_core.telemetry import tracer
from inbox_ingest_mail.charsets import valid_text
from inbox_ingest_mail.intake import MailIntake
from inbox_ingest_mail.parse_mail import CHANNEL
from inbox_ingest_mail.settings import MailSettings
from inbox_ingest_mail.smtp_data import read_data

log = get_logger(__name__)

MAX_RECIPIENTS: Final = 100
LINE_LENGTH_LIMIT: Final = 64 * 1024
IDLE_TIMEOUT_S: Final = 300.0  # RFC 5321 §4.5.3.2.7: at least 5 minutes
TEMPFAIL: Final = "451 4.3.0 Mail system temporarily unavailable, please try again later"
SHUTTING_DOWN: Final = "421 4.3.2 Service shutting down, please try again later"


def account_for(address: str) -> str | None:
    """The account a recipient names: its local part, lower-cased, `+tag` dropped
    (`Support+a1b2@shop.example` → `support`); None when nothing usable is left."""
    local = address.rsplit("@", 1)[0].strip().strip('"').split("+", 1)[0]
    account = re.sub(r"[^a-z0-9_\-]+", "_", local.lower()).strip("_")[:64]
    return account or None


def recipient_tag(address: str) -> str | None:
    """The `+tag` of a sub-address (`support+a1b2@…` → `a1b2`), kept in the message context."""
    local = address.rsplit("@", 1)[0]
    return local.split("+", 1)[1][:64] if "+" in local else None


class MailHandler:
    """aiosmtpd hooks: recipient policy and DATA → normalise → publish → answer."""

    def __init__(self, settings: MailSettings, intake: MailIntake) -> None:
        self.settings = settings
        self.intake = intake
        self.inflight = 0
        self.idle = asyncio.Event()  # set while no DATA is being published
        self.idle.set()
        self.closing = False

    async def handle_RCPT(  # aiosmtpd hook names
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.closing:
            return SHUTTING_DOWN
        domain = address.rsplit("@", 1)[1] if "@" in address else ""
        if not self.settings.accepts_domain(domain):
            metrics.CONNECTOR_REJECTED.labels(CHANNEL, "domain").inc()
            return f"550 5.7.1 Relaying denied: no mailboxes at {domain or 'that address'}"
        if account_for(address) is None:
            metrics.CONNECTOR_REJECTED.labels(CHANNEL, "recipient").inc()
            return "553 5.1.3 Mailbox name not allowed"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.closing:
            return SHUTTING_DOWN
        self.inflight += 1
        self.idle.clear()
        try:
            return await self._accept(envelope, tls=session.ssl is not None)
        finally:
            self.inflight -= 1
            if not self.inflight:
                self.idle.set()

    async def _accept(self, envelope: Envelope, *, tls: bool) -> str:
        raw = envelope.original_content or b""
        targets: dict[str, dict[str, Any]] = {}  # account → context of its first recipient
        for address in envelope.rcpt_tos:
            account = account_for(address)
            if account is None or account in targets:
                continue
            # SMTPUTF8 arguments arrive surrogate-escaped when they are not valid UTF-8.
            extra: dict[str, Any] = {"recipient": valid_text(address), "smtp_tls": tls}
            if tag := recipient_tag(address):
                extra["recipient_tag"] = valid_text(tag)
            targets[account] = extra
        with tracer().start_as_current_span(
            "smtp DATA", kind=trace.SpanKind.SERVER, attributes={"inbox.channel": CHANNEL}
        ):
            try:
                messages = await self.intake.accept(
                    raw, targets, envelope_from=envelope.mail_from, received_at=utcnow()
                )
            except TransientError as err:
                reason = "bus_down" if isinstance(err, BusUnavailable) else "store_down"
                metrics.CONNECTOR_REJECTED.labels(CHANNEL, reason).inc()
                log.warning("mail not kept, asking the sender to retry", error=str(err))
                return TEMPFAIL
        for message in messages:
            log.info(
                "mail accepted",
                account=message.account,
                external_id=message.external_id,
                size=len(raw),
                flags=message.flags.model_dump(),
            )
        return f"250 2.0.0 OK queued as {messages[0].external_id if messages else '-'}"

    async def handle_exception(self, error: Exception) -> str:
        """Anything unexpected is a temporary failure: the sender keeps the mail and retries."""
        metrics.CONNECTOR_REJECTED.labels(CHANNEL, "error").inc()
        log.error("smtp session failed", error=repr(error))
        return TEMPFAIL


class _SMTP(SMTP):
    """aiosmtpd's protocol, registering its connection with the server that owns it."""

    # RFC 5321 caps lines at 1000 octets, but real senders (HTML mail) exceed it and MTAs
    # such as Postfix accept them; refusing with 500 would bounce the customer's mail.
    # DATA stays bounded by `data_size_limit`.
    line_length_limit = LINE_LENGTH_LIMIT

    def __init__(self, owner: SmtpServer, handler: MailHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, with the body read by `read_data` (bounded memory)."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await read_data(self._reader, self.data_size_limit or 2**62)
        if content is None:
            metrics.CONNECTOR_REJECTED.labels(CHANNEL, "too_large").inc()
            self._set_post_data_state()
            await self.push("552 5.3.4 Message size exceeds fixed maximum message size")
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._owner.connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._owner.connections.discard(self)
        super().connection_lost(error)


class SmtpServer:
    """Listens on `INBOX_SMTP_PORT`; lives in the app's `cleanup_ctx` and drains on shutdown."""

    def __init__(self, settings: MailSettings, intake: MailIntake) -> None:
        self.settings = settings
        self.handler = MailHandler(settings, intake)
        self.server: asyncio.Server | None = None
        self.connections: set[_SMTP] = set()
        self.tls_context: ssl.SSLContext | None = None

    def _load_tls(self) -> ssl.SSLContext | None:
        cert, key = self.settings.smtp_tls_cert, self.settings.smtp_tls_key
        if cert is None or key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))  # fails at start on a bad cert or key
        return context

    def _protocol(self) -> _SMTP:
        return _SMTP(
            self,
            self.handler,
            data_size_limit=self.settings.max_message_size,
            enable_SMTPUTF8=True,
            hostname=self.settings.smtp_hostname,
            ident="inbox-ingest-mail",
            timeout=IDLE_TIMEOUT_S,
            tls_context=self.tls_context,
            require_starttls=self.settings.smtp_require_tls,
            loop=asyncio.get_running_loop(),
        )

    @property
    def port(self) -> int | None:
        if self.server is None or not self.server.sockets:
            return None
        return int(self.server.sockets[0].getsockname()[1])

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        # aiosmtpd logs every command (addresses included) at INFO; keep its warnings only.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self.tls_context = self._load_tls()
        self.server = await loop.create_server(
            self._protocol, self.settings.host, self.settings.smtp_port
        )
        log.info("smtp listening", host=self.settings.host, port=self.port)
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop accepting, let messages being published finish, then close connections."""
        if self.server is None:
            return
        self.handler.closing = True
        self.server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.handler.idle.wait(), self.settings.shutdown_grace_s)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        await self.server.wait_closed()
        log.info("smtp stopped")

    async def health(self) -> dict[str, Any]:
        serving = self.server is not None and self.server.is_serving()
        return {
            "ok": serving,
            "listening": serving,
            "port": self.port,
            "connections": len(self.connections),
            "starttls": self.tls_context is not None,
        }
