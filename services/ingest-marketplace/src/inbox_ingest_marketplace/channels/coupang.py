"""Coupang WING Open API: online product inquiries and call-center inquiries, replies posted.

What is known of the API is in shared/channels/coupang.md. In short:

- Every call is signed (`coupang_signing`, `CEA algorithm=HmacSHA256 …`); no token.
- Online inquiries (board `online_inquiries`, key `online`): `GET /v2/providers/openapi/
  apis/api/v5/vendors/{vendorId}/onlineInquiries?vendorId&answeredType=ALL&inquiryStartAt&
  inquiryEndAt&pageNum&pageSize` (calendar days, ≤ 7 days, not one single day, pageSize ≤
  50); reply `POST …/v4/vendors/{vendorId}/onlineInquiries/{inquiryId}/replies`
  `{"content", "vendorId", "replyBy"}`.
- Call-center inquiries (board `call_center_inquiries`, key `callcenter`): `GET …/v5/vendors/
  {vendorId}/callCenterInquiries?vendorId&partnerCounselingStatus&…` (pageSize ≤ 30);
  reply `POST …/v4/…/callCenterInquiries/{inquiryId}/replies` `{"vendorId", "inquiryId",
  "content", "replyBy", "parentAnswerId"}`. Only while unanswered: after 24 h Coupang closes
  it ("미확인 TRANSFER"); a reply then fails, so we acknowledge the transfer
  (`…/confirms` `{"confirmBy"}`) and tell the agent to answer in WING.
- The "all statuses" value of `partnerCounselingStatus` is `NONE` in clients and `none` in
  the v4 spec: we send `NONE` and switch once if Coupang refuses it.
- 429 (per vendor per second) and 5xx are retried (`Retry-After` when given).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

import aiohttp
import orjson
from yarl import URL

from inbox_core.answer_ledger import AnswerLedger
from inbox_core.connector import SendResult
from inbox_core.errors import InvalidPayload, PermanentError, TransientError
from inbox_core.http import poll_error, retry_after_from
from inbox_core.logging import get_logger
from inbox_core.schema import OutboundReply
from inbox_core.window_cursor import Window
from inbox_ingest_marketplace.channels.board import (
    AnswerLimits,
    Board,
    FetchedPage,
    Question,
    kst_date,
)
from inbox_ingest_marketplace.channels.board_poller import MarketChannel, PollOptions
from inbox_ingest_marketplace.channels.coupang_normalise import (
    NAME,
    normalise_call_center_inquiry,
    normalise_online_inquiry,
)
from inbox_ingest_marketplace.channels.coupang_signing import authorization, build_query

log = get_logger(__name__)

API: Final = "/v2/providers/openapi/apis/api"
ONLINE_LIST: Final = API + "/v5/vendors/{vendor}/onlineInquiries"
ONLINE_REPLY: Final = API + "/v4/vendors/{vendor}/onlineInquiries/{inquiry}/replies"
CALL_CENTER_LIST: Final = API + "/v5/vendors/{vendor}/callCenterInquiries"
CALL_CENTER_REPLY: Final = API + "/v4/vendors/{vendor}/callCenterInquiries/{inquiry}/replies"
CALL_CENTER_CONFIRM: Final = API + "/v4/vendors/{vendor}/callCenterInquiries/{inquiry}/confirms"
ONLINE_PAGE_SIZE: Final = 50
CALL_CENTER_PAGE_SIZE: Final = 30  # the v4 spec's maximum (integrators quote 50)
ALL_STATUSES: Final = ("NONE", "none")
# The content limit is unconfirmed ("1–1000?" in coupang.md): we keep to 1000.
ANSWER_LIMITS: Final = AnswerLimits(max_chars=1000)
# A 7-day window in calendar days: 6 days of instants never round to more than 7 dates.
MAX_WINDOW: Final = timedelta(days=6)

BOARD_ONLINE: Final = Board(
    name="online_inquiries",
    key="online",
    label="쿠팡 상품문의",
    max_window=MAX_WINDOW,
    limits=ANSWER_LIMITS,
    date_only=True,
)
BOARD_CALL_CENTER: Final = Board(
    name="call_center_inquiries",
    key="callcenter",
    label="쿠팡 콜센터 문의",
    max_window=MAX_WINDOW,
    limits=ANSWER_LIMITS,
    date_only=True,
)


def date_range(window: Window) -> tuple[str, str]:
    """KST calendar days covering the window; never one single day (Coupang refuses it)."""
    start, end = kst_date(window.start), kst_date(window.end)
    if start == end:
        start = kst_date(window.end - timedelta(days=1))
    return start, end


class Coupang(MarketChannel):
    """One WING vendor (access key, secret key, vendor id) as one bus account."""

    name: ClassVar[str] = NAME
    platform: ClassVar[str] = "쿠팡"
    board_specs: ClassVar[tuple[Board, ...]] = (BOARD_ONLINE, BOARD_CALL_CENTER)

    def __init__(
        self,
        account: str,
        *,
        access_key: str,
        secret_key: str,
        vendor_id: str,
        base_url: str,
        wing_id: str | None = None,
        options: PollOptions | None = None,
        ledger: AnswerLedger | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(account, options=options, ledger=ledger)
        self.access_key = access_key
        self._secret_key = secret_key
        self.vendor_id = vendor_id
        self.wing_id = wing_id or vendor_id  # `replyBy`: the WING login of the responder
        self.base_url = base_url.rstrip("/")
        self._now = now
        self._all_status = ALL_STATUSES[0]

    def __repr__(self) -> str:  # never the secret
        return f"Coupang(account={self.account!r}, vendor_id={self.vendor_id!r})"

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json: Any = None,
    ) -> dict[str, Any]:
        query = build_query(params)
        auth = authorization(self.access_key, self._secret_key, method, path, query, self._now())
        url = URL(self.base_url + path + (f"?{query}" if query else ""), encoded=True)
        what = f"{NAME} {method} {path}"
        try:
            async with http.request(
                method,
                url,
                data=None if json is None else orjson.dumps(json),
                headers={
                    "Authorization": auth,
                    "Content-Type": "application/json;charset=UTF-8",
                    "Accept": "application/json",
                },
            ) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransientError(f"{what}: {type(err).__name__}: {err}") from err
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {"message": raw[:300].decode("utf-8", "replace")}
        if not isinstance(body, dict):
            body = {"data": body}
        code = str(body.get("code") or status)
        if status < 400 and code.isdigit() and int(code) >= 400:  # an error inside a 200
            status = int(code)
        if status >= 400:
            message = body.get("message") or body.get("errorMessage") or ""
            detail = f"{what}: HTTP {status}: {message}".rstrip(": ")
            raise poll_error(status, detail, retry_after=retry_after_from(headers))
        return body

    # --- list ----------------------------------------------------------------------------

    async def fetch(
        self, board: Board, window: Window, page: int, http: aiohttp.ClientSession
    ) -> FetchedPage:
        start, end = date_range(window)
        if board.key == BOARD_ONLINE.key:
            size = ONLINE_PAGE_SIZE
            path = ONLINE_LIST.format(vendor=self.vendor_id)
            params = [("vendorId", self.vendor_id), ("answeredType", "ALL")]
            params += self._range(start, end, page, size)
            body = await self._call(http, "GET", path, params=params)
        else:
            size = CALL_CENTER_PAGE_SIZE
            body = await self._list_call_center(http, start, end, page, size)
        data = body.get("data")
        items = data.get("content") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TransientError(f"{NAME} {board.name}: answer without data.content[]")
        questions: list[Question] = []
        rejected: list[tuple[bytes, str]] = []
        for item in items:
            try:
                if board.key == BOARD_ONLINE.key:
                    questions.append(normalise_online_inquiry(item, self.account))
                else:
                    sellers = {self.wing_id, self.vendor_id}
                    questions.append(
                        normalise_call_center_inquiry(item, self.account, seller_ids=sellers)
                    )
            except InvalidPayload as err:
                rejected.append((orjson.dumps(item), str(err)))
        paging = data.get("pagination") if isinstance(data, dict) else None
        if isinstance(paging, dict) and paging.get("totalPages") is not None:
            last = int(paging.get("currentPage") or page) >= int(paging["totalPages"])
        else:
            last = len(items) < size
        return FetchedPage(questions, last=last or not items, rejected=rejected)

    @staticmethod
    def _range(start: str, end: str, page: int, size: int) -> list[tuple[str, str]]:
        return [
            ("inquiryStartAt", start),
            ("inquiryEndAt", end),
            ("pageNum", str(page)),
            ("pageSize", str(size)),
        ]

    async def _list_call_center(
        self, http: aiohttp.ClientSession, start: str, end: str, page: int, size: int
    ) -> dict[str, Any]:
        path = CALL_CENTER_LIST.format(vendor=self.vendor_id)
        for attempt in (1, 2):
            params = [("vendorId", self.vendor_id), ("partnerCounselingStatus", self._all_status)]
            try:
                return await self._call(
                    http, "GET", path, params=params + self._range(start, end, page, size)
                )
            except PermanentError as err:
                if attempt == 2 or "partnerCounselingStatus" not in str(err):
                    raise
                other = next(s for s in ALL_STATUSES if s != self._all_status)
                log.warning("coupang refused a status spelling, switching", to=other)
                self._all_status = other
        raise AssertionError("unreachable")  # pragma: no cover

    # --- answer --------------------------------------------------------------------------

    async def post_answer(
        self,
        board: Board,
        question_id: str,
        text: str,
        reply: OutboundReply,
        http: aiohttp.ClientSession,
    ) -> SendResult:
        result = SendResult(external_id=self.answer_external_id(board, question_id, text))
        if board.key == BOARD_ONLINE.key:
            path = ONLINE_REPLY.format(vendor=self.vendor_id, inquiry=question_id)
            body = {"content": text, "vendorId": self.vendor_id, "replyBy": self.wing_id}
            await self._call(http, "POST", path, json=body)
            return result
        path = CALL_CENTER_REPLY.format(vendor=self.vendor_id, inquiry=question_id)
        body = {
            "vendorId": self.vendor_id,
            "inquiryId": question_id,
            "content": text,
            "replyBy": self.wing_id,
        }
        parent = reply.context.get("parent_answer_id")
        if parent:
            body["parentAnswerId"] = str(parent)
        try:
            await self._call(http, "POST", path, json=body)
        except PermanentError as err:
            await self._confirm_closed(http, question_id, err)
            raise
        return result

    async def _confirm_closed(
        self, http: aiohttp.ClientSession, question_id: str, refused: PermanentError
    ) -> None:
        """A refused call-center reply: if Coupang closed the inquiry (24 h rule), confirm
        the transfer and raise a message that tells the agent what happened."""
        path = CALL_CENTER_CONFIRM.format(vendor=self.vendor_id, inquiry=question_id)
        try:
            await self._call(http, "POST", path, json={"confirmBy": self.wing_id})
        except PermanentError:
            return  # not a closed transfer: the reply's own error stands
        raise PermanentError(
            f"Coupang closed call-center inquiry {question_id} (not answered within 24 h), "
            f"so it takes no answer any more; the transfer was confirmed. Answer in WING if "
            f"the customer still needs one. ({refused})"
        ) from refused
