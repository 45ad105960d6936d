"""FAQ routes of the agent API: entries (admin writes), matching, and candidates for new
entries found in the queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from aiohttp import web

from inbox_core.faq import FAQ, FaqCatalog, FaqEntry
from inbox_core.faq_candidates import Asked, candidates
from inbox_core.placeholders import unknown_placeholders
from inbox_core.runtime import RUNTIME
from inbox_core.schema import new_id, utcnow
from inbox_core.store import CONVERSATIONS, MESSAGES
from inbox_notifier.auth import require_admin
from inbox_notifier.faq_models import (
    CandidateOut,
    CandidatesOut,
    CandidatesQuery,
    FaqIn,
    FaqList,
    MatchIn,
    MatchOut,
    MatchResultOut,
)
from inbox_notifier.routing import ApiError, RouteTable, not_found

FAQ_CATALOG = web.AppKey("faq_catalog", FaqCatalog)

CANDIDATE_CONVERSATIONS: Final = 5000  # the most recent ones of the window
NOT_AGENTS: Final = frozenset({"bot", "router"})  # authors whose answers are not the agents'

faq_api = RouteTable()


def _db(request: web.Request) -> Any:
    return request.app[RUNTIME].store.db


def _check(body: FaqIn) -> None:
    unknown = unknown_placeholders(body.answer)
    if unknown:
        raise ApiError(
            422,
            "validation_error",
            "unknown placeholders",
            [{"field": "answer", "message": f"unknown placeholder {{{{{n}}}}}"} for n in unknown],
        )


async def _changed(request: web.Request) -> None:
    await request.app[FAQ_CATALOG].refresh()


@faq_api.add("GET", "/api/faq", response=FaqList, tag="faq", summary="All FAQ entries")
async def list_faq(request: web.Request) -> FaqList:
    docs = [d async for d in _db(request)[FAQ].find({}, sort=[("created_at", 1), ("_id", 1)])]
    return FaqList(items=[FaqEntry.from_doc(d) for d in docs])


@faq_api.add(
    "POST",
    "/api/faq",
    body=FaqIn,
    response=FaqEntry,
    status=201,
    errors=(403, 422),
    tag="faq",
    summary="Create an FAQ entry (admin)",
)
async def create_faq(request: web.Request, body: FaqIn) -> FaqEntry:
    require_admin(request)
    _check(body)
    now = utcnow()
    doc = {"_id": new_id(), **body.model_dump(), "created_at": now, "updated_at": now}
    await _db(request)[FAQ].insert_one(doc)
    await _changed(request)
    return FaqEntry.from_doc(doc)


@faq_api.add(
    "GET",
    "/api/faq/candidates",
    query=CandidatesQuery,
    response=CandidatesOut,
    errors=(403,),
    tag="faq",
    summary="Questions of the last N days that no entry covers, clustered, most asked first "
    "(admin)",
)
async def faq_candidates(request: web.Request, query: CandidatesQuery) -> CandidatesOut:
    require_admin(request)
    db = _db(request)
    since = utcnow() - timedelta(days=query.days)
    # Indexed: conversations by created_at, their messages by conversation_id.
    convs = [
        c["_id"]
        async for c in db[CONVERSATIONS].find(
            {"created_at": {"$gte": since}},
            {"_id": 1},
            sort=[("created_at", -1)],
            limit=CANDIDATE_CONVERSATIONS,
        )
    ]
    asked = await _first_question_and_answer(db, convs)
    found = candidates(
        request.app[FAQ_CATALOG].snapshot, asked, min_count=query.min_count, limit=query.limit
    )
    items = [CandidateOut.model_validate(c, from_attributes=True) for c in found]
    return CandidatesOut(items=items)


async def _first_question_and_answer(db: Any, conv_ids: list[str]) -> list[Asked]:
    first_in: dict[str, dict[str, Any]] = {}
    first_out: dict[str, str] = {}
    for start in range(0, len(conv_ids), 500):
        chunk = conv_ids[start : start + 500]
        async for m in db[MESSAGES].find(
            {"conversation_id": {"$in": chunk}, "kind": "message"},
            {"conversation_id": 1, "direction": 1, "author": 1, "text": 1, "created_at": 1},
            sort=[("conversation_id", 1), ("created_at", 1)],
        ):
            cid = m["conversation_id"]
            if m.get("direction") == "in":
                first_in.setdefault(cid, m)
            elif m.get("author") not in NOT_AGENTS and (m.get("text") or "").strip():
                first_out.setdefault(cid, m["text"])
    return [
        Asked(cid, m.get("text") or "", first_out.get(cid), m.get("created_at"))
        for cid, m in first_in.items()
    ]


@faq_api.add(
    "GET",
    "/api/faq/{faq_id}",
    response=FaqEntry,
    errors=(404,),
    tag="faq",
    summary="One FAQ entry",
)
async def get_faq(request: web.Request) -> FaqEntry:
    doc = await _db(request)[FAQ].find_one({"_id": request.match_info["faq_id"]})
    if doc is None:
        raise not_found("FAQ entry")
    return FaqEntry.from_doc(doc)


@faq_api.add(
    "PUT",
    "/api/faq/{faq_id}",
    body=FaqIn,
    response=FaqEntry,
    errors=(403, 404, 422),
    tag="faq",
    summary="Replace an FAQ entry (admin)",
)
async def update_faq(request: web.Request, body: FaqIn) -> FaqEntry:
    require_admin(request)
    _check(body)
    doc = await _db(request)[FAQ].find_one_and_update(
        {"_id": request.match_info["faq_id"]},
        {"$set": {**body.model_dump(), "updated_at": utcnow()}},
        return_document=True,
    )
    if doc is None:
        raise not_found("FAQ entry")
    await _changed(request)
    return FaqEntry.from_doc(doc)


@faq_api.add(
    "DELETE",
    "/api/faq/{faq_id}",
    status=204,
    errors=(403, 404),
    tag="faq",
    summary="Delete an FAQ entry (admin)",
)
async def delete_faq(request: web.Request) -> web.Response:
    require_admin(request)
    result = await _db(request)[FAQ].delete_one({"_id": request.match_info["faq_id"]})
    if result.deleted_count == 0:
        raise not_found("FAQ entry")
    await _changed(request)
    return web.Response(status=204)


@faq_api.add(
    "POST",
    "/api/faq/match",
    body=MatchIn,
    response=MatchResultOut,
    tag="faq",
    summary="The active entries a text matches (best first, at most 3); auto when sure",
)
async def match_faq(request: web.Request, body: MatchIn) -> MatchResultOut:
    result = request.app[FAQ_CATALOG].snapshot.match(body.text, body.channel)
    return MatchResultOut(
        matches=[
            MatchOut(faq_id=m.entry.id, score=m.score, answer=m.entry.answer)
            for m in result.matches
        ],
        auto=result.auto,
    )
