"""Env names of the public contract map onto MarketSettings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inbox_ingest_marketplace.settings import MarketSettings

ENV = (
    "INBOX_MARKET_PORT",
    "INBOX_MARKET_POLL_S",
    "NAVER_COMMERCE_CLIENT_ID",
    "NAVER_COMMERCE_CLIENT_SECRET",
    "NAVER_COMMERCE_URL",
    "NAVER_COMMERCE_ACCOUNT",
    "NAVER_COMMERCE_BACKFILL_DAYS",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_leave_naver_disabled() -> None:
    settings = MarketSettings()

    assert settings.port == 8083
    assert settings.poll_interval_s == 60
    assert settings.naver_commerce_url == "https://api.commerce.naver.com/external"
    assert settings.naver_commerce_account == "smartstore"
    assert settings.naver_commerce_backfill_days == 3
    assert not settings.naver_commerce_enabled


def test_env_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_MARKET_PORT", "9999")
    monkeypatch.setenv("INBOX_MARKET_POLL_S", "0.5")
    monkeypatch.setenv("NAVER_COMMERCE_CLIENT_ID", "app-id")
    monkeypatch.setenv("NAVER_COMMERCE_CLIENT_SECRET", "$2a$04$abcdefghijklmnopqrstuu")
    monkeypatch.setenv("NAVER_COMMERCE_URL", "http://127.0.0.1:9083/external/")
    monkeypatch.setenv("NAVER_COMMERCE_ACCOUNT", "my-shop")
    monkeypatch.setenv("NAVER_COMMERCE_BACKFILL_DAYS", "1")

    settings = MarketSettings()

    assert settings.port == 9999 and settings.poll_interval_s == 0.5
    assert settings.naver_commerce_enabled
    assert settings.naver_commerce_client_secret is not None
    assert "abcdefg" not in repr(settings)  # the secret never shows
    assert settings.naver_commerce_url == "http://127.0.0.1:9083/external"
    assert settings.naver_commerce_account == "my-shop"
    assert settings.naver_commerce_backfill_days == 1


def test_blank_client_id_means_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAVER_COMMERCE_CLIENT_ID", "  ")

    assert not MarketSettings().naver_commerce_enabled


@pytest.mark.parametrize(
    "env",
    [
        {"NAVER_COMMERCE_CLIENT_ID": "app-id"},
        {"NAVER_COMMERCE_ACCOUNT": "my.shop"},
        {"INBOX_MARKET_POLL_S": "0"},
    ],
    ids=["id-without-secret", "account-not-a-subject-token", "zero-poll-interval"],
)
def test_invalid_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        MarketSettings()
