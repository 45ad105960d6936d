"""Naver Commerce API (SmartStore): product Q&A and customer inquiries, answers posted back.

What is known of the API is in shared/channels/naver-commerce.md. In short:

- Auth (`naver_auth`): a bcrypt-signed client-credentials token, cached; a `401 GW.AUTHN`
  fetches a new token and retries once.
- Product Q&A (board `qnas`, key `qna`): `GET /v1/contents/qnas?fromDate&toDate&page&size`
  (date-times, size ≤ 100, `last` on the final page); answer (and overwrite) with
  `PUT /v1/contents/qnas/{questionId}` `{"commentContent"}` → 204.
- Customer inquiries (board `inquiries`, key `inquiry`): `GET /v1/pay-user/inquiries?
  startSearchDate&endSearchDate&page&size` (KST calendar dates, size 10–200, ≤ 365 days per
  query); answer with `POST /v1/pay-merchant/inquiries/{inquiryNo}/answer`
  `{"answerComment"}`; a reply whose context names `edit_answer_id` edits that answer
  (`PUT …/answer/{answerContentId}`).
- Rate limit: 429 `GW.RATE_LIMIT`; the wait is `Retry-After`, else one token of
  `GNCP-GW-RateLimit-Replenish-Rate`.

Windows and pages are the core's `WindowCursor`; dedup, edits and echoes are
`MarketChannel`'s (board_poller.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar, Final

import aiohttp
import orjson

from inbox_core.answer_ledger import AnswerLedger
from inbox_core.connector import SendResult
from inbox_core.errors import InvalidPayload, TransientError
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
from inbox_ingest_marketplace.channels.naver_auth import (
    AUTHN_CODE,
    NaverToken,
    error_from_response,
    read_json,
)
from inbox_ingest_marketplace.channels.naver_normalise import (
    NAME,
    format_naver_datetime,
    normalise_inquiry,
    normalise_qna,
)

log = get_logger(__name__)

QNAS_PATH: Final = "/v1/contents/qnas"
INQUIRIES_PATH: Final = "/v1/pay-user/inquiries"
INQUIRY_ANSWER_PATH: Final = "/v1/pay-merchant/inquiries/{inquiry_no}/answer"
QNA_PAGE_SIZE: Final = 100  # the documented maximum
INQUIRY_PAGE_SIZE: Final = 200  # documented range 10–200
# Naver documents no answer length limit (unconfirmed); this keeps answers to what the
# SmartStore Center shows comfortably, and tells the agent before Naver might refuse.
ANSWER_LIMITS: Final = AnswerLimits(max_chars=2000)

BOARD_QNAS: Final = Board(
    name="qnas",
    key="qna",
    label="상품문의",
    # Naver documents no maximum span for product Q&A; small windows keep queries small.
    max_window=timedelta(days=1),
    limits=ANSWER_LIMITS,
)
BOARD_INQUIRIES: Final = Board(
    name="inquiries",
    key="inquiry",
    label="고객문의",
    max_window=timedelta(days=30),  # documented maximum 365 days per query
    limits=ANSWER_LIMITS,
    date_only=True,
)

Normaliser = Callable[[Mapping[str, Any], str], Question]


class NaverCommerce(MarketChannel):
    """One SmartStore (one application's client id and secret) as one bus account."""

    name: ClassVar[str] = NAME
    platform: ClassVar[str] = "네이버 스마트스토어"
    board_specs: ClassVar[tuple[Board, ...]] = (BOARD_QNAS, BOARD_INQUIRIES)

    def __init__(
        self,
        account: str,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        options: PollOptions | None = None,
        ledger: AnswerLedger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(account, options=options, ledger=ledger)
        self.base_url = base_url.rstrip("/")
        self.token = NaverToken(
            account,
            client_id=client_id,
            client_secret=client_secret,
            base_url=self.base_url,
            clock=clock,
        )

    def __repr__(self) -> str:  # never the secret
        return f"NaverCommerce(account={self.account!r}, base_url={self.base_url!r})"

    async def access_token(self, http: aiohttp.ClientSession) -> str:
        return await self.token.get(http)

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
            token = await self.token.get(http)
            try:
                async with http.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                ) as resp:
                    body = await read_json(resp)
                    status, headers = resp.status, resp.headers
            except (aiohttp.ClientError, TimeoutError) as err:
                raise TransientError(f"{what}: {type(err).__name__}: {err}") from err
            if status == 401 and attempt == 1 and body.get("code") == AUTHN_CODE:
                log.info("naver commerce token refused, fetching a new one", account=self.account)
                self.token.forget(token)
                continue
            if status >= 400:
                raise error_from_response(status, headers, body, what=what)
            return status, body
        raise AssertionError("unreachable")  # pragma: no cover

    # --- list ----------------------------------------------------------------------------

    async def fetch(
        self, board: Board, window: Window, page: int, http: aiohttp.ClientSession
    ) -> FetchedPage:
        if board.key == BOARD_QNAS.key:
            params = {
                "fromDate": format_naver_datetime(window.start),
                "toDate": format_naver_datetime(window.end),
                "page": str(page),
                "size": str(QNA_PAGE_SIZE),
            }
            path, items_field, size, normalise = QNAS_PATH, "contents", QNA_PAGE_SIZE, normalise_qna
        else:
            params = {
                "startSearchDate": kst_date(window.start),
                "endSearchDate": kst_date(window.end),
                "page": str(page),
                "size": str(INQUIRY_PAGE_SIZE),
            }
            path, items_field, size = INQUIRIES_PATH, "content", INQUIRY_PAGE_SIZE
            normalise = normalise_inquiry
        _, body = await self._call(http, "GET", path, params=params)
        items = body.get(items_field)
        if not isinstance(items, list):
            raise TransientError(f"{NAME} {path}: page without {items_field}[]")
        return self._page(items, body, size, normalise)

    def _page(
        self, items: list[Any], body: Mapping[str, Any], size: int, normalise: Normaliser
    ) -> FetchedPage:
        questions: list[Question] = []
        rejected: list[tuple[bytes, str]] = []
        for item in items:
            try:
                questions.append(normalise(item, self.account))
            except InvalidPayload as err:
                rejected.append((orjson.dumps(item), str(err)))
        last = bool(body["last"]) if "last" in body else len(items) < size
        return FetchedPage(questions, last=last or not items, rejected=rejected)

    # --- answer --------------------------------------------------------------------------

    async def post_answer(
        self,
        board: Board,
        question_id: str,
        text: str,
        reply: OutboundReply,
        http: aiohttp.ClientSession,
    ) -> SendResult:
        if board.key == BOARD_QNAS.key:
            # 204; the same call overwrites an earlier answer.
            await self._call(
                http, "PUT", f"{QNAS_PATH}/{question_id}", json={"commentContent": text}
            )
            return SendResult(external_id=self.answer_external_id(board, question_id, text))
        path = INQUIRY_ANSWER_PATH.format(inquiry_no=question_id)
        edit_id = reply.context.get("edit_answer_id")
        if edit_id:
            await self._call(http, "PUT", f"{path}/{edit_id}", json={"answerComment": text})
        else:
            await self._call(http, "POST", path, json={"answerComment": text})
        return SendResult(external_id=self.answer_external_id(board, question_id, text))
