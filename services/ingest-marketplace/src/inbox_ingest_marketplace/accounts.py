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

Which platforms there are, and each one's fields, comes from the channel registrations of
this service (`ChannelRegistration.account_model`, entry points `inbox.channels`): a new
marketplace package declares its `MarketAccount` model there and needs no edit here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union

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

from inbox_core.channels import ChannelRegistration, RegistryError, hosted_by
from inbox_core.schema import ACCOUNT_RE
from inbox_ingest_marketplace.registry import SERVICE

DEFAULT_NAVER_COMMERCE_URL: Final = "https://api.commerce.naver.com/external"
DEFAULT_COUPANG_URL: Final = "https://api-gateway.coupang.com"
DEFAULT_ELEVENST_URL: Final = "https://api.11st.co.kr"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MarketAccount(BaseModel):
    """One shop on one platform. A platform's model adds `platform: Literal["<channel id>"]`
    (defaulting to it), its credentials and `url: str` (its base URL by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: str
    account: str
    url: str
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


class NaverCommerceAccount(MarketAccount):
    platform: Literal["naver_commerce"] = "naver_commerce"
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    url: str = DEFAULT_NAVER_COMMERCE_URL


class CoupangAccount(MarketAccount):
    platform: Literal["coupang"] = "coupang"
    access_key: str = Field(min_length=1)
    secret_key: SecretStr
    vendor_id: str = Field(min_length=1)
    wing_id: str | None = None
    url: str = DEFAULT_COUPANG_URL


class ElevenstAccount(MarketAccount):
    platform: Literal["elevenst"] = "elevenst"
    api_key: SecretStr
    url: str = DEFAULT_ELEVENST_URL


AccountConfig = MarketAccount  # any platform's account


def account_models(
    registrations: Iterable[ChannelRegistration] | None = None,
) -> dict[str, type[MarketAccount]]:
    """platform → the model of its accounts: each channel registered for this service that
    declares one (by default, the installed ones). Raises RegistryError for a model that is
    not a MarketAccount or whose `platform` is not its channel id."""
    models: dict[str, type[MarketAccount]] = {}
    for spec in hosted_by(SERVICE) if registrations is None else registrations:
        if spec.account_model is None:
            continue
        model = spec.account_model()
        if not (isinstance(model, type) and issubclass(model, MarketAccount)):
            raise RegistryError(f"channel {spec.name}: account_model is not a MarketAccount")
        if model.model_fields["platform"].default != spec.name:
            raise RegistryError(
                f"channel {spec.name}: account_model's platform must default to {spec.name!r}"
            )
        models[spec.name] = model
    return models


@lru_cache(maxsize=8)
def _adapter(models: tuple[type[MarketAccount], ...]) -> TypeAdapter[list[Any]]:
    if not models:
        raise ValueError("INBOX_MARKET_ACCOUNTS: no marketplace channel is installed")
    if len(models) == 1:
        return TypeAdapter(list[models[0]])  # type: ignore[valid-type]
    entry = Annotated[Union[models], Field(discriminator="platform")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(list[entry])  # type: ignore[valid-type]


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


def load_accounts(
    raw: str,
    env: Mapping[str, str] | None = None,
    models: Mapping[str, type[MarketAccount]] | None = None,
) -> list[MarketAccount]:
    """Parse `INBOX_MARKET_ACCOUNTS` (a path, or an inline list) into the models of the
    registered platforms (`account_models()` unless given). Raises ValueError."""
    data = _read(raw)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("INBOX_MARKET_ACCOUNTS must hold a list of accounts")
    data = _expand(data, os.environ if env is None else env, "INBOX_MARKET_ACCOUNTS")
    adapter = _adapter(tuple((account_models() if models is None else models).values()))
    try:
        return adapter.validate_python(data)
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
