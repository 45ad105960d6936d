"""Env names of the public contract, the service's own names and `INBOX_MARKET_ACCOUNTS`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from inbox_ingest_marketplace.accounts import (
    CoupangAccount,
    ElevenstAccount,
    NaverCommerceAccount,
    load_accounts,
)
from inbox_ingest_marketplace.settings import MarketSettings

ENV = (
    "INBOX_MARKET_PORT",
    "INBOX_MARKET_POLL_S",
    "INBOX_MARKET_ACCOUNTS",
    "INBOX_MARKET_BACKFILL_DAYS",
    "INBOX_MARKET_WATCH_DAYS",
    "INBOX_MARKET_REVISIT_S",
    "NAVER_COMMERCE_CLIENT_ID",
    "NAVER_COMMERCE_CLIENT_SECRET",
    "NAVER_COMMERCE_URL",
    "NAVER_COMMERCE_ACCOUNT",
    "NAVER_COMMERCE_BACKFILL_DAYS",
    "COUPANG_ACCESS_KEY",
    "COUPANG_SECRET_KEY",
    "COUPANG_VENDOR_ID",
    "COUPANG_URL",
    "COUPANG_ACCOUNT",
    "COUPANG_WING_ID",
    "ELEVENST_API_KEY",
    "ELEVENST_URL",
    "ELEVENST_ACCOUNT",
)
NAVER_SECRET = "$2a$04$abcdefghijklmnopqrstuu"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_configure_no_account() -> None:
    settings = MarketSettings()

    assert settings.port == 8083
    assert settings.poll_interval_s == 60
    assert settings.backfill_days == 3 and settings.watch_days == 7
    assert settings.naver_commerce_url == "https://api.commerce.naver.com/external"
    assert settings.coupang_url == "https://api-gateway.coupang.com"
    assert settings.elevenst_url == "https://api.11st.co.kr"
    assert settings.accounts() == []
    assert not settings.naver_commerce_enabled


def test_contract_env_names_make_one_account_per_platform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "INBOX_MARKET_PORT": "9999",
        "INBOX_MARKET_POLL_S": "0.5",
        "NAVER_COMMERCE_CLIENT_ID": "app-id",
        "NAVER_COMMERCE_CLIENT_SECRET": NAVER_SECRET,
        "NAVER_COMMERCE_URL": "http://127.0.0.1:9083/external/",
        "NAVER_COMMERCE_ACCOUNT": "my-shop",
        "NAVER_COMMERCE_BACKFILL_DAYS": "1",
        "COUPANG_ACCESS_KEY": "ak-1",
        "COUPANG_SECRET_KEY": "sk-secret-1",
        "COUPANG_VENDOR_ID": "A00012345",
        "COUPANG_URL": "http://127.0.0.1:9084",
        "ELEVENST_API_KEY": "11st-key-secret",
        "ELEVENST_URL": "http://127.0.0.1:9085/",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    settings = MarketSettings()
    naver, coupang, elevenst = settings.accounts()

    assert settings.port == 9999 and settings.poll_interval_s == 0.5
    assert isinstance(naver, NaverCommerceAccount) and naver.account == "my-shop"
    assert naver.url == "http://127.0.0.1:9083/external" and naver.backfill_days == 1
    assert isinstance(coupang, CoupangAccount) and coupang.account == "A00012345"
    assert coupang.vendor_id == "A00012345" and coupang.wing_id is None
    assert isinstance(elevenst, ElevenstAccount) and elevenst.account == "11st"
    assert elevenst.url == "http://127.0.0.1:9085"
    shown = repr(settings) + repr(settings.accounts())
    assert "abcdefg" not in shown and "sk-secret-1" not in shown and "11st-key" not in shown


def test_blank_credentials_mean_no_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAVER_COMMERCE_CLIENT_ID", "  ")
    monkeypatch.setenv("COUPANG_ACCESS_KEY", "")
    monkeypatch.setenv("ELEVENST_API_KEY", " ")

    assert MarketSettings().accounts() == []


@pytest.mark.parametrize(
    "env",
    [
        {"NAVER_COMMERCE_CLIENT_ID": "app-id"},
        {"NAVER_COMMERCE_ACCOUNT": "my.shop"},
        {"INBOX_MARKET_POLL_S": "0"},
        {"COUPANG_ACCESS_KEY": "ak", "COUPANG_SECRET_KEY": "sk"},
        {"COUPANG_ACCESS_KEY": "ak", "COUPANG_VENDOR_ID": "A00012345"},
        {"ELEVENST_ACCOUNT": "11st shop"},
    ],
    ids=[
        "naver-id-without-secret",
        "account-not-a-subject-token",
        "zero-poll-interval",
        "coupang-without-vendor",
        "coupang-without-secret",
        "elevenst-account-with-space",
    ],
)
def test_invalid_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        MarketSettings()


ACCOUNTS_YAML = """
- platform: naver_commerce
  account: shop-a
  client_id: app-a
  client_secret: ${SHOP_A_SECRET}
  backfill_days: 7
- platform: coupang
  account: shop-a-coupang
  access_key: ak-a
  secret_key: ${SHOP_A_COUPANG}
  vendor_id: A00011111
  wing_id: shopa01
- platform: elevenst
  account: shop-b-11st
  api_key: key-b
  url: http://127.0.0.1:9085/
"""


def test_accounts_file_in_yaml_with_secrets_from_env(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(ACCOUNTS_YAML, encoding="utf-8")

    naver, coupang, elevenst = load_accounts(
        str(path), {"SHOP_A_SECRET": NAVER_SECRET, "SHOP_A_COUPANG": "sk-a"}
    )

    assert isinstance(naver, NaverCommerceAccount)
    assert naver.client_secret.get_secret_value() == NAVER_SECRET and naver.backfill_days == 7
    assert isinstance(coupang, CoupangAccount) and coupang.wing_id == "shopa01"
    assert coupang.secret_key.get_secret_value() == "sk-a"
    assert isinstance(elevenst, ElevenstAccount) and elevenst.url == "http://127.0.0.1:9085"


def test_inline_json_accounts_are_merged_with_the_env_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ELEVENST_API_KEY", "key-main")
    monkeypatch.setenv(
        "INBOX_MARKET_ACCOUNTS",
        '[{"platform": "elevenst", "account": "second-11st", "api_key": "key-second"}]',
    )

    accounts = MarketSettings().accounts()

    assert [(a.platform, a.account) for a in accounts] == [
        ("elevenst", "11st"),
        ("elevenst", "second-11st"),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('[{"platform": "gmarket", "account": "x"}]', "platform"),
        ('[{"platform": "coupang", "account": "x", "access_key": "a"}]', "secret_key"),
        ('[{"platform": "elevenst", "account": "a.b", "api_key": "k"}]', "account"),
        ('[{"platform": "elevenst", "account": "x", "api_key": "${NOPE}"}]', "NOPE is not set"),
        ('{"platform": "elevenst"}', "list"),
        (
            '[{"platform": "elevenst", "account": "x", "api_key": "k"},'
            ' {"platform": "elevenst", "account": "x", "api_key": "k2"}]',
            "twice",
        ),
        ("/nonexistent/accounts.yaml", "cannot read"),
    ],
    ids=[
        "unknown-platform",
        "missing-credential",
        "bad-account-token",
        "unset-env-reference",
        "not-a-list",
        "duplicate",
        "missing-file",
    ],
)
def test_broken_accounts_are_refused_with_a_reason_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("INBOX_MARKET_ACCOUNTS", raw)

    with pytest.raises(ValueError, match=message) as caught:
        MarketSettings().accounts()

    assert "k2" not in str(caught.value)
