"""Which categories each team handles and which tag names a category, from the rules.

The router publishes this table in `routing_state` (it owns that collection) so the notifier
knows what an agent's team change or category tag means without reading the rules file.
"""

from __future__ import annotations

from typing import Any, Final

from inbox_core.store import ROUTING_STATE
from inbox_router.rules import RuleSet

TABLE_ID: Final = "categories"


def category_table(rules: RuleSet) -> dict[str, Any]:
    categories: list[str] = []
    teams: dict[str, list[str]] = {}
    tags: dict[str, str] = {}
    for rule in rules.rules:
        category = rule.set.category
        if category is None:
            continue
        if category not in categories:
            categories.append(category)
        if rule.set.team and category not in teams.setdefault(rule.set.team, []):
            teams[rule.set.team].append(category)
        if rule.model_may() == "fallback":
            continue  # a catch-all's tags (오픈마켓) describe where, not what about
        for tag in rule.set.tags:
            tags.setdefault(tag, category)
    if "general" not in categories:
        categories.append("general")
    teams.setdefault(rules.default.team, ["general"])
    return {"categories": categories, "teams": teams, "tags": tags}


async def publish_category_table(db: Any, rules: RuleSet) -> None:
    await db[ROUTING_STATE].update_one(
        {"_id": TABLE_ID}, {"$set": category_table(rules)}, upsert=True
    )
