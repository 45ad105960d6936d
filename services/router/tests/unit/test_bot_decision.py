from __future__ import annotations

import pytest

from inbox_core.schema import BotAnswer, Priority, RoutingDecision
from inbox_router.bot import with_bot_answer

ANSWER = BotAnswer(faq_id="shipping_time", score=0.9, text="1~3일 걸려요.")


def test_the_bot_answer_replaces_the_rule_acknowledgement() -> None:
    decision = with_bot_answer(RoutingDecision(auto_reply="접수되었습니다"), ANSWER)
    assert decision.bot_answer == ANSWER
    assert decision.auto_reply is None
    assert "faq: the bot answers with entry shipping_time (0.9)" in decision.reasons


@pytest.mark.parametrize("delivered", [False, True], ids=["not sent yet", "sent by Kakao"])
def test_an_urgent_message_stays_with_agents(delivered: bool) -> None:
    answer = ANSWER.model_copy(update={"delivered": delivered})
    decision = with_bot_answer(RoutingDecision(priority=Priority.URGENT), answer)
    if delivered:  # recorded as given, but the conversation is not resolved
        assert decision.bot_answer is not None and decision.bot_answer.resolve is False
    else:
        assert decision.bot_answer is None
