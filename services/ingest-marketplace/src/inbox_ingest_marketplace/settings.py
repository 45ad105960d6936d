"""Settings of ingest-marketplace. Env names are the public contract (DESIGN.md); the
`ELEVENST_*`, `COUPANG_ACCOUNT`/`COUPANG_WING_ID` and `INBOX_MARKET_*` tuning names are
this service's own (README.md)."""

from __future__ import annotations

from typing import Any, Final, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from inbox_core.schema import ACCOUNT_RE
from inbox_core.settings import ServiceSettings
from inbox_ingest_marketplace.accounts import (
    DEFAULT_COUPANG_URL,
    DEFAULT_ELEVENST_URL,
    DEFAULT_NAVER_COMMERCE_URL,
    AccountConfig,
    CoupangAccount,
    ElevenstAccount,
    NaverCommerceAccount,
    check_unique,
    load_accounts,
)

DEFAULT_PORT: Final = 8083
DEFAULT_POLL_S: Final = 60.0
DEFAULT_NAVER_COMMERCE_ACCOUNT: Final = "smartstore"
DEFAULT_ELEVENST_ACCOUNT: Final = "11st"
DEFAULT_BACKFILL_DAYS: Final = 3.0
DEFAULT_WATCH_DAYS: Final = 7.0
DEFAULT_REVISIT_S: Final = 600.0

_OPTIONAL = (
    "naver_commerce_client_id",
    "naver_commerce_client_secret",
    "coupang_access_key",
    "coupang_secret_key",
    "coupang_vendor_id",
    "coupang_account",
    "coupang_wing_id",
    "elevenst_api_key",
    "accounts_file",
)


