"""FAQ routes of the agent API: entries (admin writes), matching, and candidates for new
entries found in the queue."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from inbox_core.faq import FAQ, FaqCatalog, FaqEntry
from inbox_core.runtime import RUNTIME
from inbox_core.schema import new_id, utcnow
from inbox_notifier.auth import require_admin
from inbox_notifier.faq_models import FaqIn, FaqList, MatchIn, MatchOut, MatchResultOut
from inbox_notifier.routing import ApiError, RouteTable, not_found
from inbox_notifier.templates import unknown_placeholders

FAQ_CATALOG = web.AppKey("faq_catalog", FaqCatalog)

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
