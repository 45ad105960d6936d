"""ingest-mail: SMTP and IMAP in, replies out by SMTP, /healthz and /metrics over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from inbox_core.connector import Connector, PollerRunner, PollStatus
from inbox_core.runtime import Runtime, create_base_app
from inbox_ingest_mail.channels.mail import CHANNEL, MailAccounts
from inbox_ingest_mail.imap_mailbox import ImapMailbox
from inbox_ingest_mail.intake import MailIntake
from inbox_ingest_mail.mailboxes import load_mailboxes
from inbox_ingest_mail.settings import MailSettings
from inbox_ingest_mail.smtp import SmtpServer

SERVICE = "ingest-mail"
SETTINGS = web.AppKey("mail_settings", MailSettings)
CONNECTOR = web.AppKey("connector", Connector)
SMTP_SERVER = web.AppKey("smtp_server", SmtpServer)
IMAP_POLLERS = web.AppKey("imap_pollers", list[PollerRunner])


def create_app(settings: MailSettings | None = None) -> web.Application:
    """No network I/O here (the mailbox file is read, so a bad one fails at start): the bus,
    the store, the outbound consumer, the SMTP listener and the IMAP pollers start in
    `cleanup_ctx`, in that order, and stop in reverse (nothing new arrives while draining)."""
    settings = settings or MailSettings()
    mailboxes = load_mailboxes(settings.imap_accounts)
    runtime = Runtime(SERVICE, settings)
    connector = Connector(runtime)
    accounts = MailAccounts(settings, mailboxes, runtime.store.db)
    intake = MailIntake(connector, accounts.own_domains())
    smtp = SmtpServer(settings, intake)
    pollers = [
        PollerRunner(
            connector,
            ImapMailbox(mailbox, intake, idle_s=settings.imap_idle_s),
            interval_s=mailbox.poll_s or settings.imap_poll_s,
            max_backoff_s=settings.imap_backoff_max_s,
            min_retry_s=0.0,  # reconnect after the backoff, not after a whole interval
        )
        for mailbox in mailboxes
    ]
    runtime.extra_checks["smtp"] = smtp.health

    async def imap_health() -> dict[str, Any]:
        health = {}
        for runner in pollers:
            assert isinstance(runner.channel, ImapMailbox)
            [board] = runner.channel.boards
            health[runner.channel.account] = runner.channel.health(
                runner.status.get(board, PollStatus())
            )
        return health

    if pollers:
        runtime.extra_checks["imap"] = imap_health

    async def outbound(app: web.Application) -> AsyncIterator[None]:
        await connector.start_outbound(accounts, CHANNEL)
        yield  # the consumer is stopped (in-flight replies finished) when the bus closes

    async def imap(app: web.Application) -> AsyncIterator[None]:
        tasks = [runtime.spawn(p.run(), f"imap:{p.channel.account}") for p in pollers]
        yield
        for task in tasks:  # before the bus closes: a poller never publishes into a closed bus
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    app = create_base_app(runtime)
    app[SETTINGS] = settings
    app[CONNECTOR] = connector
    app[SMTP_SERVER] = smtp
    app[IMAP_POLLERS] = pollers
    app.cleanup_ctx.append(connector.context)
    app.cleanup_ctx.append(outbound)
    app.cleanup_ctx.append(smtp.context)
    app.cleanup_ctx.append(imap)
    return app
