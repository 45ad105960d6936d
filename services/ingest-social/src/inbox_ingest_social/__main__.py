"""`inbox-ingest-social`: serve the social webhooks and deliver replies until SIGINT/SIGTERM."""

from __future__ import annotations

from inbox_core.runtime import run_service
from inbox_ingest_social.app import SERVICE, create_app
from inbox_ingest_social.settings import SocialSettings


def main() -> None:
    settings = SocialSettings()
    run_service(SERVICE, settings, lambda: create_app(settings))


if __name__ == "__main__":
    main()
