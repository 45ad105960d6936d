"""`inbox-ingest-marketplace`: serve until SIGINT/SIGTERM."""

from __future__ import annotations

from inbox_core.runtime import run_service
from inbox_ingest_marketplace.app import SERVICE, create_app
from inbox_ingest_marketplace.settings import MarketSettings


def main() -> None:
    settings = MarketSettings()
    run_service(SERVICE, settings, lambda: create_app(settings))


if __name__ == "__main__":
    main()
