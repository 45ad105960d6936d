"""What the three marketplace simulators share: injected faults and the `/_sim/` admin.

Faults (tests and demos of 429/5xx handling): `POST /_sim/faults`
`{"status": 429, "times": 1, "match": "pageNum=2", "retry_after": 1}` makes the next
matching API call(s) fail with the platform's own error body; `DELETE /_sim/faults` clears.

Admin routes for one board, under a prefix such as `/_sim/qnas` (not the platform's API;
no auth, never expose a simulator):

    POST   <prefix>                   add a customer question (JSON fields, platform names)
    GET    <prefix>                   {"contents": [...], "totalElements": n}
    PATCH  <prefix>/{id}              {"text": "..."}  the customer edits the question
    DELETE <prefix>/{id}              the customer deletes it
    POST   <prefix>/{id}/answer       {"text": "...", "by": "seller"|"cs"}  answered on the
                                      platform (seller center / WING / 11st office), not by us
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

Item = dict[str, Any]


@dataclass
class Fault:
    status: int
    times: int = 1
    match: str = ""  # a substring of "METHOD /path?query"; empty: any API call
    retry_after: float | None = None


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)

    def add(
        self, status: int, *, times: int = 1, match: str = "", retry_after: float | None = None
    ) -> None:
        self.faults.append(Fault(status, times, match, retry_after))

    def take(self, request: web.Request) -> Fault | None:
        call = f"{request.method} {request.path_qs}"
        for fault in self.faults:
            if fault.times > 0 and fault.match in call:
                fault.times -= 1
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()


FAULTS: Final = web.AppKey("sim_faults", FaultPlan)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": "a JSON object is required"}', content_type="application/json"
        )
    return body


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def add_fault_routes(app: web.Application) -> None:
    app[FAULTS] = FaultPlan()

    async def add(request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            retry = body.get("retry_after")
            app[FAULTS].add(
                int(body["status"]),
                times=int(body.get("times", 1)),
                match=str(body.get("match", "")),
                retry_after=None if retry is None else float(retry),
            )
        except (KeyError, TypeError, ValueError) as err:
            return _bad(f"status (int), times, match, retry_after: {err}")
        return web.json_response({"faults": len(app[FAULTS].faults)}, status=201)

    async def clear(_: web.Request) -> web.Response:
        app[FAULTS].clear()
        return web.json_response({"faults": 0})

    app.router.add_post("/_sim/faults", add)
    app.router.add_delete("/_sim/faults", clear)


def _item_key(raw: str) -> int:
    return int(raw) if raw.isdigit() else -1


def add_board_admin(
    app: web.Application,
    prefix: str,
    board: dict[int, Item],
    *,
    add: Callable[[dict[str, Any]], Item],
    answer: Callable[[int, str, str], Item | None],
    text_field: str,
    show: Callable[[int], Item] | None = None,
    delete: Callable[[int], bool] | None = None,
) -> None:
    """The admin routes of one board whose items are `board` (id → item). `answer` is
    called only for an item that exists; `show` is how the list shows one (default: as
    stored); `delete` defaults to removing it; an edit sets `text_field`."""

    def items() -> list[Item]:
        return [show(k) if show else dict(board[k]) for k in sorted(board)]

    def edit(raw: str, text: str) -> Item | None:
        item = board.get(_item_key(raw))
        if item is not None:
            item[text_field] = text
        return None if item is None else dict(item)

    def remove(raw: str) -> bool:
        key = _item_key(raw)
        if delete is not None:
            return key in board and delete(key)
        return board.pop(key, None) is not None

    def answer_item_text(raw: str, text: str, by: str) -> Item | None:
        key = _item_key(raw)
        return answer(key, text, by) if key in board else None

    async def add_item(request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            return web.json_response(add(body), status=201)
        except (KeyError, TypeError, ValueError) as err:
            return _bad(f"cannot add: {err}")

    async def list_items(_: web.Request) -> web.Response:
        found = items()
        return web.json_response({"contents": found, "totalElements": len(found)})

    async def edit_item(request: web.Request) -> web.Response:
        body = await json_body(request)
        text = body.get("text", body.get(text_field))
        if not isinstance(text, str) or not text.strip():
            return _bad("a non-empty 'text' is required")
        item = edit(request.match_info["item_id"], text)
        return web.json_response(item) if item is not None else _bad("no such item", 404)

    async def delete_item(request: web.Request) -> web.Response:
        if remove(request.match_info["item_id"]):
            return web.json_response({"deleted": True})
        return _bad("no such item", 404)

    async def answer_item(request: web.Request) -> web.Response:
        body = await json_body(request)
        text = body.get("text")
        by = str(body.get("by") or "seller")
        if not isinstance(text, str) or not text.strip() or by not in ("seller", "cs"):
            return _bad("'text' and 'by' (seller or cs) are required")
        item = answer_item_text(request.match_info["item_id"], text, by)
        return web.json_response(item) if item is not None else _bad("no such item", 404)

    app.router.add_post(prefix, add_item)
    app.router.add_get(prefix, list_items)
    app.router.add_patch(prefix + "/{item_id}", edit_item)
    app.router.add_delete(prefix + "/{item_id}", delete_item)
    app.router.add_post(prefix + "/{item_id}/answer", answer_item)
