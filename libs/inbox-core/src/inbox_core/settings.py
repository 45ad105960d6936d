"""Settings shared by every service. Env names are the public contract (DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoreSettings(BaseSettings):
    """What every service needs: where the bus and the store are, and where state lives."""

    # An empty variable (`FOO=` in a .env file) means "use the default", not "empty string".
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias="NATS_URL")
    mongodb_url: str = Field("mongodb://127.0.0.1:27017", validation_alias="MONGODB_URL")
    mongodb_db: str = Field("inbox", validation_alias="INBOX_MONGODB_DB")
    # Store connections per service (unless MONGODB_URL sets maxPoolSize).
    mongodb_pool: int = Field(8, ge=1, le=1000, validation_alias="INBOX_MONGODB_POOL")
    data_dir: Path = Field(Path("./var"), validation_alias="INBOX_DATA_DIR")
    host: str = Field("0.0.0.0", validation_alias="INBOX_HOST")
    log_level: str = Field("INFO", validation_alias="INBOX_LOG_LEVEL")
    # Replicas of every stream: 1 on one node, 3 on a NATS cluster.
    stream_replicas: int = Field(1, ge=1, le=5, validation_alias="INBOX_STREAM_REPLICAS")
    # Deliveries before a message goes to the dead-letter stream.
    max_deliver: int = Field(5, ge=1, validation_alias="INBOX_MAX_DELIVER")
    # First nak delay; later ones grow exponentially up to `nak_max_delay_s`.
    nak_base_delay_s: float = Field(1.0, gt=0, validation_alias="INBOX_NAK_DELAY_S")
    nak_max_delay_s: float = Field(60.0, gt=0, validation_alias="INBOX_NAK_MAX_DELAY_S")
    ack_wait_s: float = Field(30.0, gt=0, validation_alias="INBOX_ACK_WAIT_S")
    shutdown_grace_s: float = Field(10.0, gt=0, validation_alias="INBOX_SHUTDOWN_GRACE_S")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()


class ServiceSettings(CoreSettings):
    """A service adds its port; subclasses set the default and the env name."""

    port: int = 0


ROLES = ("admin", "agent")


class AgentTokens(BaseSettings):
    """`INBOX_AGENT_TOKENS=name:token[:role],...` (role `admin` or `agent`, default `agent`);
    empty means the notifier mints an admin token."""

    model_config = SettingsConfigDict(extra="ignore")

    raw: SecretStr = Field(SecretStr(""), validation_alias="INBOX_AGENT_TOKENS")

    def parse(self) -> dict[str, str]:
        """token → agent name. Raises ValueError naming the bad entry."""
        return {token: name for token, (name, _) in self.parse_roles().items()}

    def parse_roles(self) -> dict[str, tuple[str, str]]:
        """token → (agent name, role). Raises ValueError naming the bad entry (never its token)."""
        tokens: dict[str, tuple[str, str]] = {}
        for entry in filter(None, (e.strip() for e in self.raw.get_secret_value().split(","))):
            name, _, rest = entry.partition(":")
            token, _, role = rest.partition(":")
            name, token, role = name.strip(), token.strip(), role.strip() or "agent"
            if not name or not token:
                raise ValueError(f"INBOX_AGENT_TOKENS entry {name!r} is not name:token[:role]")
            if role not in ROLES:
                raise ValueError(f"INBOX_AGENT_TOKENS entry {name!r}: role must be admin or agent")
            tokens[token] = (name, role)
        return tokens
