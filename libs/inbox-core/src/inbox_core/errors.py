"""The error taxonomy. Translate platform and library errors into these at the boundary
(`raise TransientError(...) from err`); one consumer wrapper maps them to ack/nak/term."""

from __future__ import annotations


class InboxError(Exception):
    """Base of every error this project raises on purpose."""


class TransientError(InboxError):
    """Worth retrying later: network trouble, 5xx, 429, a store or bus outage."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(InboxError):
    """Credentials or signature rejected: a webhook answers 401, a poller marks its account
    unhealthy."""


class InvalidPayload(InboxError):
    """Input that can never be processed as is. Keep the raw bytes (DLQ) and move on."""


class PermanentError(InboxError):
    """Processing failed for good (e.g. the platform refused the reply). Recorded, not retried."""


class BusUnavailable(TransientError):
    """The bus did not confirm a publish. Connectors answer 503 / SMTP 451 and keep their cursor."""
