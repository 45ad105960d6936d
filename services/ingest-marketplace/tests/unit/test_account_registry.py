"""The platforms INBOX_MARKET_ACCOUNTS knows come from the channel registrations: a new
marketplace package declares its account model in its ChannelRegistration and its shops
are read with no edit to accounts.py."""

from __future__ import annotations

import os
from typing import Any, Literal

import pytest
from pydantic import Field, SecretStr

from inbox_core.channels import Badge, ChannelRegistration, RegistryError, hosted_by
from inbox_ingest_marketplace import accounts
from inbox_ingest_marketplace.accounts import MarketAccount, account_models, load_accounts
from inbox_ingest_marketplace.registry import SERVICE
from inbox_ingest_marketplace.settings import MarketSettings


class GmarketAccount(MarketAccount):
    """A platform this service's code has never heard of."""

    platform: Literal["gmarket"] = "gmarket"
    seller_id: str = Field(min_length=1)
    token: SecretStr
    url: str = "https://api.gmarket.example"


def registration(name: str, model: type[Any]) -> ChannelRegistration:
    return ChannelRegistration(
        name=name,
        service=SERVICE,
        badge=Badge({"ko": "G마켓", "en": "Gmarket"}, "#00a650"),
        account_model=lambda: model,
    )


GMARKET = registration("gmarket", GmarketAccount)
NEW_SHOP = """[
  {platform: gmarket, account: shop-g, seller_id: seller-1, token: "${GMARKET_TOKEN}"},
  {platform: elevenst, account: shop-11, api_key: k}
]"""


def test_the_installed_platforms_come_from_their_registrations() -> None:
    assert list(account_models()) == ["naver_commerce", "coupang", "elevenst"]


def test_a_registered_platform_s_accounts_are_read_without_an_edit_to_the_parser() -> None:
    models = account_models([*hosted_by(SERVICE), GMARKET])

    shop, eleven = load_accounts(NEW_SHOP, {"GMARKET_TOKEN": "t-secret"}, models)

    assert isinstance(shop, GmarketAccount)
    assert (shop.platform, shop.account, shop.seller_id) == ("gmarket", "shop-g", "seller-1")
    assert shop.token.get_secret_value() == "t-secret"
    assert shop.url == "https://api.gmarket.example"
    assert (eleven.platform, eleven.account) == ("elevenst", "shop-11")


def test_the_service_settings_read_a_registered_platform_s_accounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed = hosted_by(SERVICE)
    monkeypatch.setattr(accounts, "hosted_by", lambda service: [*installed, GMARKET])
    for name in list(os.environ):
        if name.startswith(("INBOX_MARKET_", "NAVER_COMMERCE_", "COUPANG_", "ELEVENST_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GMARKET_TOKEN", "t-secret")
    monkeypatch.setenv("INBOX_MARKET_ACCOUNTS", NEW_SHOP)

    found = MarketSettings().accounts()

    assert [(a.platform, a.account) for a in found] == [
        ("gmarket", "shop-g"),
        ("elevenst", "shop-11"),
    ]


def test_a_platform_no_package_registers_is_refused_naming_the_entry() -> None:
    with pytest.raises(ValueError, match=r"INBOX_MARKET_ACCOUNTS: entry 0: .*gmarket"):
        load_accounts(NEW_SHOP, {"GMARKET_TOKEN": "t"})


def test_a_registered_platform_s_own_fields_are_checked() -> None:
    models = account_models([*hosted_by(SERVICE), GMARKET])
    raw = "[{platform: gmarket, account: shop-g, token: t}]"

    with pytest.raises(ValueError, match=r"entry 0\.gmarket\.seller_id: Field required"):
        load_accounts(raw, {}, models)


def test_a_model_for_another_platform_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="platform must default to 'auction'"):
        account_models([registration("auction", GmarketAccount)])


def test_a_model_that_is_not_a_market_account_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="not a MarketAccount"):
        account_models([registration("gmarket", dict)])