class MarketSettings(ServiceSettings):
    port: int = Field(DEFAULT_PORT, validation_alias="INBOX_MARKET_PORT")
    poll_interval_s: float = Field(DEFAULT_POLL_S, gt=0, validation_alias="INBOX_MARKET_POLL_S")
    # How far back the first poll of a new account reads (an account may set its own).
    backfill_days: float = Field(
        DEFAULT_BACKFILL_DAYS, ge=0, le=365, validation_alias="INBOX_MARKET_BACKFILL_DAYS"
    )
    # Revisit passes re-read this many days to find edits, deletions and platform answers…
    watch_days: float = Field(
        DEFAULT_WATCH_DAYS, ge=0, le=60, validation_alias="INBOX_MARKET_WATCH_DAYS"
    )
    # …this often (0: at every poll).
    revisit_s: float = Field(DEFAULT_REVISIT_S, ge=0, validation_alias="INBOX_MARKET_REVISIT_S")
    # An account whose credentials are refused is tried again after this long.
    auth_retry_s: float = Field(300.0, gt=0, validation_alias="INBOX_MARKET_AUTH_RETRY_S")
    # Tries of one platform call (429/5xx/network), and the longest Retry-After waited in-call.
    http_attempts: int = Field(3, ge=1, le=10, validation_alias="INBOX_MARKET_HTTP_ATTEMPTS")
    http_retry_max_s: float = Field(
        30.0, ge=0, le=600, validation_alias="INBOX_MARKET_HTTP_RETRY_MAX_S"
    )
    # Several shops: a YAML/JSON list (path or inline), see accounts.py.
    accounts_file: str | None = Field(None, validation_alias="INBOX_MARKET_ACCOUNTS")

    # Naver Commerce API (SmartStore). No client id: no single-shop Naver account.
    naver_commerce_client_id: str | None = Field(None, validation_alias="NAVER_COMMERCE_CLIENT_ID")
    naver_commerce_client_secret: SecretStr | None = Field(
        None, validation_alias="NAVER_COMMERCE_CLIENT_SECRET"
    )
    naver_commerce_url: str = Field(
        DEFAULT_NAVER_COMMERCE_URL, validation_alias="NAVER_COMMERCE_URL"
    )
    naver_commerce_account: str = Field(
        DEFAULT_NAVER_COMMERCE_ACCOUNT, validation_alias="NAVER_COMMERCE_ACCOUNT"
    )
    # Older name of the back-fill, for the Naver account only.
    naver_commerce_backfill_days: float | None = Field(
        None, ge=0, le=365, validation_alias="NAVER_COMMERCE_BACKFILL_DAYS"
    )

    # Coupang WING. No access key: no single-shop Coupang account.
    coupang_access_key: str | None = Field(None, validation_alias="COUPANG_ACCESS_KEY")
    coupang_secret_key: SecretStr | None = Field(None, validation_alias="COUPANG_SECRET_KEY")
    coupang_vendor_id: str | None = Field(None, validation_alias="COUPANG_VENDOR_ID")
    coupang_url: str = Field(DEFAULT_COUPANG_URL, validation_alias="COUPANG_URL")
    coupang_account: str | None = Field(None, validation_alias="COUPANG_ACCOUNT")  # vendor id
    coupang_wing_id: str | None = Field(None, validation_alias="COUPANG_WING_ID")  # replyBy

    # 11st. No API key: no single-shop 11st account.
    elevenst_api_key: SecretStr | None = Field(None, validation_alias="ELEVENST_API_KEY")
    elevenst_url: str = Field(DEFAULT_ELEVENST_URL, validation_alias="ELEVENST_URL")
    elevenst_account: str = Field(DEFAULT_ELEVENST_ACCOUNT, validation_alias="ELEVENST_ACCOUNT")

    @field_validator(*_OPTIONAL, mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("naver_commerce_url", "coupang_url", "elevenst_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("naver_commerce_account", "coupang_account", "elevenst_account")
    @classmethod
    def _account_token(cls, value: str | None) -> str | None:
        if value is not None and not ACCOUNT_RE.match(value):
            raise ValueError("an account may hold letters, digits, '_', '-', '@', '+' (max 64)")
        return value

    @model_validator(mode="after")
    def _complete_credentials(self) -> Self:
        if self.naver_commerce_client_id and self.naver_commerce_client_secret is None:
            raise ValueError(
                "NAVER_COMMERCE_CLIENT_SECRET is required when NAVER_COMMERCE_CLIENT_ID is set"
            )
        if self.coupang_access_key and (
            self.coupang_secret_key is None or not self.coupang_vendor_id
        ):
            raise ValueError(
                "COUPANG_SECRET_KEY and COUPANG_VENDOR_ID are required with COUPANG_ACCESS_KEY"
            )
        if self.coupang_account is None and self.coupang_vendor_id:
            if not ACCOUNT_RE.match(self.coupang_vendor_id):
                raise ValueError("COUPANG_VENDOR_ID is no account token; set COUPANG_ACCOUNT")
        return self

    @property
    def naver_commerce_enabled(self) -> bool:
        return self.naver_commerce_client_id is not None

    def env_accounts(self) -> list[AccountConfig]:
        """The single-shop accounts of the contract env names."""
        found: list[AccountConfig] = []
        if self.naver_commerce_client_id and self.naver_commerce_client_secret:
            found.append(
                NaverCommerceAccount(
                    account=self.naver_commerce_account,
                    client_id=self.naver_commerce_client_id,
                    client_secret=self.naver_commerce_client_secret,
                    url=self.naver_commerce_url,
                    backfill_days=self.naver_commerce_backfill_days,
                )
            )
        if self.coupang_access_key and self.coupang_secret_key and self.coupang_vendor_id:
            found.append(
                CoupangAccount(
                    account=self.coupang_account or self.coupang_vendor_id,
                    access_key=self.coupang_access_key,
                    secret_key=self.coupang_secret_key,
                    vendor_id=self.coupang_vendor_id,
                    wing_id=self.coupang_wing_id,
                    url=self.coupang_url,
                )
            )
        if self.elevenst_api_key:
            found.append(
                ElevenstAccount(
                    account=self.elevenst_account,
                    api_key=self.elevenst_api_key,
                    url=self.elevenst_url,
                )
            )
        return found

    def accounts(self) -> list[AccountConfig]:
        """Every account: the env ones, then `INBOX_MARKET_ACCOUNTS`. Raises ValueError."""
        from_file = load_accounts(self.accounts_file) if self.accounts_file else []
        return check_unique([*self.env_accounts(), *from_file])
