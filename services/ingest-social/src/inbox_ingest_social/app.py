"""The ingest-social service: chat webhooks in (Meta, Kakao, TalkTalk), replies out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from inbox_core.channels import Host, hosted_by
from inbox_core.connector import Channel, WebhookChannel
from inbox_core.faq import FaqCatalog
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_ingest_social import echo_ledger
from inbox_ingest_social.channels.kakao_senders import KakaoSender
from inbox_ingest_social.connector import SocialConnector
from inbox_ingest_social.echo_ledger import EchoLedger
from inbox_ingest_social.registry import SERVICE, WEBHOOK_ACCOUNT
from inbox_ingest_social.settings import SocialSettings
from inbox_ingest_social.webhook_guard import webhook_guard

log = get_logger(__name__)

__all__ = ["CONNECTOR", "SERVICE", "WEBHOOK_ACCOUNT", "create_app"]

CONNECTOR = web.AppKey("connector", SocialConnector)


def create_app(
    settings: SocialSettings | None = None, *, kakao_sender: KakaoSender | None = None
) -> web.Application:
    """The service, with every channel registered for it (entry points `inbox.channels`).
    `kakao_sender` replaces the sender configured by KAKAO_SENDER_* (another 상담톡 dealer
    or an 알림톡 reseller, see channels/kakao_senders.py)."""
    settings = settings or SocialSettings()
    runtime = Runtime(SERVICE, settings, indexes=dict(echo_ledger.INDEXES))
    app = create_base_app(runtime, client_max_size=settings.max_body_bytes)
    connector = SocialConnector(runtime)
    app[CONNECTOR] = connector
    # The connector stops its outbound consumers (in-flight sends finish) before it closes
    # the HTTP session they send with.
    app.cleanup_ctx.append(connector.context)

    faq = FaqCatalog(lambda: runtime.store.db)  # the FAQ bot answers in the Kakao skill
    shared: dict[str, Any] = {"faq": faq, "echo_ledger": EchoLedger(lambda: runtime.store.db)}
    if kakao_sender is not None:
        shared["kakao_sender"] = kakao_sender
    closed: dict[str, str] = {}  # channel → the variable whose absence keeps it closed
    insecure: set[str] = set()  # mounted without a secret (INBOX_INSECURE_WEBHOOKS)

    def webhook_state(name: str) -> str:
        if name in closed:
            return f"closed: {closed[name]} not set"
        return "open without a secret (insecure)" if name in insecure else "mounted"

    host = Host(runtime, settings, shared, webhook_state)
    replies: dict[str, Mapping[str, Channel]] = {}
    paths: dict[str, str] = {}
    allow_lists = {}
    for spec in hosted_by(SERVICE):
        if spec.setup is None:
            continue
        setup = spec.setup(host)
        if setup.replies is not None:
            replies[spec.name] = setup.replies
        runtime.extra_checks.update(setup.checks)
        for webhook in setup.webhooks:
            if not _mount(app, connector, webhook, setup.missing_secret, settings):
                closed[webhook.name] = setup.missing_secret or ""
                continue
            if setup.missing_secret is not None:
                insecure.add(webhook.name)
            paths[webhook.path] = webhook.name
            if setup.allowed_networks is not None:
                allow_lists[webhook.name] = setup.allowed_networks
    if settings.insecure_webhooks:
        log.warning(
            "INBOX_INSECURE_WEBHOOKS=1: webhooks without a secret accept anyone; "
            "for local development only, never on a reachable address",
            open_without_secret=sorted(insecure),
        )
    app.middlewares.append(webhook_guard(paths, allow_lists))

    async def outbound(_: web.Application) -> AsyncIterator[None]:
        runtime.spawn(faq.watch(), "faq-entries")
        for name, accounts in replies.items():
            await connector.start_outbound(accounts, name)
        yield  # the connector stops the consumers before closing its HTTP session

    app.cleanup_ctx.append(outbound)

    async def faq_config() -> dict[str, Any]:
        return {"loaded": faq.loaded, "entries": len(faq.snapshot.entries)}

    runtime.extra_checks["faq"] = faq_config
    return app


def _mount(
    app: web.Application,
    connector: SocialConnector,
    webhook: WebhookChannel,
    missing_secret: str | None,
    settings: SocialSettings,
) -> bool:
    """Closed by default: a webhook whose secret is missing is not mounted (404)."""
    if missing_secret is None:
        connector.mount(app, webhook)
    elif settings.insecure_webhooks:
        connector.mount(app, webhook, authenticated=False)
    else:
        log.warning(
            f"webhook {webhook.path} is closed (404): set {missing_secret} to open it",
            channel=webhook.name,
        )
        return False
    return True
