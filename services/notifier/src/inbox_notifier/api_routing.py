"""Agent API for routing: move a conversation to a team, change its priority (both recorded
in `routing_reasons` with the agent), and, for admins, the corrections agents made and the
router's model (retrain). Registered on the shared route table (see app.py)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from inbox_core.schema import Priority
from inbox_notifier.api import DESK, _action_result
from inbox_notifier.auth import AGENT
from inbox_notifier.models import ActionResult, ApiModel
from inbox_notifier.routing import RouteTable

routing_api = RouteTable()

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class TeamIn(ApiModel):
    team: str = Field(min_length=1, max_length=50, pattern=SLUG)
    category: str | None = Field(
        None,
        min_length=1,
        max_length=50,
        pattern=r"^[a-z0-9_]+$",
        description="the category this conversation is about; defaults to the team's category",
    )


class PriorityIn(ApiModel):
    priority: Priority


class CorrectionsOut(BaseModel):
    total: int
    by_category: dict[str, int] = Field(
        default_factory=dict, description="corrections per category agents chose"
    )


@routing_api.add(
    "POST",
    "/api/conversations/{conversation_id}/team",
    body=TeamIn,
    response=ActionResult,
    errors=(404, 409),
    summary="Move to a team (a routing correction the router learns from)",
)
async def set_team(request: web.Request, body: TeamIn) -> ActionResult:
    conv = await request.app[DESK].set_team(
        request.match_info["conversation_id"], body.team, request[AGENT], body.category
    )
    return _action_result(conv)


@routing_api.add(
    "POST",
    "/api/conversations/{conversation_id}/priority",
    body=PriorityIn,
    response=ActionResult,
    errors=(404, 409),
    summary="Change the priority; SLA due times follow the new priority's targets",
)
async def set_priority(request: web.Request, body: PriorityIn) -> ActionResult:
    conv = await request.app[DESK].set_priority(
        request.match_info["conversation_id"], body.priority, request[AGENT]
    )
    return _action_result(conv)
