"""The audit log: who did what, when, to which conversation.

One middleware records every successful mutating /api request (POST, PUT, PATCH, DELETE
answered below 400), so routes added later are audited without doing anything. An entry keeps
the agent and role, the action (from the route: `conversations.reply`, `canned-responses.update`,
...), the conversation and a short detail made only of whitelisted body fields: never headers,
tokens or message texts (a text is recorded by its length)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from inbox_core.logging import get_logger
from inbox_core.schema import new_id, utcnow
from inbox_core.store import Store
from inbox_notifier.auth import AGENT, ROLE, require_admin
from inbox_notifier.routing import RouteTable

log = get_logger(__name__)

AUDIT = "audit_log"
INDEXES = {
    AUDIT: [
        IndexModel([("at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("conversation_id", ASCENDING), ("at", DESCENDING)], sparse=True),
        IndexModel([("agent", ASCENDING), ("at", DESCENDING)]),
    ]
}
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# POSTs that change nothing: computing an answer is not an action.
READ_ONLY = frozenset({"canned-responses.preview", "faq.match"})
VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
# Body fields that say what was done without saying anything secret or private.
DETAIL_FIELDS = (
    "assignee",
    "force",
    "status",
    "until",
    "team",
    "priority",
    "add",
    "remove",
    "other_id",
    "action",
    "canned_id",
    "title",
    "ids",
    "message_ids",
    "faq_id",
    "auto_answer",
    "category",
)
LENGTH_FIELDS = ("text", "answer", "question")
DETAIL_MAX = 300


def action_name(method: str, route_path: str) -> str:
    """`POST /api/conversations/{conversation_id}/reply` → `conversations.reply`;
    `PUT /api/canned-responses/{canned_id}` → `canned-responses.update`."""
    parts = [p for p in route_path.removeprefix("/api/").split("/") if p]
    static = [p for p in parts if not p.startswith("{")]
    if not parts or parts[-1].startswith("{") or len(static) == 1:
        static.append(VERBS.get(method, method.lower()))
    return ".".join(static)


def _short(value: Any) -> Any:
    if isinstance(value, list):
        return value[:10] + ([f"... {len(value)} in all"] if len(value) > 10 else [])
    if isinstance(value, str):
        return value[:100]
    return value


def detail_of(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    detail = {k: _short(body[k]) for k in DETAIL_FIELDS if k in body}
    for key in LENGTH_FIELDS:
        if isinstance(body.get(key), str):
            detail[f"{key}_chars"] = len(body[key])
    if len(orjson.dumps(detail)) > DETAIL_MAX:
        detail = {"fields": sorted(detail)}
    return detail


async def _body(request: web.Request) -> Any:
    if request.content_type != "application/json" or not request.body_exists:
        return None
    try:  # the handler has read it already: aiohttp keeps the bytes
        return orjson.loads(await request.read())
    except (orjson.JSONDecodeError, ValueError):
        return None


def _answer(response: web.StreamResponse) -> Any:
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return None
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None


def _conversation_ids(request: web.Request, answer: Any) -> list[str | None]:
    """Which conversations the action changed: the path's, else the one the answer names;
    a bulk action (`{"results": [{"id", "ok"}]}`) changed each one that went through."""
    conv_id = request.match_info.get("conversation_id")
    if conv_id is not None:
        return [conv_id]
    if isinstance(answer, dict):
        results = answer.get("results")
        if isinstance(results, list):
            return [
                r["id"]
                for r in results
                if isinstance(r, dict) and r.get("ok") and isinstance(r.get("id"), str)
            ]
        conv = answer.get("conversation")
        if isinstance(conv, dict) and isinstance(conv.get("id"), str):
            return [conv["id"]]
    return [None]


@web.middleware
async def audit_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if (
        request.method not in MUTATING
        or not request.path.startswith("/api/")
        or response.status >= 400
        or AGENT not in request
    ):
        return response
    route = request.match_info.route.resource
    action = action_name(request.method, route.canonical if route else request.path)
    if action in READ_ONLY:
        return response
    at, detail = utcnow(), detail_of(await _body(request))
    entries = [
        {
            "_id": new_id(),
            "at": at,
            "agent": request[AGENT],
            "role": request[ROLE],
            "action": action,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "conversation_id": conv_id,
            "detail": detail,
        }
        for conv_id in _conversation_ids(request, _answer(response))
    ]
    if not entries:  # a bulk action where nothing went through changed nothing
        return response
    try:
        await request.app[AUDIT_LOG].record(entries)
    except Exception as err:  # the action is done; say loudly that its record is missing
        log.error("audit entry not stored", action=action, agent=request[AGENT], error=repr(err))
    return response


# --- GET /api/audit --------------------------------------------------------------------------


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(None, description="only entries at or after this time")
    limit: int = Field(100, ge=1, le=1000)
    agent: str | None = Field(None, max_length=100)
    conversation_id: str | None = Field(None, max_length=100)


class AuditEntry(BaseModel):
    id: str
    at: datetime
    agent: str
    role: str
    action: str = Field(description="e.g. conversations.reply, canned-responses.update")
    method: str
    path: str
    status: int
    conversation_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditList(BaseModel):
    items: list[AuditEntry] = Field(description="newest first")


class AuditLog:
    """The store behind the audit log: entries written by the middleware, read by the route."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, entries: list[dict[str, Any]]) -> None:
        await self.store.db[AUDIT].insert_many(entries)

    async def latest(self, query: AuditQuery) -> list[AuditEntry]:
        """The entries matching the query, newest first."""
        filters: dict[str, Any] = {}
        if query.since is not None:
            filters["at"] = {"$gte": query.since}
        if query.agent:
            filters["agent"] = query.agent
        if query.conversation_id:
            filters["conversation_id"] = query.conversation_id
        cursor = self.store.db[AUDIT].find(
            filters, sort=[("at", -1), ("_id", -1)], limit=query.limit
        )
        return [AuditEntry.model_validate({**d, "id": d["_id"]}) async for d in cursor]


AUDIT_LOG = web.AppKey("audit_log", AuditLog)

routes = RouteTable()


@routes.add(
    "GET",
    "/api/audit",
    query=AuditQuery,
    response=AuditList,
    errors=(403,),
    tag="audit",
    summary="Who did what, when, to which conversation (admin; newest first)",
)
async def list_audit(request: web.Request, query: AuditQuery) -> AuditList:
    require_admin(request)
    return AuditList(items=await request.app[AUDIT_LOG].latest(query))
