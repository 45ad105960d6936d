"""Settings of ingest-social. Env names are the public contract (DESIGN.md)."""

from __future__ import annotations

from typing import Final

from pydantic import Field, SecretStr, field_validator

from inbox_core.settings import ServiceSettings

DEFAULT_PORT: Final = 8081
DEFAULT_META_GRAPH_URL: Final = "https://graph.facebook.com/v21.0"
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024  # larger webhook bodies are answered 413


class SocialSettings(ServiceSettings):
    port: int = Field(DEFAULT_PORT, validation_alias="INBOX_SOCIAL_PORT")

    # Meta (Facebook Messenger and Instagram Messaging), see shared/channels/meta.md.
    facebook_app_secret: SecretStr | None = Field(None, validation_alias="FACEBOOK_APP_SECRET")
    facebook_verify_token: SecretStr | None = Field(None, validation_alias="FACEBOOK_VERIFY_TOKEN")
    facebook_page_token: SecretStr | None = Field(None, validation_alias="FACEBOOK_PAGE_TOKEN")
    meta_graph_url: str = Field(DEFAULT_META_GRAPH_URL, validation_alias="META_GRAPH_URL")

    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1024, validation_alias="INBOX_SOCIAL_MAX_BODY_BYTES"
    )

    @field_validator("meta_graph_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
