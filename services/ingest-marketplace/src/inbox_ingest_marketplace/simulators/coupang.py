"""A local Coupang WING Open API (customer service part), for tests and the demo.

Implements what the connector uses (shared/channels/coupang.md), for one or more vendors:

- HMAC auth on every `/v2/` call: `Authorization: CEA algorithm=HmacSHA256, access-key=…,
  signed-date=yyMMddTHHmmssZ, signature=…` recomputed from the method, the raw path and the
  raw query; the signed date must be within 5 minutes. A bad or missing signature gets
  401, a vendor id that is not the key's gets 403, both in Coupang's envelope
  `{"code", "message", "data"}`. An optional per-vendor rate limit answers 429.
- `GET …/v5/vendors/{vendorId}/onlineInquiries`: `answeredType` ALL/ANSWERED/NOANSWER
  (uppercase only), `inquiryStartAt`/`inquiryEndAt` `yyyy-MM-dd` (not the same day, ≤ 7
  days), `pageSize` ≤ 50; `POST …/v4/…/onlineInquiries/{inquiryId}/replies` (one answer per
  inquiry, `content` and `vendorId` required, control characters must be JSON-escaped).
- `GET …/v5/vendors/{vendorId}/callCenterInquiries`: `partnerCounselingStatus` in both
  spellings (`NONE`/`none`, …) unless `status_style` narrows it; `pageSize` ≤ 30.
  `POST …/replies` only while `inquiryStatus=progress, partnerTransferStatus=requestAnswer`;
  after 24 h unanswered Coupang closes it (`transfer`, "미확인 TRANSFER"), and
  `POST …/confirms` `{"confirmBy"}` acknowledges that.

Not Coupang's API (no auth, never expose): `common.py`'s admin under
`/_sim/online-inquiries` and `/_sim/call-center-inquiries` (a `vendorId` field picks the
vendor; `by: "cs"` adds a Coupang CS note to a call-center inquiry) and `/_sim/faults`.

Run it: `inbox-sim-coupang --port 9084 --access-key AK --secret-key SK --vendor-id A00012345`
(`--seed` preloads a few inquiries).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final

from aiohttp import web

from inbox_core.simulator import serve, simulator_parser
from inbox_ingest_marketplace.simulators.common import FAULTS, add_board_admin, add_fault_routes

KST: Final = timezone(timedelta(hours=9), "KST")
API: Final = "/v2/providers/openapi/apis/api"
DEFAULT_PORT: Final = 9084
SKEW_S: Final = 300
MAX_DAYS: Final = 7
AUTO_CLOSE: Final = timedelta(hours=24)
ONLINE_MAX_PAGE: Final = 50
CALL_CENTER_MAX_PAGE: Final = 30
_AUTH = re.compile(
    r"^CEA algorithm=HmacSHA256, access-key=(?P<ak>[^,\s]+), "
    r"signed-date=(?P<date>\d{6}T\d{6}Z), signature=(?P<sig>[0-9a-f]{64})$"
)
STATUS_FILTERS: Final = {
    "upper": {
        "NONE": None,
        "ANSWER": "answered",
        "NO_ANSWER": "requestAnswer",
        "TRANSFER": "transfer",
    },
    "lower": {
        "none": None,
        "answered": "answered",
        "requestAnswer": "requestAnswer",
        "transfer": "transfer",
    },
}


def coupang_time(value: datetime) -> str:
    return value.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)


def expected_signature(secret_key: str, signed_date: str, method: str, raw_path: str) -> str:
    """What Coupang computes: HMAC-SHA256(secret, signed-date + METHOD + path + query)."""
    path, _, query = raw_path.partition("?")
    message = f"{signed_date}{method}{path}{query}"
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Vendor:
    vendor_id: str
    access_key: str
    secret_key: str


@dataclass
class SimState:
    vendors: dict[str, Vendor]  # access key → vendor
    clock: Callable[[], float] = time.time
    rate_per_s: float | None = None
    status_style: str = "both"  # which partnerCounselingStatus spellings are accepted
    online: dict[int, dict[str, Any]] = field(default_factory=dict)
    call_center: dict[int, dict[str, Any]] = field(default_factory=dict)
    owner: dict[int, str] = field(default_factory=dict)  # inquiry id → vendor id
    requests: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(846))
    _answer_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(351))
    _last_call: dict[str, list[float]] = field(default_factory=dict)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @property
    def default_vendor(self) -> str:
        return next(iter(self.vendors.values())).vendor_id

    def _when(self, value: datetime | str | None) -> str:
        if value is None:
            return coupang_time(self.now())
        if isinstance(value, datetime):
            return coupang_time(value if value.tzinfo else value.replace(tzinfo=KST))
        return coupang_time(_parse_time(value))

    def add_online(
        self,
        *,
        content: str,
        vendor_id: str | None = None,
        product_id: int = 2490,
        vendor_item_id: int = 3_100_000_204,
        buyer_email: str = "aka***@na",
        order_ids: list[int] | None = None,
        inquiry_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        inquiry_id = next(self._ids)
        item = {
            "inquiryId": inquiry_id,
            "productId": product_id,
            "vendorItemId": vendor_item_id,
            "content": content,
            "inquiryAt": self._when(inquiry_at),
            "orderIds": order_ids,
            "buyerEmail": buyer_email,
            "commentDtoList": [],
        }
        self.online[inquiry_id] = item
        self.owner[inquiry_id] = vendor_id or self.default_vendor
        return dict(item)

    def add_call_center(
        self,
        *,
        content: str,
        vendor_id: str | None = None,
        item_name: str = "무선 물걸레 청소기 W7",
        vendor_item_id: int = 3_000_000_151,
        buyer_email: str = "kim***@coupang.com",
        buyer_phone: str = "010-****-4251",
        order_id: int = 25_000_000_000_090,
        category: str = "배송문의>배송지연>배송일정 문의",
        inquiry_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        inquiry_id = next(self._ids)
        item = {
            "inquiryId": inquiry_id,
            "inquiryStatus": "progress",
            "partnerTransferStatus": "requestAnswer",
            "csPartnerCounselingStatus": "requestAnswer",
            "vendorItemId": [vendor_item_id],
            "itemName": item_name,
            "content": content,
            "answeredAt": None,
            "replies": [],
            "inquiryAt": self._when(inquiry_at),
            "buyerEmail": buyer_email,
            "buyerPhone": buyer_phone,
            "orderId": order_id,
            "orderDate": self._when(None),
            "receiptCategory": category,
        }
        self.call_center[inquiry_id] = item
        self.owner[inquiry_id] = vendor_id or self.default_vendor
        return dict(item)

    def set_status(self, item: dict[str, Any], inquiry: str, partner: str) -> None:
        item.update(
            inquiryStatus=inquiry, partnerTransferStatus=partner, csPartnerCounselingStatus=partner
        )

    def refresh(self, item: dict[str, Any]) -> dict[str, Any]:
        """The 24-hour rule: unanswered call-center inquiries are closed by Coupang."""
        if item.get("partnerTransferStatus") == "requestAnswer":
            if self.now() - _parse_time(item["inquiryAt"]) > AUTO_CLOSE:
                self.set_status(item, "complete", "transfer")
        return item

    def answer_online(self, inquiry_id: int, text: str, reply_by: str) -> dict[str, Any]:
        item = self.online[inquiry_id]
        item["commentDtoList"].append(
            {
                "inquiryCommentId": next(self._answer_ids),
                "inquiryId": inquiry_id,
                "content": text,
                "inquiryCommentAt": coupang_time(self.now()),
                "replyBy": reply_by,
            }
        )
        return dict(item)

    def answer_call_center(
        self, inquiry_id: int, text: str, receptionist: str, name: str | None = None
    ) -> dict[str, Any]:
        item = self.call_center[inquiry_id]
        item["replies"].append(
            {
                "answerId": next(self._answer_ids),
                "receptionist": receptionist,
                "receptionistName": name or receptionist,
                "replyAt": coupang_time(self.now()),
                "content": text,
            }
        )
        if receptionist != "coupang-cs":
            self.set_status(item, "complete", "answered")
            item["answeredAt"] = coupang_time(self.now())
        return dict(item)

    def allow(self, vendor_id: str) -> bool:
        if self.rate_per_s is None:
            return True
        now = self.clock()
        recent = [t for t in self._last_call.get(vendor_id, []) if now - t < 1.0]
        allowed = len(recent) < max(1, math.floor(self.rate_per_s))
        self._last_call[vendor_id] = [*recent, now] if allowed else recent
        return allowed


SIM_STATE: Final = web.AppKey("coupang_sim", SimState)


def envelope(code: int, message: str, data: Any = None) -> web.Response:
    return web.json_response({"code": code, "message": message, "data": data}, status=code)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authenticate(state: SimState, request: web.Request) -> Vendor | web.Response:
    match = _AUTH.match(request.headers.get("Authorization", ""))
    if match is None:
        return envelope(401, "Invalid authorization header: expected CEA algorithm=HmacSHA256")
    vendor = state.vendors.get(match["ak"])
    if vendor is None:
        return envelope(401, "Invalid access key")
    try:
        signed = datetime.strptime(match["date"], "%y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return envelope(401, "Invalid signed-date")
    if abs((state.now() - signed).total_seconds()) > SKEW_S:
        return envelope(401, "Request is expired: signed-date is more than 5 minutes off")
    wanted = expected_signature(vendor.secret_key, match["date"], request.method, request.raw_path)
    if not hmac.compare_digest(wanted, match["sig"]):
        return envelope(401, "Invalid signature: the HMAC does not match the request")
    return vendor


@web.middleware
async def _gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    if not request.path.startswith("/v2/"):
        return await handler(request)
    state.requests.append(f"{request.method} {request.raw_path}")
    vendor = authenticate(state, request)
    if isinstance(vendor, web.Response):
        return vendor
    path_vendor = request.match_info.get("vendor_id")
    if path_vendor is not None and path_vendor != vendor.vendor_id:
        return envelope(403, f"vendorId {path_vendor} does not belong to this access key")
    if not state.allow(vendor.vendor_id):
        return envelope(429, "Too Many Requests")
    fault = request.app[FAULTS].take(request)
    if fault is not None:
        resp = envelope(
            fault.status, "시뮬레이터 장애" if fault.status != 429 else "Too Many Requests"
        )
        if fault.retry_after:
            resp.headers["Retry-After"] = f"{fault.retry_after:g}"
        return resp
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return envelope(exc.status, exc.reason)


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        return None


def _window(request: web.Request, max_page: int) -> tuple[date, date, int, int] | web.Response:
    query = request.query
    if query.get("vendorId") != request.match_info["vendor_id"]:
        return envelope(400, "vendorId query parameter is required and must match the path")
    start, end = _day(query.get("inquiryStartAt")), _day(query.get("inquiryEndAt"))
    if start is None or end is None:
        return envelope(400, "inquiryStartAt and inquiryEndAt (yyyy-MM-dd) are required")
    if start >= end:
        return envelope(400, "inquiryStartAt must be before inquiryEndAt (not the same day)")
    if (end - start).days > MAX_DAYS:
        return envelope(400, f"The search period can be at most {MAX_DAYS} days")
    try:
        page, size = int(query.get("pageNum", "1")), int(query.get("pageSize", "10"))
    except ValueError:
        return envelope(400, "pageNum and pageSize must be numbers")
    if page < 1 or not 1 <= size <= max_page:
        return envelope(400, f"pageNum ≥ 1 and pageSize 1–{max_page} are required")
    return start, end, page, size


def _page(items: list[dict[str, Any]], page: int, size: int) -> web.Response:
    items.sort(key=lambda i: (i["inquiryAt"], i["inquiryId"]), reverse=True)
    total_pages = math.ceil(len(items) / size)
    content = [json.loads(json.dumps(i)) for i in items[(page - 1) * size : page * size]]
    pagination = {
        "currentPage": page,
        "totalPages": total_pages,
        "totalElements": len(items),
        "countPerPage": size,
    }
    return envelope(200, "OK", {"content": content, "pagination": pagination})


def _in_range(item: dict[str, Any], start: date, end: date) -> bool:
    return start <= _parse_time(item["inquiryAt"]).date() <= end


async def _list_online(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    checked = _window(request, ONLINE_MAX_PAGE)
    if isinstance(checked, web.Response):
        return checked
    start, end, page, size = checked
    answered = request.query.get("answeredType")
    if answered not in ("ALL", "ANSWERED", "NOANSWER"):
        return envelope(400, "answeredType must be ALL, ANSWERED or NOANSWER")
    vendor = request.match_info["vendor_id"]
    items = [
        i
        for i in state.online.values()
        if state.owner[i["inquiryId"]] == vendor
        and _in_range(i, start, end)
        and (answered == "ALL" or bool(i["commentDtoList"]) == (answered == "ANSWERED"))
    ]
    return _page(items, page, size)


async def _list_call_center(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    checked = _window(request, CALL_CENTER_MAX_PAGE)
    if isinstance(checked, web.Response):
        return checked
    start, end, page, size = checked
    raw = request.query.get("partnerCounselingStatus", "")
    styles = ("upper", "lower") if state.status_style == "both" else (state.status_style,)
    allowed = {k: v for s in styles for k, v in STATUS_FILTERS[s].items()}
    if raw not in allowed:
        return envelope(400, f"partnerCounselingStatus must be one of {', '.join(allowed)}")
    wanted = allowed[raw]
    vendor = request.match_info["vendor_id"]
    items = [
        state.refresh(i)
        for i in state.call_center.values()
        if state.owner[i["inquiryId"]] == vendor and _in_range(i, start, end)
    ]
    items = [i for i in items if wanted is None or i["partnerTransferStatus"] == wanted]
    return _page(items, page, size)


async def _json(request: web.Request) -> dict[str, Any] | web.Response:
    raw = await request.text()
    try:
        body = json.loads(raw)  # strict: raw control characters inside strings are refused
    except ValueError as err:
        return envelope(400, f"Could not read JSON: Illegal unquoted character ({err})")
    return body if isinstance(body, dict) else envelope(400, "Could not read JSON: not an object")


async def _owned(
    request: web.Request, store: dict[int, Any]
) -> tuple[dict[str, Any], dict[str, Any]] | web.Response:
    """The vendor's inquiry named in the path and the JSON body, or Coupang's error."""
    state = request.app[SIM_STATE]
    raw = request.match_info["inquiry_id"]
    key = int(raw) if raw.isdigit() else -1
    if key not in store or state.owner.get(key) != request.match_info["vendor_id"]:
        return envelope(400, "The inquiry does not exist")
    body = await _json(request)
    return body if isinstance(body, web.Response) else (store[key], body)


async def _reply_online(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    found = await _owned(request, state.online)
    if isinstance(found, web.Response):
        return found
    item, body = found
    content = body.get("content")
    if not isinstance(content, str) or not content.strip() or not body.get("vendorId"):
        return envelope(400, "content and vendorId are required")
    if item["commentDtoList"]:
        return envelope(400, "The inquiry is already answered")
    state.answer_online(item["inquiryId"], content, str(body.get("replyBy") or body["vendorId"]))
    return envelope(200, "OK")


async def _reply_call_center(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    found = await _owned(request, state.call_center)
    if isinstance(found, web.Response):
        return found
    item, body = found
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        return envelope(400, "content is required")
    state.refresh(item)
    if (item["inquiryStatus"], item["partnerTransferStatus"]) != ("progress", "requestAnswer"):
        return envelope(
            400,
            "The inquiry can't be answer. It can do only inquiryStatus:progress, "
            "partnerTransferStatus:requestAnswer",
        )
    by = str(body.get("replyBy") or request.match_info["vendor_id"])
    state.answer_call_center(item["inquiryId"], content, by)
    return envelope(200, "OK")


async def _confirm_call_center(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    found = await _owned(request, state.call_center)
    if isinstance(found, web.Response):
        return found
    item, body = found
    state.refresh(item)
    if item["partnerTransferStatus"] != "transfer":
        return envelope(400, "Only an unconfirmed transfer (TRANSFER) can be confirmed")
    state.set_status(item, "complete", "answered")
    item["confirmedBy"] = body.get("confirmBy")
    return envelope(200, "OK")


# --- test-and-demo admin (not Coupang's API) ------------------------------------------------


def _admin(app: web.Application, state: SimState) -> None:
    def add_online(body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("content"), str):
            raise ValueError("a 'content' string is required")
        return state.add_online(
            content=body["content"],
            vendor_id=body.get("vendorId"),
            product_id=int(body.get("productId", 2490)),
            vendor_item_id=int(body.get("vendorItemId", 3_100_000_204)),
            buyer_email=str(body.get("buyerEmail") or "aka***@na"),
            order_ids=body.get("orderIds"),
            inquiry_at=body.get("inquiryAt"),
        )

    add_board_admin(
        app,
        "/_sim/online-inquiries",
        state.online,
        add=add_online,
        answer=lambda key, text, _by: state.answer_online(key, text, "wing-ui"),
        text_field="content",
        show=lambda k: {**state.online[k], "vendorId": state.owner[k]},
    )

    def add_call_center(body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("content"), str):
            raise ValueError("a 'content' string is required")
        extra = {
            k: body[v]
            for k, v in (
                ("item_name", "itemName"),
                ("buyer_email", "buyerEmail"),
                ("buyer_phone", "buyerPhone"),
                ("category", "receiptCategory"),
                ("inquiry_at", "inquiryAt"),
            )
            if body.get(v) is not None
        }
        return state.add_call_center(
            content=body["content"], vendor_id=body.get("vendorId"), **extra
        )

    def answer_call_center(key: int, text: str, by: str) -> dict[str, Any] | None:
        if by == "cs":
            return state.answer_call_center(key, text, "coupang-cs", "쿠팡 상담사 김하나")
        return state.answer_call_center(key, text, state.owner[key], "WING")

    add_board_admin(
        app,
        "/_sim/call-center-inquiries",
        state.call_center,
        add=add_call_center,
        answer=answer_call_center,
        text_field="content",
        show=lambda k: {**state.refresh(state.call_center[k]), "vendorId": state.owner[k]},
    )


def seed(state: SimState) -> None:
    """A restock question, a size question and an escalated late-delivery inquiry."""
    now = state.now()
    state.add_online(
        content="블랙 색상 언제 재입고 되나요?", inquiry_at=now - timedelta(minutes=50)
    )
    state.add_online(
        content="270 신는데 275 주문하면 클까요?", inquiry_at=now - timedelta(minutes=15)
    )
    state.add_call_center(
        content="[고객IN]\n◼문의내용: 주문한 지 5일째인데 아직 배송 준비중이에요. 언제 출고되나요?",
        inquiry_at=now - timedelta(minutes=25),
    )


def create_app(
    vendors: list[Vendor],
    *,
    clock: Callable[[], float] = time.time,
    rate_per_s: float | None = None,
    status_style: str = "both",
) -> web.Application:
    if not vendors:
        raise ValueError("at least one vendor (vendor id, access key, secret key) is needed")
    if status_style not in ("both", "upper", "lower"):
        raise ValueError("status_style is both, upper or lower")
    state = SimState(
        vendors={v.access_key: v for v in vendors},
        clock=clock,
        rate_per_s=rate_per_s,
        status_style=status_style,
    )
    app = web.Application(middlewares=[_gateway])
    app[SIM_STATE] = state
    vendor = "{vendor_id:[^/]+}"
    inquiry = "{inquiry_id:[^/]+}"
    app.router.add_get(f"{API}/v5/vendors/{vendor}/onlineInquiries", _list_online)
    app.router.add_post(
        f"{API}/v4/vendors/{vendor}/onlineInquiries/{inquiry}/replies", _reply_online
    )
    app.router.add_get(f"{API}/v5/vendors/{vendor}/callCenterInquiries", _list_call_center)
    cc = f"{API}/v4/vendors/{vendor}/callCenterInquiries/{inquiry}"
    app.router.add_post(cc + "/replies", _reply_call_center)
    app.router.add_post(cc + "/confirms", _confirm_call_center)
    add_fault_routes(app)
    _admin(app, state)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = simulator_parser(
        "inbox-sim-coupang",
        "A local Coupang WING API (online and call-center inquiries).",
        DEFAULT_PORT,
    )
    parser.add_argument("--access-key", default=os.environ.get("COUPANG_ACCESS_KEY"))
    parser.add_argument("--secret-key", default=os.environ.get("COUPANG_SECRET_KEY"))
    parser.add_argument("--vendor-id", default=os.environ.get("COUPANG_VENDOR_ID"))
    parser.add_argument("--rate", type=float, default=None, help="requests/s per vendor")
    parser.add_argument("--seed", action="store_true", help="preload a few Korean inquiries")
    args = parser.parse_args(argv)
    if not (args.access_key and args.secret_key and args.vendor_id):
        parser.error(
            "give --access-key/--secret-key/--vendor-id "
            "or set COUPANG_ACCESS_KEY/COUPANG_SECRET_KEY/COUPANG_VENDOR_ID"
        )
    app = create_app(
        [Vendor(args.vendor_id, args.access_key, args.secret_key)], rate_per_s=args.rate
    )
    if args.seed:
        seed(app[SIM_STATE])
        print("seeded 3 inquiries", file=sys.stderr)
    serve(app, args, "Coupang simulator", out=sys.stderr, access_log=False)


if __name__ == "__main__":
    main()
