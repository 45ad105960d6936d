"""Settings read the env names of the public contract (DESIGN.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inbox_ingest_social.channels.facebook import MetaConfig
from inbox_ingest_social.channels.kakao import KakaoConfig
from inbox_ingest_social.channels.kakao_senders import ConsultTalkSender, sender_from_settings
from inbox_ingest_social.channels.naver_talktalk import TalkTalkConfig
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


KAKAO_TALKTALK_ENV = {
    "KAKAO_SKILL_TOKEN": "skill-secret",
    "KAKAO_ACK_TEXT": "접수 완료!",
    "KAKAO_CALLBACK_HOSTS": "kakao.com, 127.0.0.1",
    "KAKAO_SENDER_URL": "http://127.0.0.1:9082/v1/chat/write/",
    "KAKAO_SENDER_KEY": "ht-secret",
    "KAKAO_SENDER_CLIENT_ID": "ht-id",
    "KAKAO_SENDER_PROFILE_KEY": "p" * 40,
    "NAVER_TALKTALK_TOKEN": "ct_wc8b1i_x",
    "NAVER_TALKTALK_URL": "http://127.0.0.1:9083/chatbot/v1/event",
    "NAVER_TALKTALK_ACCOUNT": "myshop",
    "NAVER_TALKTALK_ALLOWED_IPS": "211.249.40.0/27, 211.249.68.0/27,220.230.168.0/27",
    "FACEBOOK_PROFILE_LOOKUP": "false",
}


def test_kakao_and_talktalk_settings_read_their_env_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in KAKAO_TALKTALK_ENV.items():
        monkeypatch.setenv(key, value)
    settings = SocialSettings()
    kakao = KakaoConfig.from_settings(settings)
    sender = sender_from_settings(settings)
    talktalk = TalkTalkConfig.from_settings(settings)
    assert (kakao.skill_token, kakao.ack_text) == ("skill-secret", "접수 완료!")
    assert kakao.callback_hosts == ("kakao.com", "127.0.0.1")
    assert isinstance(sender, ConsultTalkSender)
    assert sender.url == "http://127.0.0.1:9082/v1/chat/write"
    assert (sender.client_id, sender.secret, sender.sender_key) == ("ht-id", "ht-secret", "p" * 40)
    assert (talktalk.token, talktalk.url) == (
        "ct_wc8b1i_x",
        "http://127.0.0.1:9083/chatbot/v1/event",
    )
    assert settings.naver_talktalk_account == "myshop"
    assert [str(n) for n in settings.talktalk_networks()] == [
        "211.249.40.0/27",
        "211.249.68.0/27",
        "220.230.168.0/27",
    ]
    assert MetaConfig.from_settings(settings).profile_lookup is False
    shown = repr(settings) + repr(sender) + repr(kakao) + repr(talktalk)
    assert "skill-secret" not in shown and "ht-secret" not in shown and "ct_wc8b1i" not in shown


def test_kakao_and_talktalk_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KAKAO_TALKTALK_ENV:
        monkeypatch.delenv(key, raising=False)
    settings = SocialSettings()
    assert settings.kakao_ack_text == "문의가 접수되었습니다. 순서대로 답변드릴게요."
    assert KakaoConfig.from_settings(settings).callback_hosts == ("kakao.com",)
    assert sender_from_settings(settings) is None
    assert settings.naver_talktalk_url == "https://gw.talk.naver.com/chatbot/v1/event"
    assert settings.naver_talktalk_account == "talktalk"
    # Naver's documented ranges unless told otherwise (shared/channels/naver-talktalk.md §2).
    assert [str(n) for n in settings.talktalk_networks()] == [
        "211.249.40.0/27",
        "211.249.68.0/27",
        "220.230.168.0/27",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NAVER_TALKTALK_ALLOWED_IPS": "211.249.40.0/27,naver"}, "not a CIDR"),
        ({"NAVER_TALKTALK_ACCOUNT": "my.shop"}, "NAVER_TALKTALK_ACCOUNT"),
        ({"KAKAO_ACK_TEXT": "가" * 1001}, "1000"),
    ],
    ids=["bad_cidr", "account_with_dot", "ack_over_1000_chars"],
)
def test_bad_settings_are_refused_at_start(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        SocialSettings()


def test_sender_url_without_its_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KAKAO_TALKTALK_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KAKAO_SENDER_URL", "https://kakao-api.example/v1/chat/write")
    monkeypatch.setenv("KAKAO_SENDER_KEY", "  ")
    with pytest.raises(ValueError, match="KAKAO_SENDER_KEY, KAKAO_SENDER_CLIENT_ID"):
        sender_from_settings(SocialSettings())
