"""ingest-mail: the SMTP server in, replies out by SMTP, /healthz and /metrics over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from inbox_core.connector import Connector
from inbox_core.runtime import Runtime, create_base_app
from inbox_ingest_mail.channels.mail import CHANNEL, MailAccounts
from inbox_ingest_mail.settings import MailSettings
from inbox_ingest_mail.smtp import SmtpServer

SERVICE = "ingest-mail"
SETTINGS = web.AppKey("mail_settings", MailSettings)
CONNECTOR = web.AppKey("connector", Connector)
SMTP_SERVER = web.AppKey("smtp_server", SmtpServer)


def create_app(settings: MailSettings | None = None) -> web.Application:
    """No I/O here: the bus, the store, the outbound consumer and the SMTP listener start in
    `cleanup_ctx`, in that order, and stop in reverse (SMTP first, so nothing new arrives)."""
    settings = settings or MailSettings()
    runtime = Runtime(SERVICE, settings)
    connector = Connector(runtime)
    smtp = SmtpServer(settings, connector)
    runtime.extra_checks["smtp"] = smtp.health

    async def outbound(app: web.Application) -> AsyncIterator[None]:
        await connector.start_outbound(MailAccounts(settings), CHANNEL)
        yield  # the consumer is stopped (in-flight replies finished) when the bus closes

    app = create_base_app(runtime)
    app[SETTINGS] = settings
    app[CONNECTOR] = connector
    app[SMTP_SERVER] = smtp
    app.cleanup_ctx.append(connector.context)
    app.cleanup_ctx.append(outbound)
    app.cleanup_ctx.append(smtp.context)
    return app
