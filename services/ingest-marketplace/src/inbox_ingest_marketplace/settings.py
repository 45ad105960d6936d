"""Settings of ingest-marketplace. Env names are the public contract (DESIGN.md)."""

from __future__ import annotations

from typing import Any, Final, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from inbox_core.schema import ACCOUNT_RE
from inbox_core.settings import ServiceSettings

DEFAULT_PORT: Final = 8083
DEFAULT_POLL_S: Final = 60.0
DEFAULT_NAVER_COMMERCE_URL: Final = "https://api.commerce.naver.com/external"
DEFAULT_NAVER_COMMERCE_ACCOUNT: Final = "smartstore"
DEFAULT_BACKFILL_DAYS: Final = 3.0


class MarketSettings(ServiceSettings):
    port: int = Field(DEFAULT_PORT, validation_alias="INBOX_MARKET_PORT")
    poll_interval_s: float = Field(DEFAULT_POLL_S, gt=0, validation_alias="INBOX_MARKET_POLL_S")

    # Naver Commerce API (SmartStore). No client id: the Naver poller is off.
    naver_commerce_client_id: str | None = Field(None, validation_alias="NAVER_COMMERCE_CLIENT_ID")
    naver_commerce_client_secret: SecretStr | None = Field(
        None, validation_alias="NAVER_COMMERCE_CLIENT_SECRET"
    )
    naver_commerce_url: str = Field(
        DEFAULT_NAVER_COMMERCE_URL, validation_alias="NAVER_COMMERCE_URL"
    )
    # The account token on the bus: inbox.in.naver_commerce.<account>.
    naver_commerce_account: str = Field(
        DEFAULT_NAVER_COMMERCE_ACCOUNT, validation_alias="NAVER_COMMERCE_ACCOUNT"
    )
    # How far back the first poll of a new account reads.
    naver_commerce_backfill_days: float = Field(
        DEFAULT_BACKFILL_DAYS, ge=0, le=365, validation_alias="NAVER_COMMERCE_BACKFILL_DAYS"
    )

    @field_validator("naver_commerce_client_id", "naver_commerce_client_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("naver_commerce_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("naver_commerce_account")
    @classmethod
    def _account_token(cls, value: str) -> str:
        if not ACCOUNT_RE.match(value):
            raise ValueError(
                "NAVER_COMMERCE_ACCOUNT may hold letters, digits, '_', '-', '@', '+' (max 64)"
            )
        return value

    @model_validator(mode="after")
    def _secret_with_id(self) -> Self:
        if self.naver_commerce_client_id and self.naver_commerce_client_secret is None:
            raise ValueError(
                "NAVER_COMMERCE_CLIENT_SECRET is required when NAVER_COMMERCE_CLIENT_ID is set"
            )
        return self

    @property
    def naver_commerce_enabled(self) -> bool:
        return self.naver_commerce_client_id is not None
