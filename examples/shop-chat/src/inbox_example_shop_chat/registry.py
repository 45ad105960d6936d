"""How Shop Chat registers (entry point `inbox.channels` in this package's pyproject.toml):
hosted by ingest-social, its console badge, its simulator and customers for `make demo`.

Cheap to import (the notifier reads the badge): the channel's code is imported in `setup`.
"""

from __future__ import annotations

import sys
from typing import Final

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from inbox_core.channels import (
    AnyAccount,
    Badge,
    ChannelRegistration,
    ChannelSetup,
    DemoSite,
    Host,
    Simulator,
)
from inbox_core.demo_phrases import CHAT_MESSAGES, post_json

SECRET_ENV: Final = "SHOP_CHAT_SECRET"
WEBHOOK_ACCOUNT: Final = "*"  # one webhook for every shop; the shop is named per event


class ShopChatSettings(BaseSettings):
    """The channel's own environment (the host service's settings know nothing of it)."""

    secret: SecretStr | None = Field(None, validation_alias=SECRET_ENV)
    token: SecretStr | None = Field(None, validation_alias="SHOP_CHAT_TOKEN")
    url: str = Field("https://api.shop-chat.example", validation_alias="SHOP_CHAT_URL")


def setup(host: Host) -> ChannelSetup:
    from inbox_example_shop_chat.channel import ShopChat, ShopChatConfig

    settings = ShopChatSettings()
    config = ShopChatConfig(
        secret=settings.secret.get_secret_value() if settings.secret else None,
        token=settings.token.get_secret_value() if settings.token else None,
        url=settings.url.rstrip("/"),
    )
    return ChannelSetup(
        webhooks=[ShopChat(WEBHOOK_ACCOUNT, config)],
        replies=AnyAccount(lambda shop: ShopChat(shop, config)),
        missing_secret=SECRET_ENV if config.secret is None else None,
    )


def start_simulator(site: DemoSite) -> list[str]:
    env = site.env
    env.setdefault(SECRET_ENV, "demo-shop-chat-secret")
    env.setdefault("SHOP_CHAT_TOKEN", "demo-shop-chat-token")
    env["SHOP_CHAT_URL"] = site.url
    webhook = site.service_url("INBOX_SOCIAL_PORT", 8081) + "/webhooks/shop-chat"
    return [
        sys.executable,
        "-m",
        "inbox_example_shop_chat.simulator",
        "--port",
        str(site.port),
        "--webhook",
        webhook,
        "--secret",
        env[SECRET_ENV],
        "--token",
        env["SHOP_CHAT_TOKEN"],
    ]


def customer(site: DemoSite) -> None:
    text = site.rng.choice(CHAT_MESSAGES)
    post_json(f"{site.url}/_sim/say", {"user": f"shopper-{site.rng.randint(1, 5)}", "text": text})


CHANNEL = ChannelRegistration(
    name="shop_chat",
    service="ingest-social",
    badge=Badge({"ko": "샵챗", "en": "Shop Chat"}, "#7c3aed"),
    setup=setup,
    simulator=Simulator(start=start_simulator, customer=customer),
)
