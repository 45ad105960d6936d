"""Naver Commerce API (SmartStore): product Q&A polled, answers posted back.

What is known of the API is in shared/channels/naver-commerce.md. In short:

- Auth: `POST /v1/oauth2/token` (form) with a bcrypt signature of `<client_id>_<timestamp_ms>`
  salted with the client secret; a Bearer token for 3 h, the same token returned while more
  than 30 min remain. A `401` with body code `GW.AUTHN` means "fetch a new token, retry once".
- Product Q&A: `GET /v1/contents/qnas?fromDate&toDate&page&size` (size ≤ 100, newest first,
  `last` on the final page) and `PUT /v1/contents/qnas/{questionId}` `{"commentContent"}` → 204.
- There are no webhooks, so we poll windows that overlap the previous one by `OVERLAP`
  (late-indexed questions are not missed) and page each window to its end. The cursor
  (saved by `PollerRunner` only after every PubAck) is `QnaCursor`.

Errors are translated here, once, by `error_from_response` (the status → error table).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, Final

import aiohttp
import bcrypt
import orjson

from inbox_core.connector import Page, PollingChannel, SendResult
from inbox_core.errors import (
    AuthError,
    InboxError,
    InvalidPayload,
    PermanentError,
    TransientError,
)
from inbox_core.logging import get_logger
from inbox_core.schema import Customer, InboundMessage, OutboundReply

log = get_logger(__name__)

NAME: Final = "naver_commerce"
BOARD_QNAS: Final = "qnas"
KST: Final = timezone(timedelta(hours=9), "KST")

TOKEN_PATH: Final = "/v1/oauth2/token"
QNAS_PATH: Final = "/v1/contents/qnas"
PAGE_SIZE: Final = 100  # the documented maximum
# Each window starts this long before the previous one ended: questions indexed late are
# read again, and the bus (Nats-Msg-Id) and the cursor's `seen` set drop the repeats.
OVERLAP: Final = timedelta(minutes=10)
# The longest window one query asks for. Naver documents no maximum for product Q&A; a
# service that was down for weeks catches up window by window instead of in one huge query.
MAX_WINDOW: Final = timedelta(days=1)
# Fetch a new token this long before the cached one expires (Naver issues a new one once
# less than 30 minutes remain, so asking earlier would return the same token).
TOKEN_REFRESH_BEFORE_S: Final = 20 * 60.0
MAX_RETRY_AFTER_S: Final = 3600.0

TRACE_HEADER: Final = "GNCP-GW-Trace-ID"
REPLENISH_HEADER: Final = "GNCP-GW-RateLimit-Replenish-Rate"
AUTHN_CODE: Final = "GW.AUTHN"

InvalidItemHook = Callable[[bytes, str], Awaitable[None]]


# --- auth ---------------------------------------------------------------------------------


def client_secret_sign(client_id: str, client_secret: str, timestamp: str) -> str:
    """`base64(bcrypt.hashpw(f"{client_id}_{timestamp}", client_secret))`, as Naver specifies.

    The client secret is itself a bcrypt salt (`$2a$04$...`). Raises AuthError when it is not.
    """
    try:
        hashed = bcrypt.hashpw(f"{client_id}_{timestamp}".encode(), client_secret.encode())
    except ValueError as err:
        raise AuthError(
            "NAVER_COMMERCE_CLIENT_SECRET is not a valid bcrypt salt (it looks like '$2a$04$...')"
        ) from err
    return base64.b64encode(hashed).decode("ascii")


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # clock seconds


# --- errors -------------------------------------------------------------------------------


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: `Retry-After` (seconds or HTTP date), else one token of the bucket."""
    raw = headers.get("Retry-After")
    if raw:
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(raw)))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                delta = (when - datetime.now(UTC)).total_seconds()
                return min(MAX_RETRY_AFTER_S, max(0.0, delta))
    rate = headers.get(REPLENISH_HEADER)
    if rate:
        try:
            per_s = float(rate)
        except ValueError:
            return None
        if per_s > 0:
            return min(MAX_RETRY_AFTER_S, 1.0 / per_s)
    return None


def error_from_response(
    status: int, headers: Mapping[str, str], body: Mapping[str, Any], *, what: str
) -> InboxError:
    """The one status → error table: 401/403 auth, 429/5xx/408 later, other 4xx never."""
    code = body.get("code") or "-"
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
    if status in (401, 403):
        return AuthError(detail)
    if status == 429:
        return TransientError(detail, retry_after=retry_after_from(headers))
    if status >= 500 or status == 408:
        return TransientError(detail, retry_after=retry_after_from(headers))
    return PermanentError(detail)


async def _read_json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await resp.read()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"message": raw[:300].decode("utf-8", "replace")}
    return data if isinstance(data, dict) else {"data": data}


# --- dates --------------------------------------------------------------------------------


