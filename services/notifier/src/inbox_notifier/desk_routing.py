"""Desk actions that change the routing: team, priority, and category tags.

Each change is written in `routing_reasons` with the acting agent; a team change or a category
tag is also kept as a routing correction (see corrections.py) that `inbox-router retrain`
learns from. A priority change moves the SLA due times to the new priority's targets (which
the router sent with the conversation), never past a platform's own deadline.
"""

from __future__ import annotations

from typing import Any

from inbox_core.schema import Priority, utcnow
from inbox_core.sla import sla_for_priority
from inbox_notifier.corrections import category_table, record_correction


class RoutingDesk:
    """Mixed into Desk: needs `db`, `queue`, `conversation`, `_update` and `_emit`."""

    db: Any
    queue: Any

    async def conversation(self, conv_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _update(self, *args: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def _emit(self, conv: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def set_team(
        self, conv_id: str, team: str, agent: str, category: str | None = None
    ) -> dict[str, Any]:
        """Move a conversation to `team` (and the category it implies, or `category`)."""
        conv = await self.conversation(conv_id)
        current = conv.get("category") or "general"
        table = await category_table(self.db)
        new_category = category or table.for_team(team, current) or current
        if team == conv.get("team") and new_category == current:
            return conv
        now = utcnow()
        reason = f"team {conv.get('team')} → {team} by {agent}"
        if new_category != current:
            reason += f" (category {current} → {new_category})"
        updated = await self._update(
            conv_id,
            {"version": conv.get("version", 0)},
            {
                "$set": {"team": team, "category": new_category},
                "$push": {"routing_reasons": reason},
            },
            "conflict",
            "conversation #{number} changed while moving it; retry",
        )
        await self.queue.count_changes([(conv, updated)])  # reports follow team and category
        await record_correction(
            self.db,
            conv,
            kind="team",
            agent=agent,
            at=now,
            to_team=team,
            to_category=new_category,
        )
        await self._emit(updated, [])
        return updated

    async def set_priority(self, conv_id: str, priority: Priority, agent: str) -> dict[str, Any]:
        conv = await self.conversation(conv_id)
        if conv.get("priority") == priority.value:
            return conv
        now = utcnow()
        before = dict(conv.get("sla") or {})
        sla, problem = sla_for_priority(before, priority, now, self.queue.clock)
        reason = f"priority {conv.get('priority')} → {priority.value} by {agent}"
        if problem:
            reason += f"; {problem}"
        updated = await self._update(
            conv_id,
            {"version": conv.get("version", 0)},
            {
                "$set": {"priority": priority.value, **self.queue.sla_update(before, sla, now)},
                "$push": {"routing_reasons": reason},
            },
            "conflict",
            "conversation #{number} changed while changing its priority; retry",
        )
        await self.queue.count_changes([(conv, updated)])  # a breach may end with the new SLA
        await self._emit(updated, [])
        return updated

    async def category_from_tags(
        self, before: dict[str, Any], added: list[str], agent: str
    ) -> dict[str, Any] | None:
        """After a tag change: a category tag sets the conversation's category and is kept
        as a correction. The updated conversation, or None when no category changed."""
        table = await category_table(self.db)
        category = table.for_tags(added)
        current = before.get("category") or "general"
        if category is None or category == current:
            return None
        now = utcnow()
        updated = await self._update(
            before["_id"],
            {},
            {
                "$set": {"category": category},
                "$push": {"routing_reasons": f"category {current} → {category} by {agent} (tag)"},
            },
            "conflict",
            "conversation changed",
        )
        await record_correction(
            self.db,
            before,
            kind="tag",
            agent=agent,
            at=now,
            to_team=None,
            to_category=category,
        )
        return updated
