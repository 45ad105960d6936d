"""`inbox-router` runs the router; `inbox-router retrain` retrains its routing model."""

from __future__ import annotations

import asyncio
import sys

import orjson

from inbox_core.runtime import run_service
from inbox_core.store import Store
from inbox_router.app import create_app
from inbox_router.learning import ModelHolder, retrain
from inbox_router.rules import load_rules
from inbox_router.settings import RouterSettings

USAGE = """usage: inbox-router [retrain]

  (no command)  run the router service
  retrain       train the routing model from the shipped labelled set plus agents'
                corrections (MONGODB_URL), keep it unless it routes more than 1% fewer
                held-out messages right than the current one; running routers reload it.
                Exit status 0 when accepted, 1 when refused."""


async def retrain_command(settings: RouterSettings) -> int:
    store = Store(settings)
    try:
        result = await retrain(store.db, load_rules(settings.rules_path), ModelHolder())
    finally:
        await store.close()
    print(result.message)
    print(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    return 0 if result.accepted else 1


def main() -> None:
    args = sys.argv[1:]
    settings = RouterSettings()
    if args == ["retrain"]:
        raise SystemExit(asyncio.run(retrain_command(settings)))
    if args:
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    run_service("router", settings, lambda: create_app(settings))


if __name__ == "__main__":
    main()
