"""A local Naver Commerce API: the real HTTP shape under `/external`, for tests and the demo.

Implements what the connector uses (shared/channels/naver-commerce.md):

- `POST /external/v1/oauth2/token`: checks the bcrypt signature and the 5-minute timestamp;
  one token per (type, account_id), the same token while more than 30 minutes remain.
- `GET /external/v1/contents/qnas`: product Q&A in [fromDate, toDate], newest first, paged
  (size ≤ 100); `PUT /external/v1/contents/qnas/{questionId}`: the seller's answer (204).
- `GET /external/v1/pay-user/inquiries`: customer inquiries registered on the KST days
  [startSearchDate, endSearchDate] (`yyyy-MM-dd`, ≤ 365 days: code 4003; size 10–200:
  4006/4007), a Spring page (`content`, `number` 0-based, `last`);
  `POST /external/v1/pay-merchant/inquiries/{inquiryNo}/answer` `{"answerComment"}` and
  `PUT …/answer/{answerContentId}` (edit).
- Every call but the token call needs `Authorization: Bearer <token>` (401 `GW.AUTHN`);
  an optional token bucket per API answers 429 `GW.RATE_LIMIT`; every response carries
  `GNCP-GW-Trace-ID`. Error bodies are `{code, message, [invalidInputs], timestamp, traceId}`.

Not Naver's API, for tests and the demo only (no auth, never expose them): the board admin
of `common.py` under `/_sim/qnas` and `/_sim/inquiries` (add, list, edit, delete, answer on
the platform) and `/_sim/faults`.

Run it: `inbox-sim-naver-commerce --port 9083 --client-id ID --client-secret '$2a$04$...' --seed`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import itertools
import math
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final

import bcrypt
from aiohttp import web

from inbox_core.simulator import serve, simulator_parser
from inbox_ingest_marketplace.simulators.common import FAULTS, add_board_admin, add_fault_routes

KST: Final = timezone(timedelta(hours=9), "KST")
PREFIX: Final = "/external"
TOKEN_PATH: Final = PREFIX + "/v1/oauth2/token"
QNAS_PATH: Final = PREFIX + "/v1/contents/qnas"
INQUIRIES_PATH: Final = PREFIX + "/v1/pay-user/inquiries"
INQUIRY_ANSWER_PATH: Final = PREFIX + "/v1/pay-merchant/inquiries/{inquiry_no}/answer"
MAX_INQUIRY_DAYS: Final = 365
FIRST_INQUIRY_NO: Final = 1_234_567
FIRST_ANSWER_ID: Final = 88_000_001
TOKEN_LIFETIME_S: Final = 10_800
TOKEN_REUSE_MIN_S: Final = 30 * 60
TIMESTAMP_TOLERANCE_S: Final = 5 * 60
MAX_PAGE_SIZE: Final = 100
FIRST_QUESTION_ID: Final = 686_514_800
DEFAULT_PORT: Final = 9083
BCRYPT_PREFIX_LEN: Final = 29  # "$2a$04$" + 22 salt characters


# --- pure checks (unit-tested on their own) ------------------------------------------------


def _b64decode(value: str) -> bytes:
    """Standard or URL-safe base64, padding optional (Naver's samples use both alphabets)."""
    text = value.strip()
    text += "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(text)
    return base64.b64decode(text, validate=True)


def verify_client_secret_sign(
    client_id: str, client_secret: str, timestamp: str, sign: str
) -> bool:
    """`bcrypt.checkpw(f"{id}_{ts}", base64decode(sign))`, and the hash must be salted with
    this application's secret: checkpw alone accepts a hash made with any salt."""
    try:
        hashed = _b64decode(sign)
    except (binascii.Error, ValueError):
        return False
    salt = client_secret.encode()[:BCRYPT_PREFIX_LEN]
    if len(salt) != BCRYPT_PREFIX_LEN or not hmac.compare_digest(hashed[:BCRYPT_PREFIX_LEN], salt):
        return False
    try:
        return bcrypt.checkpw(f"{client_id}_{timestamp}".encode(), hashed)
    except ValueError:
        return False


def timestamp_fresh(timestamp: str, now_s: float) -> bool:
    """Milliseconds since the epoch, within 5 minutes of the server's clock."""
    if not timestamp.isdigit():
        return False
    return abs(int(timestamp) / 1000.0 - now_s) <= TIMESTAMP_TOLERANCE_S


def is_bcrypt_salt(value: str) -> bool:
    try:
        bcrypt.hashpw(b"probe", value.encode())
    except ValueError:
        return False
    return True


def _kst(value: datetime) -> str:
    return value.astimezone(KST).isoformat(timespec="milliseconds")


def _parse_date(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=KST)


# --- state ---------------------------------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class SimState:
    """Everything the simulator knows; tests may read and change it directly."""

    client_id: str
    client_secret: str
    rate_per_s: float | None = None
    burst: int = 1
    clock: Callable[[], float] = time.time
    questions: dict[int, dict[str, Any]] = field(default_factory=dict)
    inquiries: dict[int, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token → expires at (clock s)
    current: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, account) → token
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    token_requests: int = 0
    requests: list[str] = field(default_factory=list)  # "GET /external/...?..." as received
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(FIRST_QUESTION_ID))
    _trace: itertools.count[int] = field(default_factory=itertools.count)
    _inquiry_nos: itertools.count[int] = field(
        default_factory=lambda: itertools.count(FIRST_INQUIRY_NO)
    )
    _answer_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(FIRST_ANSWER_ID)
    )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def add_question(
        self,
        *,
        question: str,
        product_id: int | str = 9_876_543_210,
        product_name: str = "캐시미어 라운드 니트",
        masked_writer_id: str = "hong****",
        create_date: datetime | str | None = None,
    ) -> dict[str, Any]:
        if create_date is None:
            created = _kst(self.now())
        elif isinstance(create_date, datetime):
            created = _kst(create_date if create_date.tzinfo else create_date.replace(tzinfo=KST))
        else:
            created = _kst(_parse_date(create_date))
        question_id = next(self._ids)
        item = {
            "questionId": question_id,
            "productId": product_id,
            "productName": product_name,
            "question": question,
            "answer": None,
            "answered": False,
            "maskedWriterId": masked_writer_id,
            "createDate": created,
        }
        self.questions[question_id] = item
        return dict(item)

    def _created(self, value: datetime | str | None) -> str:
        if value is None:
            return _kst(self.now())
        if isinstance(value, datetime):
            return _kst(value if value.tzinfo else value.replace(tzinfo=KST))
        return _kst(_parse_date(value))

    def add_inquiry(
        self,
        *,
        content: str,
        title: str = "배송 문의",
        category: str = "배송",
        customer_id: str = "hong****",
        customer_name: str = "홍길동",
        product_no: str = "9876543210",
        product_name: str = "캐시미어 라운드 니트",
        product_option: str | None = "색상: 네이비 / 사이즈: M",
        order_id: str = "2026111812345678",
        product_order_ids: str = "2026111898765432",
        registered: datetime | str | None = None,
    ) -> dict[str, Any]:
        inquiry_no = next(self._inquiry_nos)
        item: dict[str, Any] = {
            "inquiryNo": inquiry_no,
            "category": category,
            "title": title,
            "inquiryContent": content,
            "inquiryRegistrationDateTime": self._created(registered),
            "answered": False,
            "answerContentId": None,
            "answerContent": None,
            "answerTemplateNo": None,
            "answerRegistrationDateTime": None,
            "orderId": order_id,
            "productNo": product_no,
            "productOrderIdList": product_order_ids,
            "productName": product_name,
            "productOrderOption": product_option,
            "customerId": customer_id,
            "customerName": customer_name,
        }
        self.inquiries[inquiry_no] = item
        return dict(item)

    def answer_inquiry(self, inquiry_no: int, text: str) -> dict[str, Any]:
        """A new answer (by the seller, here or in the SmartStore Center): the latest one."""
        item = self.inquiries[inquiry_no]
        item.update(
            answered=True,
            answerContentId=next(self._answer_ids),
            answerContent=text,
            answerRegistrationDateTime=_kst(self.now()),
        )
        return dict(item)

    def answer_question(self, question_id: int, text: str) -> dict[str, Any]:
        item = self.questions[question_id]
        item.update(answer=text, answered=True)
        return dict(item)

    def revoke_tokens(self) -> None:
        """As if every token expired: the next call gets 401 GW.AUTHN."""
        self.tokens.clear()
        self.current.clear()

    def trace_id(self) -> str:
        return f"sim-{secrets.token_hex(4)}^{int(self.clock() * 1000)}^{next(self._trace)}"

    def take(self, api: str) -> tuple[bool, dict[str, str]]:
        """One request from the API's token bucket; (allowed, rate-limit headers)."""
        if self.rate_per_s is None:
            return True, {}
        now = self.clock()
        bucket = self.buckets.setdefault(api, _Bucket(float(self.burst), now))
        bucket.tokens = min(
            float(self.burst), bucket.tokens + max(0.0, now - bucket.updated) * self.rate_per_s
        )
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        rate = self.rate_per_s
        headers = {
            "GNCP-GW-RateLimit-Replenish-Rate": str(int(rate)) if rate == int(rate) else str(rate),
            "GNCP-GW-RateLimit-Burst-Capacity": str(self.burst),
            "GNCP-GW-RateLimit-Remaining": str(math.floor(bucket.tokens)),
        }
        return allowed, headers


