"""`inbox-ingest-mail`: run the mail connector until SIGINT/SIGTERM."""

from __future__ import annotations

from inbox_core.runtime import run_service
from inbox_ingest_mail.app import SERVICE, create_app
from inbox_ingest_mail.settings import MailSettings


def main() -> None:
    settings = MailSettings()
    run_service(SERVICE, settings, lambda: create_app(settings))


if __name__ == "__main__":
    main()
