from __future__ import annotations

from inbox_core.runtime import run_service
from inbox_notifier.app import create_app
from inbox_notifier.settings import NotifierSettings


def main() -> None:
    settings = NotifierSettings()
    run_service("notifier", settings, lambda: create_app(settings))


if __name__ == "__main__":
    main()
