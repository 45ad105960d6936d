"""Coupang WING's HMAC signature (`CEA`), exactly as shared/channels/coupang.md gives it.

    signed-date = UTC now as yyMMdd'T'HHmmss'Z'        e.g. 261120T061203Z
    message     = signed-date + METHOD + path + query   (query without '?', as sent)
    signature   = lowercase hex(HMAC-SHA256(secretKey, message))
    Authorization: CEA algorithm=HmacSHA256, access-key=<ak>, signed-date=<sd>, signature=<sig>

The query used for signing must be byte-identical to the one in the URL: `build_query`
makes it once and the caller sends exactly that string (`yarl.URL(..., encoded=True)`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlencode

ALGORITHM: Final = "HmacSHA256"
SIGNED_DATE_FORMAT: Final = "%y%m%dT%H%M%SZ"


def signed_date(now: datetime) -> str:
    return now.astimezone(UTC).strftime(SIGNED_DATE_FORMAT)


def build_query(params: Sequence[tuple[str, str]]) -> str:
    """The query string, in the given order, percent-encoded once."""
    return urlencode(list(params))


def signature(secret_key: str, date: str, method: str, path: str, query: str) -> str:
    message = f"{date}{method.upper()}{path}{query}"
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def authorization(
    access_key: str, secret_key: str, method: str, path: str, query: str, now: datetime
) -> str:
    date = signed_date(now)
    sig = signature(secret_key, date, method, path, query)
    return (
        f"CEA algorithm={ALGORITHM}, access-key={access_key}, signed-date={date}, signature={sig}"
    )
