"""Settings of ingest-mail. Env names are the public contract (DESIGN.md)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from inbox_core.settings import ServiceSettings

DEFAULT_HTTP_PORT: Final = 8082
DEFAULT_SMTP_PORT: Final = 2525
DEFAULT_MAX_BYTES: Final = 25 * 1024 * 1024
DEFAULT_IMAP_POLL_S: Final = 60.0
DEFAULT_IMAP_IDLE_S: Final = 300.0  # RFC 2177: re-issue IDLE at least every 29 minutes
DEFAULT_AUTO_REPLY_LIMIT: Final = 3

# scheme → (default port, implicit TLS, STARTTLS)
_RELAY_SCHEMES: Final = {
    "smtp": (25, False, False),
    "smtp+starttls": (587, False, True),
    "smtps": (465, True, False),
}


@dataclass(frozen=True)
class RelayConfig:
    """Where outbound mail goes, parsed from `SMTP_RELAY_URL`."""

    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the password
        return (
            f"RelayConfig(host={self.host!r}, port={self.port}, tls={self.use_tls}, "
            f"starttls={self.start_tls}, user={'***' if self.username else None})"
        )


def parse_relay_url(url: str) -> RelayConfig:
    """`smtp://[user:password@]host[:port]`, also `smtp+starttls://` and `smtps://`."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _RELAY_SCHEMES:
        raise ValueError(
            f"SMTP_RELAY_URL scheme {scheme!r} is not one of {', '.join(_RELAY_SCHEMES)}"
        )
    default_port, use_tls, start_tls = _RELAY_SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError as err:
        raise ValueError("SMTP_RELAY_URL has an invalid port") from err
    if not parts.hostname:
        raise ValueError("SMTP_RELAY_URL has no host")
    return RelayConfig(
        host=parts.hostname,
        port=port,
        use_tls=use_tls,
        start_tls=start_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class MailSettings(ServiceSettings):
    # SMTP_RELAY_URL may carry a password: keep input values out of validation errors.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    port: int = Field(DEFAULT_HTTP_PORT, validation_alias="INBOX_MAIL_HTTP_PORT")
    smtp_port: int = Field(DEFAULT_SMTP_PORT, ge=0, le=65535, validation_alias="INBOX_SMTP_PORT")
    # Recipient domains we accept mail for; empty accepts any domain (local use).
    mail_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="INBOX_MAIL_DOMAINS"
    )
    max_message_size: int = Field(DEFAULT_MAX_BYTES, gt=0, validation_alias="INBOX_MAIL_MAX_BYTES")
    # May hold credentials, hence a secret.
    smtp_relay_url: SecretStr | None = Field(None, validation_alias="SMTP_RELAY_URL")
    smtp_hostname: str = Field(
        default_factory=socket.gethostname, validation_alias="INBOX_SMTP_HOSTNAME"
    )
    # STARTTLS on the inbound listener: both PEM files, or neither (no STARTTLS offered).
    smtp_tls_cert: Path | None = Field(None, validation_alias="INBOX_SMTP_TLS_CERT")
    smtp_tls_key: Path | None = Field(None, validation_alias="INBOX_SMTP_TLS_KEY")
    smtp_require_tls: bool = Field(False, validation_alias="INBOX_SMTP_REQUIRE_TLS")
    # IMAP mailboxes to poll: a YAML or JSON file (see README, "IMAP").
    imap_accounts: Path | None = Field(None, validation_alias="INBOX_IMAP_ACCOUNTS")
    imap_poll_s: float = Field(DEFAULT_IMAP_POLL_S, gt=0, validation_alias="INBOX_IMAP_POLL_S")
    imap_idle_s: float = Field(
        DEFAULT_IMAP_IDLE_S, gt=0, le=1740, validation_alias="INBOX_IMAP_IDLE_S"
    )
    imap_backoff_max_s: float = Field(300.0, gt=0, validation_alias="INBOX_IMAP_BACKOFF_MAX_S")
    # Domain of our outbound Message-IDs; default: the first INBOX_MAIL_DOMAINS entry.
    message_id_domain: str | None = Field(None, validation_alias="INBOX_MAIL_MESSAGE_ID_DOMAIN")
    # Automatic replies (router templates) per customer address, account and day.
    auto_reply_limit: int = Field(
        DEFAULT_AUTO_REPLY_LIMIT, ge=0, validation_alias="INBOX_MAIL_AUTO_REPLY_LIMIT"
    )

    @field_validator("mail_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(d).strip().lower().rstrip(".") for d in value if str(d).strip()]
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> MailSettings:
        if (self.smtp_tls_cert is None) != (self.smtp_tls_key is None):
            raise ValueError("INBOX_SMTP_TLS_CERT and INBOX_SMTP_TLS_KEY go together")
        if self.smtp_require_tls and self.smtp_tls_cert is None:
            raise ValueError("INBOX_SMTP_REQUIRE_TLS needs INBOX_SMTP_TLS_CERT and _KEY")
        return self

    @field_validator("smtp_relay_url")
    @classmethod
    def _check_relay(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_relay_url(value.get_secret_value())  # fail at start, not at the first reply
        return value

    def relay(self) -> RelayConfig | None:
        if self.smtp_relay_url is None:
            return None
        return parse_relay_url(self.smtp_relay_url.get_secret_value())

    @property
    def from_domain(self) -> str:
        """The domain of our outbound From address."""
        return self.mail_domains[0] if self.mail_domains else "localhost"

    @property
    def id_domain(self) -> str:
        """The domain of our outbound Message-IDs."""
        return (self.message_id_domain or self.from_domain).strip().lower().rstrip(".")

    def accepts_domain(self, domain: str) -> bool:
        return not self.mail_domains or domain.lower().rstrip(".") in self.mail_domains
