"""A local 11st seller OpenAPI (product Q&A), for tests and the demo.

Implements what the connector uses (shared/channels/elevenst.md), for one or more sellers:

- Auth: the `openapikey` header. A missing or unknown key gets 11st's in-band error
  (HTTP 200, `result_code` 500 "OpenAPI Key 에 해당하는 유저가 없습니다.").
- `GET /rest/prodqnaservices/prodqnalist/{YYYYMMDD}/{YYYYMMDD}/{00|01|02}`: the seller's
  questions asked on those KST days, as `<ns2:productQnas>`; more than 7 days gives
  "최대 조회기간은 7일 입니다."; an empty result comes as code 500 "검색된 대상이 없습니다."
  (as some clients report). Hidden questions stay listed with `dispYn=N`.
- `PUT /rest/prodqnaservices/prodqnaanswer/{brdInfoNo}/{prdNo}`: `<ProductQna><answerCont>`
  in the body's declared charset; answers `<ClientMessage>` (resultCode 200, or 500).
- Charsets, per `charset` mode: `euc-kr` (CP949 bytes, declared in the header and the XML),
  `utf-8`, `euc-kr-undeclared` (CP949 bytes, declared nowhere) and `utf-8-header-euc-kr`
  (CP949 bytes under a header that claims UTF-8). `prefix` False drops the `ns2:` prefix.

Not 11st's API (no auth, never expose): `common.py`'s admin under `/_sim/qnas` (a `sellerKey`
field picks the seller; DELETE hides the question, as 11st does) and `/_sim/faults`.

Run it: `inbox-sim-elevenst --port 9085 --api-key KEY --seed`.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from xml.sax.saxutils import escape

from aiohttp import web

from inbox_core.simulator import serve, simulator_parser
from inbox_ingest_marketplace.simulators.common import FAULTS, add_board_admin, add_fault_routes

KST: Final = timezone(timedelta(hours=9), "KST")
DEFAULT_PORT: Final = 9085
LIST_PATH: Final = "/rest/prodqnaservices/prodqnalist/{start}/{end}/{status}"
ANSWER_PATH: Final = "/rest/prodqnaservices/prodqnaanswer/{brd_info_no}/{prd_no}"
NS: Final = "http://skt.tmall.business.openapi.spring.service.client.domain/"
NO_KEY: Final = "OpenAPI Key 에 해당하는 유저가 없습니다."
NOTHING: Final = "검색된 대상이 없습니다."
MAX_DAYS: Final = 7
CHARSETS: Final = ("euc-kr", "utf-8", "euc-kr-undeclared", "utf-8-header-euc-kr")
FIELDS: Final = (
    "brdInfoNo", "brdInfoClfNo", "brdInfoSbjct", "brdInfoCont", "answerCont", "answerDt",
    "answerYn", "buyYn", "createDt", "dispYn", "memID", "memNM", "prdNm", "qnaDtlsCd",
    "qnaDtlsCdNm", "ordNoDe", "ordStlEndDt",
)  # fmt: skip
CATEGORIES: Final = {
    "01": "상품",
    "02": "배송",
    "03": "반품/환불/취소",
    "04": "교환/변경",
    "05": "기타",
}


def elevenst_time(value: datetime) -> str:
    return value.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S.0")


@dataclass
class SimState:
    sellers: dict[str, str]  # api key → seller id
    charset: str = "euc-kr"
    prefix: bool = True
    clock: Callable[[], float] = time.time
    qnas: dict[int, dict[str, str]] = field(default_factory=dict)
    owner: dict[int, str] = field(default_factory=dict)  # brdInfoNo → api key
    requests: list[str] = field(default_factory=list)
    answer_bodies: list[bytes] = field(default_factory=list)  # raw PUT bodies, for tests
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_881_274))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def add_question(
        self,
        *,
        content: str,
        title: str = "사이즈 문의",
        api_key: str | None = None,
        product_no: str = "48073872",
        product_name: str = "경량 러닝화",
        member_id: str = "hong1234",
        member_name: str = "홍길동",
        category: str = "01",
        order_no: str | None = None,
        created: datetime | str | None = None,
    ) -> dict[str, str]:
        number = next(self._ids)
        if isinstance(created, str):
            created_text = created
        else:
            created_text = elevenst_time(created or self.now())
        item = {
            "brdInfoNo": str(number),
            "brdInfoClfNo": product_no,
            "brdInfoSbjct": title,
            "brdInfoCont": content,
            "answerCont": "",
            "answerDt": "",
            "answerYn": "N",
            "buyYn": "Y" if order_no else "N",
            "createDt": created_text,
            "dispYn": "Y",
            "memID": member_id,
            "memNM": member_name,
            "prdNm": product_name,
            "qnaDtlsCd": category,
            "qnaDtlsCdNm": CATEGORIES.get(category, "기타"),
            "ordNoDe": order_no or "",
            "ordStlEndDt": "",
        }
        self.qnas[number] = item
        self.owner[number] = api_key or next(iter(self.sellers))
        return dict(item)

    def answer(self, number: int, text: str) -> dict[str, str]:
        item = self.qnas[number]
        item.update(
            answerCont=text, answerYn="Y", answerDt=self.now().astimezone(KST).strftime("%Y/%m/%d")
        )
        return dict(item)


SIM_STATE: Final = web.AppKey("elevenst_sim", SimState)


def _xml_response(state: SimState, xml: str, status: int = 200) -> web.Response:
    mode = state.charset
    codec = "utf-8" if mode == "utf-8" else "cp949"
    declared = {"euc-kr": "euc-kr", "utf-8": "UTF-8"}.get(mode)
    prolog = f'<?xml version="1.0" encoding="{declared}" standalone="yes"?>' if declared else ""
    headers = {
        "euc-kr": "text/xml;charset=EUC-KR",
        "utf-8": "application/xml;charset=UTF-8",
        "euc-kr-undeclared": "text/xml",
        "utf-8-header-euc-kr": "application/xml;charset=UTF-8",
    }
    body = (prolog + xml).encode(codec)
    return web.Response(body=body, status=status, headers={"Content-Type": headers[mode]})


def _tag(state: SimState, name: str) -> str:
    return f"ns2:{name}" if state.prefix else name


def _qna_error(state: SimState, code: str, text: str) -> web.Response:
    root = _tag(state, "productQnas")
    ns = f' xmlns:ns2="{NS}"' if state.prefix else ""
    rc, rt = _tag(state, "result_code"), _tag(state, "result_text")
    return _xml_response(
        state, f"<{root}{ns}><{rc}>{code}</{rc}><{rt}>{escape(text)}</{rt}></{root}>"
    )


def _client_message(state: SimState, code: str, message: str, **extra: str) -> web.Response:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
    body = f"<ClientMessage>{inner}<message>{escape(message)}</message>"
    return _xml_response(state, body + f"<resultCode>{code}</resultCode></ClientMessage>")


@web.middleware
async def _gateway(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    if not request.path.startswith("/rest/"):
        response: web.StreamResponse = await handler(request)
        return response
    state.requests.append(f"{request.method} {request.path_qs}")
    if request.headers.get("openapikey", "") not in state.sellers:
        if "prodqnalist" in request.path:
            return _qna_error(state, "500", NO_KEY)
        return _client_message(state, "500", NO_KEY)
    fault = request.app[FAULTS].take(request)
    if fault is not None:
        resp = web.Response(
            status=fault.status, text=f"<error>{fault.status}</error>", content_type="text/xml"
        )
        if fault.retry_after:
            resp.headers["Retry-After"] = f"{fault.retry_after:g}"
        return resp
    response = await handler(request)
    return response


def _day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y%m%d") if re.fullmatch(r"\d{8}", value) else None
    except ValueError:
        return None


async def _list(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    start, end = _day(request.match_info["start"]), _day(request.match_info["end"])
    status = request.match_info["status"]
    if start is None or end is None or start > end or status not in ("00", "01", "02"):
        return _qna_error(state, "500", "조회 조건이 올바르지 않습니다.")
    if (end - start).days > MAX_DAYS:
        return _qna_error(state, "500", "최대 조회기간은 7일 입니다.")
    key = request.headers["openapikey"]
    found = []
    for number, item in sorted(state.qnas.items(), reverse=True):
        created = datetime.strptime(item["createDt"][:10], "%Y-%m-%d")
        if state.owner[number] != key or not start <= created <= end:
            continue
        if status != "00" and (item["answerYn"] == "Y") != (status == "01"):
            continue
        found.append(item)
    if not found:
        return _qna_error(state, "500", NOTHING)
    root, one = _tag(state, "productQnas"), _tag(state, "productQna")
    ns = f' xmlns:ns2="{NS}"' if state.prefix else ""
    items = "".join(
        f"<{one}>" + "".join(f"<{k}>{escape(i[k])}</{k}>" for k in FIELDS) + f"</{one}>"
        for i in found
    )
    return _xml_response(state, f"<{root}{ns}>{items}</{root}>")


def _charset_of(request: web.Request, body: bytes) -> str:
    match = re.search(r"charset=([\w-]+)", request.headers.get("Content-Type", ""), re.I)
    declared = re.search(rb'encoding="([\w-]+)"', body[:100])
    label = match.group(1) if match else declared.group(1).decode() if declared else "utf-8"
    return "cp949" if label.lower().replace("_", "-") in ("euc-kr", "ks-c-5601-1987") else label


async def _answer(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    raw = await request.read()
    state.answer_bodies.append(raw)
    number_raw, product = request.match_info["brd_info_no"], request.match_info["prd_no"]
    number = int(number_raw) if number_raw.isdigit() else -1
    item = state.qnas.get(number)
    if item is None or state.owner[number] != request.headers["openapikey"]:
        return _client_message(
            state, "500", f"상품 Qna 글 번호 : {number_raw} 를 찾을 수 없습니다."
        )
    if item["brdInfoClfNo"] != product:
        return _client_message(state, "500", "상품번호가 일치하지 않습니다.")
    try:
        text = raw.decode(_charset_of(request, raw))
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
        answer = (ET.fromstring(text).findtext("answerCont") or "").strip()
    except (UnicodeDecodeError, LookupError, ET.ParseError):
        return _client_message(state, "500", "요청 XML 을 읽을 수 없습니다.")
    if not answer:
        return _client_message(state, "500", "답변 내용을 입력해 주세요.")
    state.answer(number, answer)
    message = (
        f"상품 Qna 글 번호 : {number}의 성공적으로 수정되었습니다. 업데이트 된 내용 :{answer[:20]}"
    )
    return _client_message(state, "200", message, brdInfoNo=str(number), productNo=product)


# --- test-and-demo admin (not 11st's API) ---------------------------------------------------


def _admin(app: web.Application, state: SimState) -> None:
    def add(body: dict[str, Any]) -> dict[str, str]:
        if not isinstance(body.get("brdInfoCont"), str):
            raise ValueError("a 'brdInfoCont' string is required")
        names = {
            "title": "brdInfoSbjct",
            "api_key": "sellerKey",
            "product_no": "brdInfoClfNo",
            "product_name": "prdNm",
            "member_id": "memID",
            "member_name": "memNM",
            "category": "qnaDtlsCd",
            "order_no": "ordNoDe",
            "created": "createDt",
        }
        extra = {k: str(body[v]) for k, v in names.items() if body.get(v) is not None}
        return state.add_question(content=body["brdInfoCont"], **extra)

    def hide(key: int) -> bool:
        state.qnas[key]["dispYn"] = "N"  # 11st keeps a deleted question, hidden
        return True

    add_board_admin(
        app,
        "/_sim/qnas",
        state.qnas,
        add=add,
        answer=lambda key, text, _by: state.answer(key, text),
        text_field="brdInfoCont",
        delete=hide,
    )


def seed(state: SimState) -> None:
    """A size question and a delivery question from a buyer."""
    now = state.now()
    state.add_question(
        content="평소 270 신는데 어떤 사이즈가 맞을까요?", created=now - timedelta(minutes=70)
    )
    state.add_question(
        content="어제 주문했는데 오늘 출고되나요?",
        title="배송 문의",
        category="02",
        order_no="201510309348419",
        member_id="kim5678",
        member_name="김민지",
        created=now - timedelta(minutes=8),
    )


def create_app(
    api_keys: dict[str, str] | list[str],
    *,
    charset: str = "euc-kr",
    prefix: bool = True,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """`api_keys`: key → seller id (or a list of keys). `charset`: one of CHARSETS."""
    if charset not in CHARSETS:
        raise ValueError(f"charset is one of {', '.join(CHARSETS)}")
    sellers = (
        api_keys
        if isinstance(api_keys, dict)
        else {k: f"seller{i}" for i, k in enumerate(api_keys, 1)}
    )
    if not sellers:
        raise ValueError("at least one openapikey is needed")
    state = SimState(sellers=dict(sellers), charset=charset, prefix=prefix, clock=clock)
    app = web.Application(middlewares=[_gateway])
    app[SIM_STATE] = state
    app.router.add_get(LIST_PATH, _list)
    app.router.add_put(ANSWER_PATH, _answer)
    add_fault_routes(app)
    _admin(app, state)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = simulator_parser(
        "inbox-sim-elevenst", "A local 11st seller OpenAPI (product Q&A).", DEFAULT_PORT
    )
    parser.add_argument("--api-key", default=os.environ.get("ELEVENST_API_KEY"))
    parser.add_argument("--charset", choices=CHARSETS, default="euc-kr")
    parser.add_argument("--seed", action="store_true", help="preload a few Korean questions")
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("give --api-key or set ELEVENST_API_KEY")
    app = create_app([args.api_key], charset=args.charset)
    if args.seed:
        seed(app[SIM_STATE])
        print("seeded 2 questions", file=sys.stderr)
    serve(app, args, "11st simulator", out=sys.stderr, access_log=False)


if __name__ == "__main__":
    main()
