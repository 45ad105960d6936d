"""The chat channels of ingest-social, as registered (entry points `inbox.channels` in this
package's pyproject.toml): how the service builds each, its console badge, its simulator.

Cheap to import (the notifier reads the badges): the channels' code is imported in `setup`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any, Final

from inbox_core.channels import (
    AnyAccount,
    Badge,
    ChannelRegistration,
    ChannelSetup,
    Host,
    Simulator,
)
from inbox_core.demo_phrases import CHAT_MESSAGES, post_json
from inbox_core.embedded import find_binary

if TYPE_CHECKING:
    from inbox_core.channels import DemoSite
    from inbox_ingest_social.settings import SocialSettings

SERVICE: Final = "ingest-social"
PORT_ENV: Final = "INBOX_SOCIAL_PORT"
DEFAULT_PORT: Final = 8081
# A Meta or Kakao webhook serves every page / bot; the account is only known per event.
# This names the (unknown) account of raw payloads kept when a body cannot be read.
WEBHOOK_ACCOUNT: Final = "*"
DEMO_APP_SECRET: Final = "demo-app-secret"
DEMO_PAGE_ID: Final = "104233512345678"
# The Kakao simulator's 상담톡 dealer send API (the sender POSTs the reply to this URL itself).
KAKAO_SENDER_PATH: Final = "/v1/chat/write"


def _settings(host: Host) -> SocialSettings:
    from inbox_ingest_social.settings import SocialSettings

    assert isinstance(host.settings, SocialSettings), "hosted by ingest-social"
    return host.settings


# --- Meta: Facebook Messenger and Instagram ------------------------------------------------


def _meta_setup(host: Host, *, instagram: bool) -> ChannelSetup:
    from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig

    settings = _settings(host)
    meta = MetaConfig.from_settings(settings)
    kind = Instagram if instagram else Facebook
    setup = ChannelSetup(
        webhooks=[kind(WEBHOOK_ACCOUNT, meta, profiles=kind.profile_lookup(meta))],
        replies=AnyAccount(lambda account: kind(account, meta)),
        missing_secret=settings.missing_webhook_secrets().get(kind.name),
    )
    if not instagram:  # one entry in /healthz for both: they share the app's settings

        async def meta_config() -> dict[str, Any]:  # presence only, never the values
            return {
                "webhook": host.webhook_state(Facebook.name),
                "app_secret": meta.app_secret is not None,
                "verify_token": meta.verify_token is not None,
                "page_token": meta.page_token is not None,
            }

        setup.checks["meta"] = meta_config
    return setup


def _meta_start(site: DemoSite) -> list[str]:
    env = site.env
    env.setdefault("FACEBOOK_APP_SECRET", DEMO_APP_SECRET)
    env.setdefault("FACEBOOK_VERIFY_TOKEN", "demo-verify-token")
    env.setdefault("FACEBOOK_PAGE_TOKEN", "demo-page-token")
    env["META_GRAPH_URL"] = f"{site.url}/v21.0"
    return [
        find_binary("inbox-sim-meta"),
        "--port",
        str(site.port),
        "--app-secret",
        env["FACEBOOK_APP_SECRET"],
        "--page-token",
        env["FACEBOOK_PAGE_TOKEN"],
    ]


def _facebook_customer(site: DemoSite) -> None:
    """A signed Messenger webhook, as Meta sends it."""
    psid = f"{site.rng.randint(1, 5)}00212345678"
    now_ms = int(time.time() * 1000)
    event = {
        "sender": {"id": psid},
        "recipient": {"id": DEMO_PAGE_ID},
        "timestamp": now_ms,
        "message": {
            "mid": f"m_demo_{now_ms}_{site.rng.randint(0, 1_000_000)}",
            "text": site.rng.choice(CHAT_MESSAGES),
        },
    }
    body = {"object": "page", "entry": [{"id": DEMO_PAGE_ID, "time": now_ms, "messaging": [event]}]}
    raw = json.dumps(body, ensure_ascii=False).encode()
    secret = site.env["FACEBOOK_APP_SECRET"].encode()
    sig = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    req = urllib.request.Request(
        site.service_url(PORT_ENV, DEFAULT_PORT) + "/webhooks/facebook",
        data=raw,
        method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


FACEBOOK = ChannelRegistration(
    name="facebook",
    service=SERVICE,
    badge=Badge({"ko": "페이스북", "en": "Facebook"}, "#1877f2"),
    setup=lambda host: _meta_setup(host, instagram=False),
    simulator=Simulator(start=_meta_start, customer=_facebook_customer),
    order=30,
)
INSTAGRAM = ChannelRegistration(
    name="instagram",
    service=SERVICE,
    badge=Badge({"ko": "인스타그램", "en": "Instagram"}, "#d62976"),
    setup=lambda host: _meta_setup(host, instagram=True),
    order=40,
)


# --- KakaoTalk channel ---------------------------------------------------------------------


def _kakao_setup(host: Host) -> ChannelSetup:
    from inbox_ingest_social.channels.kakao import Kakao, KakaoConfig
    from inbox_ingest_social.channels.kakao_senders import sender_from_settings

    settings = _settings(host)
    kakao = KakaoConfig.from_settings(settings)
    sender = host.shared.get("kakao_sender") or sender_from_settings(settings)
    faq = host.shared["faq"]  # the FAQ bot answers in the skill response

    async def kakao_config() -> dict[str, Any]:
        return {
            "webhook": host.webhook_state(Kakao.name),
            "skill_token": kakao.skill_token is not None,
            "sender": sender.kind if sender is not None else None,
        }

    return ChannelSetup(
        webhooks=[Kakao(WEBHOOK_ACCOUNT, kakao, sender=sender, faq=faq)],
        replies=AnyAccount(lambda account: Kakao(account, kakao, sender=sender, faq=faq)),
        missing_secret=settings.missing_webhook_secrets().get(Kakao.name),
        checks={"kakao": kakao_config},
    )


def _kakao_start(site: DemoSite) -> list[str]:
    env = site.env
    env.setdefault("KAKAO_SKILL_TOKEN", "demo-skill-token")
    env.setdefault("KAKAO_SENDER_CLIENT_ID", "demo-dealer")
    env.setdefault("KAKAO_SENDER_KEY", "demo-dealer-key")
    env.setdefault("KAKAO_SENDER_PROFILE_KEY", "demo-profile")
    env.setdefault("KAKAO_CALLBACK_HOSTS", "127.0.0.1")
    # The simulator's callback URLs are plain http on this machine, which only a
    # simulator may use: a real callback is https on Kakao's hosts.
    env.setdefault("KAKAO_CALLBACK_ALLOW_LOCAL", "1")
    env["KAKAO_SENDER_URL"] = site.url + KAKAO_SENDER_PATH
    return [
        find_binary("inbox-sim-kakao"),
        "--port",
        str(site.port),
        "--webhook",
        site.service_url(PORT_ENV, DEFAULT_PORT) + "/webhooks/kakao",
        "--skill-token",
        env["KAKAO_SKILL_TOKEN"],
        "--client-id",
        env["KAKAO_SENDER_CLIENT_ID"],
        "--client-secret",
        env["KAKAO_SENDER_KEY"],
        "--sender-key",
        env["KAKAO_SENDER_PROFILE_KEY"],
    ]


def _kakao_customer(site: DemoSite) -> None:
    utterance = {
        "utterance": site.rng.choice(CHAT_MESSAGES),
        "user_key": f"kakao-user-{site.rng.randint(1, 5)}",
    }
    post_json(f"{site.url}/_sim/utter", utterance)


KAKAO = ChannelRegistration(
    name="kakao",
    service=SERVICE,
    badge=Badge({"ko": "카카오톡", "en": "KakaoTalk"}, "#fee500", "#3c1e1e"),
    setup=_kakao_setup,
    simulator=Simulator(start=_kakao_start, customer=_kakao_customer),
    order=20,
)


# --- Naver TalkTalk ------------------------------------------------------------------------


def _talktalk_setup(host: Host) -> ChannelSetup:
    from inbox_ingest_social.channels.naver_talktalk import NaverTalkTalk, TalkTalkConfig

    settings = _settings(host)
    talktalk = TalkTalkConfig.from_settings(settings)
    ledger = host.shared["echo_ledger"]
    account = settings.naver_talktalk_account
    networks = settings.talktalk_networks()

    async def talktalk_config() -> dict[str, Any]:
        return {
            "webhook": host.webhook_state(NaverTalkTalk.name),
            "token": talktalk.token is not None,
            "account": account,
            "allowed_networks": len(networks),
        }

    return ChannelSetup(
        webhooks=[NaverTalkTalk(account, talktalk, ledger=ledger)],
        replies=AnyAccount(lambda a: NaverTalkTalk(a, talktalk, ledger=ledger)),
        missing_secret=settings.missing_webhook_secrets().get(NaverTalkTalk.name),
        allowed_networks=networks,
        checks={"naver_talktalk": talktalk_config},
    )


def _talktalk_start(site: DemoSite) -> list[str]:
    env = site.env
    env.setdefault("NAVER_TALKTALK_TOKEN", "demo-talktalk-token")
    # The simulator calls from this machine, not from Naver's ranges.
    env.setdefault("NAVER_TALKTALK_ALLOWED_IPS", "127.0.0.1/32")
    env["NAVER_TALKTALK_URL"] = site.url + "/chatbot/v1/event"
    return [
        find_binary("inbox-sim-naver-talktalk"),
        "--port",
        str(site.port),
        "--token",
        env["NAVER_TALKTALK_TOKEN"],
        "--webhook",
        site.service_url(PORT_ENV, DEFAULT_PORT) + "/webhooks/naver-talktalk",
    ]


def _talktalk_customer(site: DemoSite) -> None:
    event = {
        "event": "send",
        "user": f"talk-user-{site.rng.randint(1, 5)}",
        "text": site.rng.choice(CHAT_MESSAGES),
    }
    post_json(f"{site.url}/_sim/deliver", event)


NAVER_TALKTALK = ChannelRegistration(
    name="naver_talktalk",
    service=SERVICE,
    badge=Badge({"ko": "네이버 톡톡", "en": "Naver TalkTalk"}, "#03c75a"),
    setup=_talktalk_setup,
    simulator=Simulator(start=_talktalk_start, customer=_talktalk_customer),
    order=50,
)
