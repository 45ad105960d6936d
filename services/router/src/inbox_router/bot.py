"""The router's FAQ bot decision (pure): does the bot answer this message?

- The connector may have answered already (the Kakao skill response carries the answer;
  context `bot_answer`): recorded as delivered.
- A connector that checked the FAQ and did not answer (context `faq_checked`) is final: the
  router does not send a second, later answer.
- Otherwise the bot answers what `inbox_core.faq.bot_answer` says, but never into a
  conversation an agent has (open or pending): only new or resolved conversations.
When the bot answers, the rule's acknowledgement auto-reply is dropped: one answer is enough;
when an escalation rule made the message urgent, the bot does not answer.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from inbox_core.faq import FaqSnapshot, bot_answer
from inbox_core.logging import get_logger
from inbox_core.schema import BotAnswer, InboundMessage, Priority, RoutingDecision
from inbox_router.conversations import Resolution

log = get_logger(__name__)

_AGENT_HAS_IT = ("joins the open conversation", "joins the pending conversation")


def agent_has_it(resolution: Resolution) -> bool:
    return not resolution.created and any(s in resolution.how for s in _AGENT_HAS_IT)


def decide_bot_answer(
    snapshot: FaqSnapshot,
    message: InboundMessage,
    resolution: Resolution,
    now: datetime | None = None,
) -> BotAnswer | None:
    given = message.context.get("bot_answer")
    if isinstance(given, dict):
        try:
            answer = BotAnswer.model_validate({**given, "delivered": True})
        except ValidationError as err:
            log.warning("connector's bot answer unreadable", error=str(err))
            return None
        return answer.model_copy(update={"resolve": not agent_has_it(resolution)})
    if message.context.get("faq_checked") or agent_has_it(resolution):
        return None
    return bot_answer(snapshot, message, now=now, number=resolution.number)


def with_bot_answer(decision: RoutingDecision, answer: BotAnswer | None) -> RoutingDecision:
    if answer is None:
        return decision
    if decision.priority == Priority.URGENT:
        # An escalation rule matched: a person answers. An answer the connector already gave
        # is recorded, but the conversation stays open for agents.
        if not answer.delivered:
            return decision
        answer = answer.model_copy(update={"resolve": False})
    decision.bot_answer = answer
    decision.auto_reply = None
    decision.reasons.append(f"faq: the bot answers with entry {answer.faq_id} ({answer.score:g})")
    return decision