def parse_naver_datetime(value: Any) -> datetime:
    """`2026-11-20T15:12:03.008+09:00` (or `...Z`) → aware UTC. No offset means KST."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"not a date-time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise InvalidPayload(f"not a date-time: {value!r}") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KST)
    return parsed.astimezone(UTC)


def format_naver_datetime(value: datetime) -> str:
    """Aware datetime → `2026-11-20T15:12:03.008+09:00`, the form Naver's docs show."""
    return value.astimezone(KST).isoformat(timespec="milliseconds")


# --- normalise ----------------------------------------------------------------------------


def thread_key(account: str, question_id: str) -> str:
    return f"{NAME}:{account}:qna:{question_id}"


def normalise_qna(item: Mapping[str, Any], account: str) -> InboundMessage:
    """Pure: one `contents[]` item of `GET /v1/contents/qnas` → InboundMessage."""
    if not isinstance(item, Mapping):
        raise InvalidPayload("a Q&A item must be an object")
    raw_id = item.get("questionId")
    if raw_id is None or isinstance(raw_id, bool) or not str(raw_id).strip():
        raise InvalidPayload("Q&A item without questionId")
    question_id = str(raw_id).strip()
    question = item.get("question")
    if not isinstance(question, str):
        raise InvalidPayload(f"Q&A {question_id} has no question text")
    received_at = parse_naver_datetime(item.get("createDate"))
    product_name = item.get("productName")
    product_name = product_name.strip() if isinstance(product_name, str) else ""
    product_id = item.get("productId")
    writer = item.get("maskedWriterId")
    writer = writer.strip() if isinstance(writer, str) and writer.strip() else "unknown"
    answer = item.get("answer")
    answered = item.get("answered")
    try:
        return InboundMessage(
            channel=NAME,
            account=account,
            external_id=f"qna:{question_id}",
            thread_keys=[thread_key(account, question_id)],
            customer=Customer(id=writer),
            subject=f"[상품문의] {product_name}" if product_name else "[상품문의]",
            text=question.strip(),
            received_at=received_at,
            context={
                "board": "qna",
                "question_id": question_id,
                "product_id": None if product_id is None else str(product_id),
                "product_name": product_name or None,
                "answered": bool(answered) if answered is not None else answer is not None,
                "answer": answer if isinstance(answer, str) else None,
            },
        )
    except ValueError as err:  # pydantic: e.g. an account that is not a subject token
        raise InvalidPayload(f"Q&A {question_id}: {err}") from err


def question_id_for(reply: OutboundReply, account: str) -> str:
    """The question an agent reply answers: context, else the thread key, else in_reply_to."""
    from_context = reply.context.get("question_id")
    if from_context is not None and str(from_context).strip():
        return str(from_context).strip()
    prefix = f"{NAME}:{account}:qna:"
    for key in reply.thread_keys:
        if key.startswith(prefix) and key[len(prefix) :]:
            return key[len(prefix) :]
    if reply.in_reply_to and reply.in_reply_to.startswith("qna:"):
        return reply.in_reply_to[len("qna:") :]
    raise PermanentError(f"reply {reply.id} names no Naver Q&A question (no question_id)")


