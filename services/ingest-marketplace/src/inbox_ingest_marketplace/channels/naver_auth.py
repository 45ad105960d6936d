"""Naver Commerce API auth: the bcrypt-signed client-credentials token, cached.

`POST /v1/oauth2/token` (form) with `client_secret_sign = base64(bcrypt(client_id + "_" +
timestamp_ms, client_secret))`; the client secret is itself a bcrypt salt (`$2a$04$...`).
The token lives 3 h and Naver returns the same one while more than 30 min remain, so the
cache asks again 20 min before expiry. Errors go through `error_from_response`, the Naver
row of the status → error table (Naver's body: `{code, message, invalidInputs, traceId}`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import bcrypt
import orjson

from inbox_core.errors import AuthError, InboxError, TransientError
from inbox_core.http import poll_error, retry_after_from
from inbox_core.logging import get_logger

log = get_logger(__name__)

TOKEN_PATH: Final = "/v1/oauth2/token"
TRACE_HEADER: Final = "GNCP-GW-Trace-ID"
REPLENISH_HEADER: Final = "GNCP-GW-RateLimit-Replenish-Rate"
AUTHN_CODE: Final = "GW.AUTHN"
# Fetch a new token this long before the cached one expires (Naver issues a new one only
# once less than 30 minutes remain, so asking earlier would return the same token).
TOKEN_REFRESH_BEFORE_S: Final = 20 * 60.0
# Customer-inquiry error codes that mean "this store's auth info is wrong".
AUTH_CODES: Final = frozenset({"4010", "5001"})


def client_secret_sign(client_id: str, client_secret: str, timestamp: str) -> str:
    """`base64(bcrypt.hashpw(f"{client_id}_{timestamp}", client_secret))`, as Naver specifies.

    Raises AuthError when the secret is not a bcrypt salt."""
    try:
        hashed = bcrypt.hashpw(f"{client_id}_{timestamp}".encode(), client_secret.encode())
    except ValueError as err:
        raise AuthError(
            "NAVER_COMMERCE_CLIENT_SECRET is not a valid bcrypt salt (it looks like '$2a$04$...')"
        ) from err
    return base64.b64encode(hashed).decode("ascii")


def error_from_response(
    status: int, headers: Mapping[str, str], body: Mapping[str, Any], *, what: str
) -> InboxError:
    """Naver's error body made readable, then the shared table."""
    code = str(body.get("code") or "-")
    message = body.get("message") or ""
    detail = f"{what}: HTTP {status} {code}"
    if message:
        detail += f": {message}"
    invalid = body.get("invalidInputs")
    if isinstance(invalid, list) and invalid:
        fields = ", ".join(
            f"{i.get('name')} ({i.get('message') or i.get('type')})"
            for i in invalid
            if isinstance(i, dict)
        )
        detail += f" [{fields}]"
    trace_id = body.get("traceId") or headers.get(TRACE_HEADER)
    if trace_id:
        detail += f" (traceId {trace_id})"
    if code in AUTH_CODES:
        return AuthError(detail)
    retry_after = retry_after_from(headers, rate_header=REPLENISH_HEADER)
    return poll_error(status, detail, retry_after=retry_after)


async def read_json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await resp.read()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"message": raw[:300].decode("utf-8", "replace")}
    return data if isinstance(data, dict) else {"data": data}


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # clock seconds


class NaverToken:
    """The access token of one application, fetched when missing or about to expire."""

    def __init__(
        self,
        account: str,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.client_id = client_id
        self._client_secret = client_secret
        self.base_url = base_url
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.issued = 0

    async def get(self, http: aiohttp.ClientSession) -> str:
        async with self._lock:
            if self._token is not None and self._clock() < self._token.refresh_at:
                return self._token.value
            self._token = await self._issue(http)
            return self._token.value

    def forget(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _issue(self, http: aiohttp.ClientSession) -> _Token:
        timestamp = str(int(self._clock() * 1000))
        sign = await asyncio.to_thread(
            client_secret_sign, self.client_id, self._client_secret, timestamp
        )
        form = {
            "client_id": self.client_id,
            "timestamp": timestamp,
            "client_secret_sign": sign,
            "grant_type": "client_credentials",
            "type": "SELF",
        }
        what = "naver_commerce token"
        try:
            async with http.post(self.base_url + TOKEN_PATH, data=form) as resp:
                body = await read_json(resp)
                if resp.status != 200:
                    err = error_from_response(resp.status, resp.headers, body, what=what)
                    if resp.status == 400:  # the token call refuses bad signs and stale stamps
                        err = AuthError(str(err))
                    raise err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransientError(f"{what}: {type(err).__name__}: {err}") from err
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise TransientError(f"{what}: answer without access_token")
        try:
            expires_in = float(body.get("expires_in") or 0)
        except (TypeError, ValueError):
            expires_in = 0.0
        refresh_in = max(0.0, expires_in - min(TOKEN_REFRESH_BEFORE_S, expires_in / 2))
        self.issued += 1
        log.info("naver commerce token issued", account=self.account, expires_in=expires_in)
        return _Token(value, self._clock() + refresh_in)
