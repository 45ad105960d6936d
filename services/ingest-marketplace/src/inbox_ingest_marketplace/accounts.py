"""Marketplace accounts: one shop on one platform, with its own credentials and cursor.

Two sources, merged (a `(platform, account)` pair may appear once):

1. The single-shop env of the public contract: `NAVER_COMMERCE_*`, `COUPANG_*`,
   `ELEVENST_*` (see settings.py).
2. `INBOX_MARKET_ACCOUNTS`: a YAML or JSON list, given as a file path or inline (a value
   starting with `[`). Each entry names its `platform` and `account` and that platform's
   credentials. A string value `${NAME}` is replaced by the environment variable NAME, so
   secrets need not sit in the file:

       - platform: naver_commerce
         account: shop-a
         client_id: 7dMvteboKNHwyRremLXXXX
         client_secret: ${SHOP_A_NAVER_SECRET}
       - platform: coupang
         account: shop-a-coupang
         access_key: ${SHOP_A_COUPANG_ACCESS}
         secret_key: ${SHOP_A_COUPANG_SECRET}
         vendor_id: A00012345
         wing_id: shopa01            # replyBy; default: the vendor id
       - platform: elevenst
         account: shop-a-11st
         api_key: ${SHOP_A_11ST_KEY}

   Optional per entry: `url` (the platform's base URL, e.g. a simulator) and
   `backfill_days` (how far back the first poll reads).
Errors name the entry and the field, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import orjson
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from inbox_core.schema import ACCOUNT_RE

DEFAULT_NAVER_COMMERCE_URL: Final = "https://api.commerce.naver.com/external"
DEFAULT_COUPANG_URL: Final = "https://api-gateway.coupang.com"
DEFAULT_ELEVENST_URL: Final = "https://api.11st.co.kr"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str
    backfill_days: float | None = Field(None, ge=0, le=365)

    @field_validator("account")
    @classmethod
    def _token(cls, value: str) -> str:
        if not ACCOUNT_RE.match(value):
            raise ValueError("may hold letters, digits, '_', '-', '@', '+' (max 64)")
        return value

    @field_validator("url", mode="after", check_fields=False)
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class NaverCommerceAccount(_Account):
    platform: Literal["naver_commerce"] = "naver_commerce"
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    url: str = DEFAULT_NAVER_COMMERCE_URL


class CoupangAccount(_Account):
    platform: Literal["coupang"] = "coupang"
    access_key: str = Field(min_length=1)
    secret_key: SecretStr
    vendor_id: str = Field(min_length=1)
    wing_id: str | None = None
    url: str = DEFAULT_COUPANG_URL


class ElevenstAccount(_Account):
    platform: Literal["elevenst"] = "elevenst"
    api_key: SecretStr
    url: str = DEFAULT_ELEVENST_URL


AccountConfig = Annotated[
    NaverCommerceAccount | CoupangAccount | ElevenstAccount, Field(discriminator="platform")
]
_ACCOUNTS = TypeAdapter(list[AccountConfig])


def _expand(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ValueError(f"{where}: environment variable {name} is not set")
            return env[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _read(raw: str) -> Any:
    text = raw.strip()
    if not text.startswith(("[", "{")):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"INBOX_MARKET_ACCOUNTS: cannot read {path}: {err.strerror}") from err
        if path.suffix == ".json":
            return orjson.loads(text)
    try:
        return yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as err:
        raise ValueError(f"INBOX_MARKET_ACCOUNTS is not YAML/JSON: {err}") from err


def load_accounts(raw: str, env: Mapping[str, str] | None = None) -> list[AccountConfig]:
    """Parse `INBOX_MARKET_ACCOUNTS` (a path, or an inline list). Raises ValueError."""
    data = _read(raw)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("INBOX_MARKET_ACCOUNTS must hold a list of accounts")
    data = _expand(data, os.environ if env is None else env, "INBOX_MARKET_ACCOUNTS")
    try:
        return _ACCOUNTS.validate_python(data)
    except ValidationError as err:
        problems = "; ".join(
            f"entry {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(f"INBOX_MARKET_ACCOUNTS: {problems}") from None


def check_unique(accounts: list[AccountConfig]) -> list[AccountConfig]:
    seen: set[tuple[str, str]] = set()
    for entry in accounts:
        key = (entry.platform, entry.account)
        if key in seen:
            raise ValueError(f"account {entry.account!r} of {entry.platform} is configured twice")
        seen.add(key)
    return accounts