# --- cursor -------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass
class QnaCursor:
    """Where the Q&A poller is: the window start, the page inside the current window.

    Stored as `{"since", "page", "window_to", "seen"}`. `window_to` is set while a window
    is being paged (so every page of one window asks the same question) and null between
    windows. `seen` maps question ids published with a createDate inside the next window's
    overlap to that date, so the overlap is not published again (the bus drops repeats too,
    but only within its duplicate window).
    """

    since: datetime
    page: int = 1
    window_to: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls, state: Mapping[str, Any] | None, now: datetime, backfill: timedelta
    ) -> QnaCursor:
        if not state:
            return cls(since=now - backfill)
        try:
            since = datetime.fromisoformat(str(state["since"]))
            page = int(state.get("page") or 1)
            raw_to = state.get("window_to")
            window_to = datetime.fromisoformat(str(raw_to)) if raw_to else None
            seen = {str(k): str(v) for k, v in dict(state.get("seen") or {}).items()}
        except (KeyError, TypeError, ValueError) as err:
            log.error(
                "unreadable Q&A cursor, back-filling again", cursor=dict(state), error=str(err)
            )
            return cls(since=now - backfill)
        if since.tzinfo is None or (window_to is not None and window_to.tzinfo is None):
            log.error("Q&A cursor without time zone, back-filling again", cursor=dict(state))
            return cls(since=now - backfill)
        return cls(since=since, page=max(1, page), window_to=window_to, seen=seen)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The [from, to] this page queries."""
        if self.window_to is not None:
            to = self.window_to
        else:
            to = max(self.since, min(now, self.since + MAX_WINDOW))
        return self.since - OVERLAP, to

    def after_page(
        self, now: datetime, *, last: bool, published: list[InboundMessage]
    ) -> tuple[QnaCursor, bool]:
        """The cursor once this page is safely on the bus, and whether to poll again at once."""
        _, to = self.window(now)
        keep_from = to - OVERLAP
        seen = dict(self.seen)
        for message in published:
            if message.received_at >= keep_from:
                seen[message.context["question_id"]] = _iso(message.received_at)
        if not last:
            return QnaCursor(self.since, self.page + 1, to, seen), True
        seen = {k: v for k, v in seen.items() if datetime.fromisoformat(v) >= keep_from}
        # A window cut short by MAX_WINDOW: the next one follows at once.
        catching_up = to >= self.since + MAX_WINDOW and to < now
        return QnaCursor(to, 1, None, seen), catching_up

    def dump(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "page": self.page,
            "window_to": _iso(self.window_to) if self.window_to else None,
            "seen": self.seen,
        }


# --- the channel --------------------------------------------------------------------------


class NaverCommerce(PollingChannel):
    """One SmartStore (one application's client id and secret) as one bus account."""

    name: ClassVar[str] = NAME
    boards: ClassVar[tuple[str, ...]] = (BOARD_QNAS,)

    def __init__(
        self,
        account: str,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        backfill: timedelta = timedelta(days=3),
        on_invalid: InvalidItemHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(account)
        self.client_id = client_id
        self._client_secret = client_secret
        self.base_url = base_url.rstrip("/")
        self.backfill = backfill
        self.on_invalid = on_invalid
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"NaverCommerce(account={self.account!r}, base_url={self.base_url!r})"

    # token ------------------------------------------------------------------------------

    async def access_token(self, http: aiohttp.ClientSession) -> str:
        """The cached token, or a new one when it is about to expire."""
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token.refresh_at:
                return self._token.value
            self._token = await self._issue_token(http)
            return self._token.value

    def _forget_token(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _issue_token(self, http: aiohttp.ClientSession) -> _Token:
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
        what = f"{NAME} token"
        try:
            async with http.post(self.base_url + TOKEN_PATH, data=form) as resp:
                body = await _read_json(resp)
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
        log.info("naver commerce token issued", account=self.account, expires_in=expires_in)
        return _Token(value, self._clock() + refresh_in)

    # calls ------------------------------------------------------------------------------

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> tuple[int, dict[str, Any]]:
        """One authorised call. A `401 GW.AUTHN` gets a fresh token and one more try."""
        what = f"{NAME} {method} {path}"
        for attempt in (1, 2):
            token = await self.access_token(http)
            try:
                async with http.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                ) as resp:
                    body = await _read_json(resp)
                    status, headers = resp.status, resp.headers
            except (aiohttp.ClientError, TimeoutError) as err:
                raise TransientError(f"{what}: {type(err).__name__}: {err}") from err
            if status == 401 and attempt == 1 and body.get("code") == AUTHN_CODE:
                log.info("naver commerce token refused, fetching a new one", account=self.account)
                self._forget_token(token)
                continue
            if status >= 400:
                raise error_from_response(status, headers, body, what=what)
            return status, body
        raise AssertionError("unreachable")  # pragma: no cover

    # PollingChannel ---------------------------------------------------------------------

    async def poll(
        self, board: str, cursor: dict[str, Any] | None, http: aiohttp.ClientSession, now: datetime
    ) -> Page:
        if board != BOARD_QNAS:
            raise PermanentError(f"{NAME} has no board {board!r}")
        state = QnaCursor.start(cursor, now, self.backfill)
        window_from, window_to = state.window(now)
        _, body = await self._call(
            http,
            "GET",
            QNAS_PATH,
            params={
                "fromDate": format_naver_datetime(window_from),
                "toDate": format_naver_datetime(window_to),
                "page": str(state.page),
                "size": str(PAGE_SIZE),
            },
        )
        contents = body.get("contents")
        if not isinstance(contents, list):
            raise TransientError(f"{NAME} {QNAS_PATH}: page without contents[]")
        messages: list[InboundMessage] = []
        for item in contents:
            question_id = str(item.get("questionId")) if isinstance(item, dict) else None
            if question_id is not None and question_id in state.seen:
                continue
            try:
                messages.append(normalise_qna(item, self.account))
            except InvalidPayload as err:
                await self._reject(item, str(err))
        last = bool(body["last"]) if "last" in body else len(contents) < PAGE_SIZE
        last = last or not contents  # an empty page never asks for another one
        next_state, more = state.after_page(now, last=last, published=messages)
        return Page(messages=messages, cursor=next_state.dump(), more=more)

    async def _reject(self, item: Any, error: str) -> None:
        log.error("unreadable Q&A item kept aside", channel=NAME, account=self.account, error=error)
        if self.on_invalid is not None:
            await self.on_invalid(orjson.dumps(item), error)

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        """Answer (or overwrite the answer to) a product question: PUT … → 204."""
        question_id = question_id_for(reply, self.account)
        text = reply.text.strip()
        if not text:
            raise PermanentError(f"reply {reply.id} is empty")
        await self._call(http, "PUT", f"{QNAS_PATH}/{question_id}", json={"commentContent": text})
        return SendResult(external_id=f"qna:{question_id}:answer")
