"""Settings of ingest-social. Env names are the public contract (DESIGN.md); the names this
service adds are listed in its README."""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from pydantic import Field, SecretStr, field_validator

from inbox_core.schema import ACCOUNT_RE
from inbox_core.settings import ServiceSettings

DEFAULT_PORT: Final = 8081
DEFAULT_META_GRAPH_URL: Final = "https://graph.facebook.com/v21.0"
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024  # larger webhook bodies are answered 413
DEFAULT_KAKAO_ACK_TEXT: Final = "문의가 접수되었습니다. 순서대로 답변드릴게요."
DEFAULT_KAKAO_CALLBACK_HOSTS: Final = "kakao.com"
DEFAULT_NAVER_TALKTALK_URL: Final = "https://gw.talk.naver.com/chatbot/v1/event"
DEFAULT_NAVER_TALKTALK_ACCOUNT: Final = "talktalk"
# Naver's documented source ranges of TalkTalk webhook calls (shared/channels/naver-talktalk.md §2).
NAVER_TALKTALK_RANGES: Final = "211.249.40.0/27,211.249.68.0/27,220.230.168.0/27"
KAKAO_TEXT_LIMIT: Final = 1000  # simpleText.text


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class SocialSettings(ServiceSettings):
    port: int = Field(DEFAULT_PORT, validation_alias="INBOX_SOCIAL_PORT")

    # Meta (Facebook Messenger and Instagram Messaging), see shared/channels/meta.md.
    facebook_app_secret: SecretStr | None = Field(None, validation_alias="FACEBOOK_APP_SECRET")
    facebook_verify_token: SecretStr | None = Field(None, validation_alias="FACEBOOK_VERIFY_TOKEN")
    facebook_page_token: SecretStr | None = Field(None, validation_alias="FACEBOOK_PAGE_TOKEN")
    meta_graph_url: str = Field(DEFAULT_META_GRAPH_URL, validation_alias="META_GRAPH_URL")
    # Fill customer names from the Graph API (needs FACEBOOK_PAGE_TOKEN).
    facebook_profile_lookup: bool = Field(True, validation_alias="FACEBOOK_PROFILE_LOOKUP")

    # KakaoTalk channel through Kakao i Open Builder, see shared/channels/kakao.md.
    kakao_skill_token: SecretStr | None = Field(None, validation_alias="KAKAO_SKILL_TOKEN")
    kakao_ack_text: str = Field(
        DEFAULT_KAKAO_ACK_TEXT,
        min_length=1,
        max_length=KAKAO_TEXT_LIMIT,
        validation_alias="KAKAO_ACK_TEXT",
    )
    # Hosts (or parent domains) a skill request's callbackUrl may point at.
    kakao_callback_hosts: str = Field(
        DEFAULT_KAKAO_CALLBACK_HOSTS, validation_alias="KAKAO_CALLBACK_HOSTS"
    )
    # The pluggable sender for agent replies (a 상담톡 dealer API); unset: replies refused.
    kakao_sender_url: str | None = Field(None, validation_alias="KAKAO_SENDER_URL")
    kakao_sender_key: SecretStr | None = Field(None, validation_alias="KAKAO_SENDER_KEY")
    kakao_sender_client_id: str | None = Field(None, validation_alias="KAKAO_SENDER_CLIENT_ID")
    kakao_sender_profile_key: str | None = Field(None, validation_alias="KAKAO_SENDER_PROFILE_KEY")

    # Naver TalkTalk chatbot API, see shared/channels/naver-talktalk.md.
    naver_talktalk_token: SecretStr | None = Field(None, validation_alias="NAVER_TALKTALK_TOKEN")
    naver_talktalk_url: str = Field(
        DEFAULT_NAVER_TALKTALK_URL, validation_alias="NAVER_TALKTALK_URL"
    )
    # The account token on the bus: inbox.in.naver_talktalk.<account>.
    naver_talktalk_account: str = Field(
        DEFAULT_NAVER_TALKTALK_ACCOUNT, validation_alias="NAVER_TALKTALK_ACCOUNT"
    )
    # CIDRs allowed to call the webhook (comma-separated); unset: Naver's documented ranges.
    naver_talktalk_allowed_ips: str | None = Field(
        None, validation_alias="NAVER_TALKTALK_ALLOWED_IPS"
    )

    # Mount webhooks whose secret is missing, open to anyone (local development only).
    insecure_webhooks: bool = Field(False, validation_alias="INBOX_INSECURE_WEBHOOKS")
    # Kakao callback URLs on http, any port, loopback or private addresses (simulators only).
    kakao_callback_allow_local: bool = Field(False, validation_alias="KAKAO_CALLBACK_ALLOW_LOCAL")

    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1024, validation_alias="INBOX_SOCIAL_MAX_BODY_BYTES"
    )

    @field_validator(
        "facebook_app_secret",
        "facebook_verify_token",
        "facebook_page_token",
        "kakao_skill_token",
        "kakao_sender_url",
        "kakao_sender_key",
        "kakao_sender_client_id",
        "kakao_sender_profile_key",
        "naver_talktalk_token",
        "naver_talktalk_allowed_ips",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("meta_graph_url", "naver_talktalk_url", "kakao_sender_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("naver_talktalk_account")
    @classmethod
    def _account_token(cls, value: str) -> str:
        if not ACCOUNT_RE.match(value):
            raise ValueError(
                "NAVER_TALKTALK_ACCOUNT may hold letters, digits, '_', '-', '@', '+' (max 64)"
            )
        return value

    @field_validator("naver_talktalk_allowed_ips")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        for part in _csv(value or ""):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as err:
                raise ValueError(f"NAVER_TALKTALK_ALLOWED_IPS: {part!r} is not a CIDR") from err
        return value

    def talktalk_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The allow-list as networks: the configured one, else Naver's documented ranges;
        empty (every address) only with INBOX_INSECURE_WEBHOOKS and no list configured."""
        if self.naver_talktalk_allowed_ips is None and self.insecure_webhooks:
            return []
        raw = self.naver_talktalk_allowed_ips or NAVER_TALKTALK_RANGES
        return [ipaddress.ip_network(part, strict=False) for part in _csv(raw)]

    def missing_webhook_secrets(self) -> dict[str, str]:
        """Webhook channel → the variable whose absence keeps it closed (not mounted)."""
        missing = {}
        if self.facebook_app_secret is None:
            missing["facebook"] = missing["instagram"] = "FACEBOOK_APP_SECRET"
        if self.kakao_skill_token is None:
            missing["kakao"] = "KAKAO_SKILL_TOKEN"
        if self.naver_talktalk_token is None and self.naver_talktalk_allowed_ips is None:
            missing["naver_talktalk"] = "NAVER_TALKTALK_TOKEN or NAVER_TALKTALK_ALLOWED_IPS"
        return missing

    def kakao_callback_host_list(self) -> list[str]:
        return [h.lower().lstrip(".") for h in _csv(self.kakao_callback_hosts)]
