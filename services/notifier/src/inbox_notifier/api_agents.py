"""Agent routes of the agent API: who this token is, and who can be assigned."""

from __future__ import annotations

from aiohttp import web

from inbox_notifier.auth import AGENT, ROLE
from inbox_notifier.models import AgentsOut, MeOut
from inbox_notifier.routing import RouteTable
from inbox_notifier.stream import SETTINGS

TOKENS = web.AppKey("tokens", dict)

agents_api = RouteTable()


@agents_api.add("GET", "/api/me", response=MeOut, tag="agents", summary="The agent of this token")
async def me(request: web.Request) -> MeOut:
    return MeOut(
        agent=request[AGENT],
        role=request[ROLE],
        sla_warn_ratio=request.app[SETTINGS].sla_warn_ratio,
    )


@agents_api.add(
    "GET",
    "/api/agents",
    response=AgentsOut,
    tag="agents",
    summary="Agents who can be assigned (one per token)",
)
async def agents(request: web.Request) -> AgentsOut:
    return AgentsOut(items=sorted(set(request.app[TOKENS].values())))
