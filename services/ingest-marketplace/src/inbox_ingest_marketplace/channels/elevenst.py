"""11st (11번가) seller OpenAPI: product Q&A polled, answers posted back.

What is known of the API is in shared/channels/elevenst.md. In short:

- XML over HTTP, one key per seller in the `openapikey` header; no signature, no token.
- List (board `qnas`, key `qna`): `GET /rest/prodqnaservices/prodqnalist/{YYYYMMDD}/
  {YYYYMMDD}/00` (`00` all, `01` answered, `02` unanswered; ≤ 7 days; no paging: one
  document holds the window). Errors come inside the XML (`result_code` 500, -1000 for
  maintenance), and "nothing found" may come as an error: that is an empty list.
- Answer: `PUT /rest/prodqnaservices/prodqnaanswer/{brdInfoNo}/{prdNo}` with
  `<ProductQna><answerCont>…</answerCont></ProductQna>` (EUC-KR); it overwrites an earlier
  answer and 11st e-mails the buyer. The product number comes from the reply's context.
- Charsets and namespaces: `elevenst_xml`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final

import aiohttp
import orjson

from inbox_core.answer_ledger import AnswerLedger
from inbox_core.connector import SendResult
from inbox_core.errors import InvalidPayload, PermanentError, TransientError
from inbox_core.http import poll_error, retry_after_from
from inbox_core.schema import Customer, InboundMessage, OutboundReply
from inbox_core.window_cursor import Window
from inbox_ingest_marketplace.channels.board import (
    KST,
    AnswerLimits,
    Board,
    FetchedPage,
    PlatformAnswer,
    Question,
    optional_str,
    thread_key,
)
from inbox_ingest_marketplace.channels.board_poller import MarketChannel, PollOptions
from inbox_ingest_marketplace.channels.elevenst_xml import (
    answer_xml,
    decode_xml,
    error_for_result,
    parse_qna_list,
    parse_xml,
    result_of,
)

NAME: Final = "elevenst"
LIST_PATH: Final = "/rest/prodqnaservices/prodqnalist/{start}/{end}/00"
ANSWER_PATH: Final = "/rest/prodqnaservices/prodqnaanswer/{brd_info_no}/{prd_no}"
TIME_FORMATS: Final = (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d%H%M%S",
)
# No limit is documented (unconfirmed); answers go as EUC-KR, so emoji cannot be sent.
ANSWER_LIMITS: Final = AnswerLimits(max_chars=1000, encoding="cp949")

BOARD_QNAS: Final = Board(
    name="qnas",
    key="qna",
    label="11번가 상품Q&A",
    max_window=timedelta(days=6),  # 7 calendar days at most
    limits=ANSWER_LIMITS,
    date_only=True,
)


def parse_elevenst_datetime(value: str | None) -> datetime:
    """`2026-11-20 15:12:03.0` (KST, no offset; also `2010/01/19`) → aware UTC."""
    text = (value or "").strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=KST).astimezone(UTC)
        except ValueError:
            continue
    raise InvalidPayload(f"not an 11st date-time: {value!r}")


def normalise_product_qna(item: Mapping[str, str], account: str) -> Question:
    """One `<productQna>` (child name → text) → Question."""
    brd_info_no = optional_str(item.get("brdInfoNo"))
    if brd_info_no is None:
        raise InvalidPayload("11st Q&A without brdInfoNo")
    body = item.get("brdInfoCont")
    if body is None:
        raise InvalidPayload(f"11st Q&A {brd_info_no} has no brdInfoCont")
    title = optional_str(item.get("brdInfoSbjct"))
    category = optional_str(item.get("qnaDtlsCdNm"))
    label = f"11번가 Q&A·{category}" if category else "11번가 Q&A"
    try:
        message = InboundMessage(
            channel=NAME,
            account=account,
            external_id=f"qna:{brd_info_no}",
            thread_keys=[thread_key(NAME, account, "qna", brd_info_no)],
            customer=Customer(
                id=optional_str(item.get("memID")) or "unknown",
                name=optional_str(item.get("memNM")),
            ),
            subject=f"[{label}] {title}" if title else f"[{label}]",
            text=body.strip(),
            received_at=parse_elevenst_datetime(item.get("createDt")),
            context={
                "board": "qna",
                "question_id": brd_info_no,
                "product_id": optional_str(item.get("brdInfoClfNo")),
                "product_name": optional_str(item.get("prdNm")),
                "order_id": optional_str(item.get("ordNoDe")),
                "category": category,
                "bought": item.get("buyYn") == "Y",
                "displayed": item.get("dispYn") != "N",
                "answered": item.get("answerYn") == "Y",
            },
        )
    except ValueError as err:
        raise InvalidPayload(f"11st Q&A {brd_info_no}: {err}") from err
    answer = optional_str(item.get("answerCont"))
    answers: tuple[PlatformAnswer, ...] = ()
    if answer and item.get("answerYn", "Y") != "N":
        try:
            when: datetime | None = parse_elevenst_datetime(item.get("answerDt"))
        except InvalidPayload:
            when = None
        answers = (PlatformAnswer(text=answer, answered_at=when),)
    return Question(message, answers, deleted=item.get("dispYn") == "N")


class Elevenst(MarketChannel):
    """One 11st seller (one `openapikey`) as one bus account."""

    name: ClassVar[str] = NAME
    platform: ClassVar[str] = "11번가"
    board_specs: ClassVar[tuple[Board, ...]] = (BOARD_QNAS,)

    def __init__(
        self,
        account: str,
        *,
        api_key: str,
        base_url: str,
        options: PollOptions | None = None,
        ledger: AnswerLedger | None = None,
    ) -> None:
        super().__init__(account, options=options, ledger=ledger)
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:  # never the key
        return f"Elevenst(account={self.account!r}, base_url={self.base_url!r})"

    async def _call(
        self, http: aiohttp.ClientSession, method: str, path: str, *, body: bytes | None = None
    ) -> ET.Element:
        what = f"{NAME} {method} {path.split('/')[3]}"
        headers = {"openapikey": self._api_key, "Accept": "text/xml"}
        if body is not None:
            headers["Content-Type"] = "text/xml; charset=euc-kr"
        try:
            async with http.request(method, self.base_url + path, data=body, headers=headers) as r:
                raw = await r.read()
                status, resp_headers, ctype = r.status, r.headers, r.headers.get("Content-Type")
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransientError(f"{what}: {type(err).__name__}: {err}") from err
        text = decode_xml(raw, ctype)
        try:
            root = parse_xml(text)
        except InvalidPayload as unreadable:
            if status >= 400:
                detail = f"{what}: HTTP {status}: {text[:200]}"
                retry_after = retry_after_from(resp_headers)
                raise poll_error(status, detail, retry_after=retry_after) from unreadable
            raise TransientError(f"{what}: unreadable answer: {text[:200]!r}") from unreadable
        code, message = result_of(root)
        refused = error_for_result(code, message, what=what)
        if refused is not None:
            raise refused
        if status >= 400:
            detail = f"{what}: HTTP {status}: {message}".rstrip(": ")
            raise poll_error(status, detail, retry_after=retry_after_from(resp_headers))
        return root

    async def fetch(
        self, board: Board, window: Window, page: int, http: aiohttp.ClientSession
    ) -> FetchedPage:
        start = window.start.astimezone(KST).strftime("%Y%m%d")
        end = window.end.astimezone(KST).strftime("%Y%m%d")
        root = await self._call(http, "GET", LIST_PATH.format(start=start, end=end))
        listed = parse_qna_list(root)
        questions: list[Question] = []
        rejected: list[tuple[bytes, str]] = []
        for item in listed.items:
            try:
                questions.append(normalise_product_qna(item, self.account))
            except InvalidPayload as err:
                rejected.append((orjson.dumps(item), str(err)))
        return FetchedPage(questions, last=True, rejected=rejected)

    async def post_answer(
        self,
        board: Board,
        question_id: str,
        text: str,
        reply: OutboundReply,
        http: aiohttp.ClientSession,
    ) -> SendResult:
        product = optional_str(reply.context.get("product_id"))
        if product is None:
            raise PermanentError(
                f"11st needs the product number to answer Q&A {question_id}, and the reply "
                "carries none (context.product_id)"
            )
        path = ANSWER_PATH.format(brd_info_no=question_id, prd_no=product)
        await self._call(http, "PUT", path, body=answer_xml(text))
        return SendResult(external_id=self.answer_external_id(board, question_id, text))