SIM_STATE: Final = web.AppKey("naver_commerce_sim", SimState)
# The trace id of the request being answered (each request runs in its own task).
_TRACE_ID: ContextVar[str | None] = ContextVar("gncp_trace_id", default=None)


# --- responses -----------------------------------------------------------------------------


def _error(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    *,
    invalid: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    state = request.app[SIM_STATE]
    body: dict[str, Any] = {"code": code, "message": message}
    if invalid:
        body["invalidInputs"] = invalid
    body["timestamp"] = _kst(state.now())
    body["traceId"] = _TRACE_ID.get() or state.trace_id()
    return web.json_response(body, status=status, headers=headers)


def _invalid(name: str, kind: str, message: str) -> dict[str, str]:
    return {"name": name, "type": kind, "message": message}


def _bad_request(request: web.Request, *invalid: dict[str, str]) -> web.Response:
    return _error(
        request, 400, "BAD_REQUEST", "요청 파라미터가 유효하지 않습니다.", invalid=list(invalid)
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What Naver's API gateway does around every call: trace id, Bearer auth, rate limit."""
    state = request.app[SIM_STATE]
    trace_id = state.trace_id()
    _TRACE_ID.set(trace_id)
    state.requests.append(f"{request.method} {request.path_qs}")
    extra: dict[str, str] = {}
    response: web.StreamResponse
    try:
        if request.path.startswith(PREFIX + "/") and request.path != TOKEN_PATH:
            refused = _authenticate(request)
            if refused is not None:
                refused.headers["GNCP-GW-Trace-ID"] = trace_id
                return refused
            resource = request.match_info.route.resource
            api = f"{request.method} {resource.canonical if resource else request.path}"
            allowed, extra = state.take(api)
            if not allowed:
                response = _error(
                    request,
                    429,
                    "GW.RATE_LIMIT",
                    "할당된 시간당 요청량을 초과하였습니다.",
                    headers=extra,
                )
                response.headers["GNCP-GW-Trace-ID"] = trace_id
                return response
            fault = request.app[FAULTS].take(request)
            if fault is not None:
                extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
                code = "GW.RATE_LIMIT" if fault.status == 429 else "INTERNAL_SERVER_ERROR"
                response = _error(request, fault.status, code, "시뮬레이터 장애", headers=extra)
                response.headers["GNCP-GW-Trace-ID"] = trace_id
                return response
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status, "BAD_REQUEST")
        response = _error(request, exc.status, code, exc.reason)
    response.headers["GNCP-GW-Trace-ID"] = trace_id
    response.headers.update(extra)
    return response


def _authenticate(request: web.Request) -> web.Response | None:
    state = request.app[SIM_STATE]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expires = state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if expires is None or expires <= state.clock():
        return _error(request, 401, "GW.AUTHN", "요청을 보낼 권한이 없습니다.")
    return None


# --- Naver's API ---------------------------------------------------------------------------


async def _token(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    state.token_requests += 1
    fields: dict[str, str] = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        fields.update({k: str(v) for k, v in (await request.post()).items()})
    missing = [
        _invalid(name, "NotBlank", f"{name} 값이 없습니다.")
        for name in ("client_id", "timestamp", "client_secret_sign", "grant_type", "type")
        if not fields.get(name)
    ]
    if missing:
        return _bad_request(request, *missing)
    if fields["grant_type"] != "client_credentials":
        return _bad_request(
            request, _invalid("grant_type", "Invalid", "client_credentials 만 지원합니다.")
        )
    kind = fields["type"]
    if kind not in ("SELF", "SELLER"):
        return _bad_request(request, _invalid("type", "Invalid", "SELF 또는 SELLER 여야 합니다."))
    account_id = fields.get("account_id", "")
    if kind == "SELLER" and not account_id:
        return _bad_request(
            request, _invalid("account_id", "NotBlank", "type 이 SELLER 이면 필수입니다.")
        )
    if not timestamp_fresh(fields["timestamp"], state.clock()):
        return _bad_request(
            request,
            _invalid("timestamp", "Invalid", "timestamp 가 유효하지 않습니다 (5분 이내의 ms)."),
        )
    ok = hmac.compare_digest(fields["client_id"].encode(), state.client_id.encode())
    ok = ok and await asyncio.to_thread(
        verify_client_secret_sign,
        state.client_id,
        state.client_secret,
        fields["timestamp"],
        fields["client_secret_sign"],
    )
    if not ok:
        return _error(
            request, 401, "UNAUTHORIZED", "client_id 또는 client_secret_sign 이 유효하지 않습니다."
        )
    now = state.clock()
    key = (kind, account_id)
    token = state.current.get(key)
    remaining = state.tokens.get(token, 0.0) - now if token else 0.0
    if token is None or remaining < TOKEN_REUSE_MIN_S:
        token = secrets.token_urlsafe(24)
        state.tokens[token] = now + TOKEN_LIFETIME_S  # older tokens stay valid until they expire
        state.current[key] = token
        remaining = TOKEN_LIFETIME_S
    return web.json_response(
        {"access_token": token, "expires_in": int(remaining), "token_type": "Bearer"}
    )


async def _list_qnas(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    query = request.query
    invalid: list[dict[str, str]] = []
    bounds: dict[str, datetime] = {}
    for name in ("fromDate", "toDate"):
        raw = query.get(name)
        if not raw:
            invalid.append(_invalid(name, "NotNull", f"{name} 는 필수입니다."))
            continue
        try:
            bounds[name] = _parse_date(raw)
        except ValueError:
            invalid.append(_invalid(name, "typeMismatch", f"{name} 형식이 올바르지 않습니다."))
    numbers: dict[str, int] = {}
    for name, default, low, high in (("page", 1, 1, 1_000_000), ("size", 100, 1, MAX_PAGE_SIZE)):
        raw = query.get(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            invalid.append(_invalid(name, "typeMismatch", f"{name} 는 정수여야 합니다."))
            continue
        if not low <= value <= high:
            invalid.append(_invalid(name, "Range", f"{name} 는 {low} 이상 {high} 이하여야 합니다."))
            continue
        numbers[name] = value
    answered = query.get("answered")
    if answered is not None and answered not in ("true", "false"):
        invalid.append(_invalid("answered", "typeMismatch", "answered 는 true/false 입니다."))
    if not invalid and bounds["fromDate"] > bounds["toDate"]:
        invalid.append(_invalid("fromDate", "Invalid", "fromDate 가 toDate 보다 늦습니다."))
    if invalid:
        return _bad_request(request, *invalid)

    matched = [
        q
        for q in state.questions.values()
        if bounds["fromDate"] <= _parse_date(q["createDate"]) <= bounds["toDate"]
        and (answered is None or q["answered"] == (answered == "true"))
    ]
    matched.sort(key=lambda q: (_parse_date(q["createDate"]), q["questionId"]), reverse=True)
    page, size = numbers["page"], numbers["size"]
    total_pages = math.ceil(len(matched) / size)
    contents = matched[(page - 1) * size : page * size]
    return web.json_response(
        {
            "contents": [dict(q) for q in contents],
            "page": page,
            "size": size,
            "totalElements": len(matched),
            "totalPages": total_pages,
            "sort": {"sorted": True, "fields": [{"name": "createDate", "direction": "desc"}]},
            "first": page == 1,
            "last": page >= total_pages,
        }
    )


async def _answer_qna(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    raw_id = request.match_info["question_id"]
    if not raw_id.isdigit():
        return _bad_request(request, _invalid("questionId", "typeMismatch", "숫자여야 합니다."))
    question = state.questions.get(int(raw_id))
    if question is None:
        return _error(request, 404, "NOT_FOUND", f"문의({raw_id})를 찾을 수 없습니다.")
    try:
        body = await request.json()
    except ValueError:
        body = None
    text = body.get("commentContent") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return _bad_request(
            request, _invalid("commentContent", "NotBlank", "답변 내용을 입력해 주세요.")
        )
    question["answer"] = text
    question["answered"] = True
    return web.Response(status=204)


def _inquiry_error(request: web.Request, code: str, message: str) -> web.Response:
    return _error(request, 400, code, message)


def _kst_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


async def _list_inquiries(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    query = request.query
    start = _kst_day(query.get("startSearchDate", ""))
    end = _kst_day(query.get("endSearchDate", ""))
    if start is None or end is None:
        return _inquiry_error(
            request, "4001", "startSearchDate/endSearchDate 는 yyyy-MM-dd 입니다."
        )
    if start > end:
        return _inquiry_error(request, "4002", "검색 시작일이 종료일보다 늦습니다.")
    if (end - start).days > MAX_INQUIRY_DAYS:
        return _inquiry_error(request, "4003", "최대 365일까지 조회할 수 있습니다.")
    try:
        page = int(query.get("page", "1"))
        size = int(query.get("size", "10"))
    except ValueError:
        return _inquiry_error(request, "4001", "page/size 는 정수입니다.")
    if page < 1:
        return _inquiry_error(request, "4004", "page 는 1 이상입니다.")
    if page > 1_000_000:
        return _inquiry_error(request, "4005", "page 는 1000000 이하입니다.")
    if size < 10:
        return _inquiry_error(request, "4006", "size 는 10 이상입니다.")
    if size > 200:
        return _inquiry_error(request, "4007", "size 는 200 이하입니다.")
    answered = query.get("answered")
    matched = [
        i
        for i in state.inquiries.values()
        if start <= _parse_date(i["inquiryRegistrationDateTime"]).astimezone(KST).date() <= end
        and (answered is None or i["answered"] == (answered == "true"))
    ]
    matched.sort(
        key=lambda i: (_parse_date(i["inquiryRegistrationDateTime"]), i["inquiryNo"]),
        reverse=True,
    )
    total_pages = math.ceil(len(matched) / size)
    content = matched[(page - 1) * size : page * size]
    return web.json_response(
        {
            "content": [dict(i) for i in content],
            "totalElements": len(matched),
            "totalPages": total_pages,
            "number": page - 1,
            "size": size,
            "numberOfElements": len(content),
            "first": page == 1,
            "last": page >= total_pages,
            "empty": not content,
            "pageable": {"pageNumber": page - 1, "pageSize": size, "offset": (page - 1) * size},
        }
    )


async def _answer_inquiry(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    raw_no = request.match_info["inquiry_no"]
    item = state.inquiries.get(int(raw_no)) if raw_no.isdigit() else None
    if item is None:
        return _error(request, 404, "4040", f"문의({raw_no})를 찾을 수 없습니다.")
    try:
        body = await request.json()
    except ValueError:
        body = None
    text = body.get("answerComment") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return _bad_request(request, _invalid("answerComment", "NotBlank", "답변을 입력해 주세요."))
    edit_id = request.match_info.get("answer_id")
    if edit_id is not None:  # PUT …/answer/{answerContentId}: edit the latest answer
        if str(item["answerContentId"]) != edit_id:
            return _error(request, 404, "4040", f"답변({edit_id})을 찾을 수 없습니다.")
        item["answerContent"] = text
        answer_id = item["answerContentId"]
    else:
        answer_id = state.answer_inquiry(item["inquiryNo"], text)["answerContentId"]
    return web.json_response(
        {
            "code": "SUCCESS",
            "message": "성공",
            "data": {"inquiryNo": item["inquiryNo"], "inquiryCommentNo": answer_id},
            "timestamp": _kst(state.now()),
            "traceId": _TRACE_ID.get() or state.trace_id(),
        }
    )


# --- test-and-demo admin (not Naver's API) --------------------------------------------------


def _admin(app: web.Application, state: SimState) -> None:
    def add_question(body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("question"), str):
            raise ValueError("a 'question' string is required")
        return state.add_question(
            question=body["question"],
            product_id=body.get("productId", 9_876_543_210),
            product_name=str(body.get("productName") or "캐시미어 라운드 니트"),
            masked_writer_id=str(body.get("maskedWriterId") or "hong****"),
            create_date=body.get("createDate"),
        )

    add_board_admin(
        app,
        "/_sim/qnas",
        state.questions,
        add=add_question,
        answer=lambda key, text, _by: state.answer_question(key, text),
        text_field="question",
    )

    def add_inquiry(body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("inquiryContent"), str):
            raise ValueError("an 'inquiryContent' string is required")
        fields = {
            "title": "title",
            "category": "category",
            "customer_id": "customerId",
            "customer_name": "customerName",
            "product_no": "productNo",
            "product_name": "productName",
            "product_option": "productOrderOption",
            "order_id": "orderId",
            "product_order_ids": "productOrderIdList",
            "registered": "inquiryRegistrationDateTime",
        }
        extra = {k: str(body[v]) for k, v in fields.items() if body.get(v) is not None}
        return state.add_inquiry(content=body["inquiryContent"], **extra)

    add_board_admin(
        app,
        "/_sim/inquiries",
        state.inquiries,
        add=add_inquiry,
        answer=lambda key, text, _by: state.answer_inquiry(key, text),
        text_field="inquiryContent",
    )


SEED_QUESTIONS: Final = (
    (
        "캐시미어 라운드 니트",
        9_876_543_210,
        "hong****",
        95,
        "키 165에 55kg인데 M 사이즈 괜찮을까요? 평소 55 입어요.",
    ),
    (
        "린넨 와이드 팬츠",
        9_876_543_211,
        "kimm****",
        40,
        "베이지 L 사이즈 품절이던데 재입고 언제 되나요? 재입고 알림 받을 수 있을까요?",
    ),
    (
        "데일리 코튼 셔츠",
        9_876_543_212,
        "park****",
        12,
        "오늘 오후에 주문하면 언제 배송 출발하나요? 제주도도 배송 되나요?",
    ),
)


def seed(state: SimState) -> list[dict[str, Any]]:
    """A few realistic questions (사이즈, 재입고, 배송) from the last two hours, and one
    customer inquiry about a late delivery."""
    now = state.now()
    state.add_inquiry(
        content="11월 18일에 주문했는데 아직 발송 전인가요? 이번 주말에 꼭 필요해요.",
        registered=now - timedelta(minutes=30),
    )
    return [
        state.add_question(
            question=text,
            product_id=product_id,
            product_name=product_name,
            masked_writer_id=writer,
            create_date=now - timedelta(minutes=minutes_ago),
        )
        for product_name, product_id, writer, minutes_ago, text in SEED_QUESTIONS
    ]


def create_app(
    client_id: str,
    client_secret: str,
    *,
    rate_per_s: float | None = None,
    burst: int | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The simulator. `client_secret` is a bcrypt salt, like Naver's (`$2a$04$...`)."""
    if not is_bcrypt_salt(client_secret):
        raise ValueError("client_secret must be a bcrypt salt such as '$2a$04$...' (22 chars)")
    if rate_per_s is not None and rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    state = SimState(
        client_id=client_id,
        client_secret=client_secret,
        rate_per_s=rate_per_s,
        burst=burst or max(1, math.ceil(rate_per_s or 1)),
        clock=clock,
    )
    app = web.Application(middlewares=[_gateway])
    app[SIM_STATE] = state
    app.router.add_post(TOKEN_PATH, _token)
    app.router.add_get(QNAS_PATH, _list_qnas)
    app.router.add_put(QNAS_PATH + "/{question_id}", _answer_qna)
    app.router.add_get(INQUIRIES_PATH, _list_inquiries)
    answer_path = INQUIRY_ANSWER_PATH.replace("{inquiry_no}", "{inquiry_no:[^/]+}")
    app.router.add_post(answer_path, _answer_inquiry)
    app.router.add_put(answer_path + "/{answer_id}", _answer_inquiry)
    add_fault_routes(app)
    _admin(app, state)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = simulator_parser(
        "inbox-sim-naver-commerce",
        "A local Naver Commerce API (product Q&A, customer inquiries).",
        DEFAULT_PORT,
    )
    parser.add_argument("--client-id", default=os.environ.get("NAVER_COMMERCE_CLIENT_ID"))
    parser.add_argument("--client-secret", default=os.environ.get("NAVER_COMMERCE_CLIENT_SECRET"))
    parser.add_argument("--rate", type=float, default=None, help="requests/s per API (429 beyond)")
    parser.add_argument("--seed", action="store_true", help="preload a few Korean questions")
    args = parser.parse_args(argv)
    if not args.client_id or not args.client_secret:
        parser.error(
            "give --client-id/--client-secret or set NAVER_COMMERCE_CLIENT_ID/SECRET "
            "(a secret: python -c 'import bcrypt; print(bcrypt.gensalt(4).decode())')"
        )
    if not is_bcrypt_salt(args.client_secret):
        parser.error("--client-secret must be a bcrypt salt such as '$2a$04$...'")
    app = create_app(args.client_id, args.client_secret, rate_per_s=args.rate)
    if args.seed:
        seeded = seed(app[SIM_STATE])
        print(f"seeded {len(seeded)} questions", file=sys.stderr)
    serve(
        app,
        args,
        "Naver Commerce simulator",
        suffix=f"{PREFIX} (client id {args.client_id})",
        out=sys.stderr,
        access_log=False,
    )


if __name__ == "__main__":
    main()
