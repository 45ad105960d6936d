"""Settings read the env names of the public contract (DESIGN.md)."""

from __future__ import annotations

import pytest

from inbox_ingest_social.channels.facebook import MetaConfig
from inbox_ingest_social.settings import SocialSettings


def test_settings_read_contract_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "INBOX_SOCIAL_PORT": "18081",
        "FACEBOOK_APP_SECRET": "app-secret",
        "FACEBOOK_VERIFY_TOKEN": "verify-me",
        "FACEBOOK_PAGE_TOKEN": "page-token",
        "META_GRAPH_URL": "http://127.0.0.1:9081/v21.0/",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = SocialSettings()
    config = MetaConfig.from_settings(settings)
    assert settings.port == 18081
    assert (config.app_secret, config.verify_token, config.page_token) == (
        "app-secret",
        "verify-me",
        "page-token",
    )
    assert config.graph_url == "http://127.0.0.1:9081/v21.0"
    assert "app-secret" not in repr(settings) and "page-token" not in repr(config)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "INBOX_SOCIAL_PORT",
        "FACEBOOK_APP_SECRET",
        "FACEBOOK_VERIFY_TOKEN",
        "FACEBOOK_PAGE_TOKEN",
        "META_GRAPH_URL",
        "INBOX_SOCIAL_MAX_BODY_BYTES",
    ):
        monkeypatch.delenv(key, raising=False)
    settings = SocialSettings()
    assert settings.port == 8081
    assert settings.meta_graph_url == "https://graph.facebook.com/v21.0"
    assert settings.max_body_bytes == 1024 * 1024
    assert MetaConfig.from_settings(settings).app_secret is None
