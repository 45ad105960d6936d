"""The ingest-social service: chat webhooks in (Meta, Kakao, TalkTalk), replies out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Final

from aiohttp import web

from inbox_core.connector import Channel, WebhookChannel
from inbox_core.faq import FaqCatalog
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime, create_base_app
from inbox_ingest_social import echo_ledger
from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig
from inbox_ingest_social.channels.kakao import Kakao, KakaoConfig
from inbox_ingest_social.channels.kakao_senders import KakaoSender, sender_from_settings
from inbox_ingest_social.channels.naver_talktalk import NaverTalkTalk, TalkTalkConfig
from inbox_ingest_social.connector import SocialConnector
from inbox_ingest_social.echo_ledger import EchoLedger
from inbox_ingest_social.settings import SocialSettings
from inbox_ingest_social.webhook_guard import webhook_guard

log = get_logger(__name__)

SERVICE: Final = "ingest-social"
# A Meta or Kakao webhook serves every page / bot; the account is only known per event.
# This names the (unknown) account of raw payloads kept when a body cannot be read.
WEBHOOK_ACCOUNT: Final = "*"

CONNECTOR = web.AppKey("connector", SocialConnector)


class AnyAccount(Mapping[str, Channel]):
    """account → channel for any account key, made on first use (one token, many pages or
    bots). The channel itself refuses, with a reason, what it cannot send."""

    def __init__(self, factory: Callable[[str], Channel]) -> None:
        self._factory = factory
        self._made: dict[str, Channel] = {}

    def __getitem__(self, account: str) -> Channel:
        channel = self._made.get(account)
        if channel is None:
            channel = self._made[account] = self._factory(account)
        return channel

    def __iter__(self) -> Iterator[str]:
        return iter(self._made)

    def __len__(self) -> int:
        return len(self._made)


def create_app(
    settings: SocialSettings | None = None, *, kakao_sender: KakaoSender | None = None
) -> web.Application:
    """The service. `kakao_sender` replaces the sender configured by KAKAO_SENDER_* (another
    상담톡 dealer or an 알림톡 reseller, see channels/kakao_senders.py)."""
    settings = settings or SocialSettings()
    runtime = Runtime(SERVICE, settings, indexes=dict(echo_ledger.INDEXES))
    app = create_base_app(runtime, client_max_size=settings.max_body_bytes)
    connector = SocialConnector(runtime)
    app[CONNECTOR] = connector
    # The connector stops its outbound consumers (in-flight sends finish) before it closes
    # the HTTP session they send with.
    app.cleanup_ctx.append(connector.context)

    meta = MetaConfig.from_settings(settings)
    kakao = KakaoConfig.from_settings(settings)
    sender = kakao_sender or sender_from_settings(settings)
    talktalk = TalkTalkConfig.from_settings(settings)
    ledger = EchoLedger(lambda: runtime.store.db)
    faq = FaqCatalog(lambda: runtime.store.db)  # the FAQ bot answers in the Kakao skill
    talktalk_account = settings.naver_talktalk_account

    factories: dict[str, Callable[[str], Channel]] = {
        Facebook.name: lambda account: Facebook(account, meta),
        Instagram.name: lambda account: Instagram(account, meta),
        Kakao.name: lambda account: Kakao(account, kakao, sender=sender, faq=faq),
        NaverTalkTalk.name: lambda account: NaverTalkTalk(account, talktalk, ledger=ledger),
    }
    webhooks: list[WebhookChannel] = [
        meta_type(WEBHOOK_ACCOUNT, meta, profiles=meta_type.profile_lookup(meta))
        for meta_type in (Facebook, Instagram)
    ]
    webhooks.append(Kakao(WEBHOOK_ACCOUNT, kakao, sender=sender, faq=faq))
    webhooks.append(NaverTalkTalk(talktalk_account, talktalk, ledger=ledger))
    # Closed by default: a webhook whose secret is missing is not mounted (404).
    missing = settings.missing_webhook_secrets()
    closed = {}
    for webhook in webhooks:
        variable = missing.get(webhook.name)
        if variable is None:
            connector.mount(app, webhook)
        elif settings.insecure_webhooks:
            connector.mount(app, webhook, authenticated=False)
        else:
            closed[webhook.name] = variable
            log.warning(
                f"webhook {webhook.path} is closed (404): set {variable} to open it",
                channel=webhook.name,
            )
    if settings.insecure_webhooks:
        log.warning(
            "INBOX_INSECURE_WEBHOOKS=1: webhooks without a secret accept anyone; "
            "for local development only, never on a reachable address",
            open_without_secret=sorted(missing),
        )

    paths = {w.path: w.name for w in webhooks if w.name not in closed}
    allow_lists = {NaverTalkTalk.name: settings.talktalk_networks()}
    app.middlewares.append(webhook_guard(paths, allow_lists))

    async def outbound(_: web.Application) -> AsyncIterator[None]:
        runtime.spawn(faq.watch(), "faq-entries")
        for name, factory in factories.items():
            await connector.start_outbound(AnyAccount(factory), name)
        yield  # the connector stops the consumers before closing its HTTP session

    app.cleanup_ctx.append(outbound)

    def _webhook_state(name: str) -> str:
        if name in closed:
            return f"closed: {closed[name]} not set"
        return "open without a secret (insecure)" if name in missing else "mounted"

    # Presence only, never the values.
    async def meta_config() -> dict[str, Any]:
        return {
            "webhook": _webhook_state(Facebook.name),
            "app_secret": meta.app_secret is not None,
            "verify_token": meta.verify_token is not None,
            "page_token": meta.page_token is not None,
        }

    async def kakao_config() -> dict[str, Any]:
        return {
            "webhook": _webhook_state(Kakao.name),
            "skill_token": kakao.skill_token is not None,
            "sender": sender.kind if sender is not None else None,
        }

    async def talktalk_config() -> dict[str, Any]:
        return {
            "webhook": _webhook_state(NaverTalkTalk.name),
            "token": talktalk.token is not None,
            "account": talktalk_account,
            "allowed_networks": len(allow_lists[NaverTalkTalk.name]),
        }

    runtime.extra_checks["meta"] = meta_config
    runtime.extra_checks["kakao"] = kakao_config

    async def faq_config() -> dict[str, Any]:
        return {"loaded": faq.loaded, "entries": len(faq.snapshot.entries)}

    runtime.extra_checks["faq"] = faq_config
    runtime.extra_checks["naver_talktalk"] = talktalk_config
    return app
