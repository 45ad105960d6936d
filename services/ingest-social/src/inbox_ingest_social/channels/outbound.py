"""Calls to a platform's API, and the one table from an HTTP status to retry or give up.

The status→action table and the `Retry-After` parser are inbox_core.http's: 408, 429 and 5xx
are worth retrying (`TransientError`, with the platform's `Retry-After` when it sends one,
which the SDK uses as the nak delay); every other failure is `PermanentError`, and its text
is what the agent reads in the delivery report. Network errors never print the URL (URLs
can hold tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from inbox_core.errors import PermanentError, TransientError
from inbox_core.http import parse_retry_after, send_error
from inbox_ingest_social.channels.payload import json_object


@dataclass(frozen=True)
class Answer:
    """A platform's HTTP answer, read in full."""

    status: int
    data: dict[str, Any] | None  # the body when it is a JSON object
    headers: CIMultiDictProxy[str]

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))


async def call_json(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Answer:
    """One HTTP call with a JSON body; network trouble becomes TransientError."""
    send_headers = dict(headers or {})
    data = None
    if body is not None:
        data = orjson.dumps(body)
        send_headers.setdefault("Content-Type", "application/json;charset=UTF-8")
    try:
        async with http.request(
            method,
            url,
            data=data,
            headers=send_headers,
            params=params,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            raw = await resp.read()
            return Answer(
                resp.status, json_object(raw), CIMultiDictProxy(CIMultiDict(resp.headers))
            )
    except (TimeoutError, aiohttp.ClientError) as err:
        # Never str(err): some aiohttp errors print the URL, and a URL can hold a token.
        raise TransientError(f"{what} unreachable ({type(err).__name__})") from err


def http_failure(what: str, answer: Answer, detail: str) -> TransientError | PermanentError:
    """A failed answer (per the table) as the error the SDK acts on."""
    text = f"{what} answered HTTP {answer.status}: {detail}"
    return send_error(answer.status, text, retry_after=answer.retry_after)
