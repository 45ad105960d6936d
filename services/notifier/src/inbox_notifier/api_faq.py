"""FAQ routes of the agent API: entries (admin writes), matching, and candidates for new
entries found in the queue. Entries and questions are read and written through
`FaqEntries` (faq_entries.py)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from inbox_core.faq import FaqCatalog, FaqEntry
from inbox_core.faq_candidates import candidates
from inbox_core.schema import utcnow
from inbox_notifier.auth import require_admin
from inbox_notifier.faq_entries import FaqEntries
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
from inbox_notifier.routing import RouteTable

FAQ_CATALOG = web.AppKey("faq_catalog", FaqCatalog)
FAQ_ENTRIES = web.AppKey("faq_entries", FaqEntries)

faq_api = RouteTable()


@faq_api.add("GET", "/api/faq", response=FaqList, tag="faq", summary="All FAQ entries")
async def list_faq(request: web.Request) -> FaqList:
    docs = await request.app[FAQ_ENTRIES].all()
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
    return FaqEntry.from_doc(await request.app[FAQ_ENTRIES].create(body))


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
    asked = await request.app[FAQ_ENTRIES].asked_since(utcnow() - timedelta(days=query.days))
    found = candidates(
        request.app[FAQ_CATALOG].snapshot, asked, min_count=query.min_count, limit=query.limit
    )
    items = [CandidateOut.model_validate(c, from_attributes=True) for c in found]
    return CandidatesOut(items=items)


@faq_api.add(
    "GET",
    "/api/faq/{faq_id}",
    response=FaqEntry,
    errors=(404,),
    tag="faq",
    summary="One FAQ entry",
)
async def get_faq(request: web.Request) -> FaqEntry:
    return FaqEntry.from_doc(await request.app[FAQ_ENTRIES].get(request.match_info["faq_id"]))


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
    doc = await request.app[FAQ_ENTRIES].replace(request.match_info["faq_id"], body)
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
    await request.app[FAQ_ENTRIES].delete(request.match_info["faq_id"])
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
