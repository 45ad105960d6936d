from __future__ import annotations

from inbox_core.runtime import run_service
from inbox_router.app import create_app
from inbox_router.settings import RouterSettings


def main() -> None:
    settings = RouterSettings()
    run_service("router", settings, lambda: create_app(settings))


if __name__ == "__main__":
    main()
