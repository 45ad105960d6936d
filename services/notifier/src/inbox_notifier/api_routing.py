"""Agent API for routing: move a conversation to a team, change its priority (both recorded
in `routing_reasons` with the agent), and, for admins, the corrections agents made and the
router's model (retrain). Registered on the shared route table (see app.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import BaseModel, Field

from inbox_core import subjects
from inbox_core.runtime import RUNTIME
from inbox_core.schema import Priority
from inbox_core.store import ROUTING_STATE
from inbox_notifier.api_common import DESK, action_result
from inbox_notifier.auth import AGENT, require_admin
from inbox_notifier.corrections import counts_by_category
from inbox_notifier.models import ActionResult, ApiModel
from inbox_notifier.routing import ApiError, RouteTable

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


RETRAIN_TIMEOUT_S = 300.0  # training takes seconds; a loaded machine may take a minute


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
    db = request.app[RUNTIME].store.db
    doc: dict[str, Any] = await db[ROUTING_STATE].find_one({"_id": "model"}) or {}
    counts = await counts_by_category(db)
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
    runtime = request.app[RUNTIME]
    nc = runtime.bus.nc
    if nc is None or not nc.is_connected:
        raise ApiError(503, "bus_unavailable", "the bus is unavailable; try again")
    try:
        reply = await nc.request(subjects.ROUTER_RETRAIN, b"{}", timeout=RETRAIN_TIMEOUT_S)
    except NoRespondersError as err:
        raise ApiError(503, "router_unavailable", "no router is running to retrain") from err
    except NatsTimeoutError as err:
        raise ApiError(503, "router_timeout", "the router did not answer in time") from err
    return RetrainOut.model_validate(orjson.loads(reply.data))
