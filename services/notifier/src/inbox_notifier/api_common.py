"""What the agent API's route modules share: the desk on the app, and the answer of an
agent action."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from inbox_notifier.desk import Desk
from inbox_notifier.models import ActionResult
from inbox_notifier.queue import conversation_view, message_view

DESK = web.AppKey("desk", Desk)


def desk_of(request: web.Request) -> Desk:
    return request.app[DESK]


def action_result(conv: dict[str, Any], msg: dict[str, Any] | None = None) -> ActionResult:
    """What every agent action answers: the conversation after it, and the message it made."""
    return ActionResult.model_validate(
        {"conversation": conversation_view(conv), "message": message_view(msg) if msg else None}
    )
