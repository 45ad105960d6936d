"""Agent API for routing: move a conversation to a team, change its priority (both recorded
in `routing_reasons` with the agent), and, for admins, the corrections agents made and the
router's model (retrain). Registered on the shared route table (see app.py)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from inbox_core.schema import Priority
from inbox_notifier.api_common import DESK, action_result
from inbox_notifier.auth import AGENT, require_admin
from inbox_notifier.models import ActionResult, ApiModel
from inbox_notifier.routing import RouteTable
from inbox_notifier.routing_state import RoutingState

ROUTING_STATE = web.AppKey("routing_state", RoutingState)

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


class HeldoutOut(BaseModel):
    accuracy: float
    correct: int
    total: int
    recall: dict[str, float] = Field(default_factory=dict)


class ModelOut(BaseModel):
    version: int = Field(0, description="0: trained from the shipped set only")
    trained_at: datetime | None = None
    corrections: int = Field(0, description="corrections the current model learned from")
    heldout: HeldoutOut | None = None


class RoutingOut(BaseModel):
    model: ModelOut
    corrections: CorrectionsOut


class RetrainOut(BaseModel):
    accepted: bool
    message: str
    version: int | None = None
    corrections: int | None = None
    heldout: HeldoutOut | None = None
    previous: HeldoutOut | None = None


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
    return action_result(conv)


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
    return action_result(conv)


@routing_api.add(
    "GET",
    "/api/routing",
    response=RoutingOut,
    tag="routing",
    errors=(403,),
    summary="The routing model and the corrections per category (admin)",
)
async def routing_status(request: web.Request) -> RoutingOut:
    require_admin(request)
    state = request.app[ROUTING_STATE]
    doc = await state.model()
    counts = await state.corrections_by_category()
    return RoutingOut.model_validate(
        {
            "model": {
                "version": doc.get("version", 0),
                "trained_at": doc.get("trained_at"),
                "corrections": doc.get("corrections", 0),
                "heldout": doc.get("heldout"),
            },
            "corrections": {"total": sum(counts.values()), "by_category": counts},
        }
    )


@routing_api.add(
    "POST",
    "/api/routing/retrain",
    response=RetrainOut,
    tag="routing",
    errors=(403, 503),
    summary="Retrain the routing model from the shipped set and corrections (admin); "
    "refused (accepted false) when it routes more than 1% fewer held-out messages right",
)
async def retrain_model(request: web.Request) -> RetrainOut:
    require_admin(request)
    return RetrainOut.model_validate(await request.app[ROUTING_STATE].retrain())
