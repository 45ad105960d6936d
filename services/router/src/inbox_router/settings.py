from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from inbox_core.settings import ServiceSettings

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")


class RouterSettings(ServiceSettings):
    port: int = Field(8084, validation_alias="INBOX_ROUTER_PORT")
    rules_path: Path = Field(DEFAULT_RULES, validation_alias="INBOX_ROUTER_RULES")
    # How often the rules file is checked for changes; 0 turns the check off (SIGHUP only).
    rules_poll_s: float = Field(2.0, ge=0, validation_alias="INBOX_ROUTER_RULES_POLL_S")
    # The routing model beside the rules (trained at start); 0 routes by the rules alone.
    model_enabled: bool = Field(True, validation_alias="INBOX_ROUTER_MODEL")
    # A reply to a conversation resolved longer ago than this starts a new, linked one.
    reopen_window_days: float = Field(7.0, gt=0, validation_alias="INBOX_ROUTER_REOPEN_WINDOW_DAYS")
    # Channels where a new message with the subject of an open conversation joins it.
    subject_join_channels: str = Field("mail", validation_alias="INBOX_ROUTER_SUBJECT_CHANNELS")

    @property
    def reopen_window(self) -> timedelta:
        return timedelta(days=self.reopen_window_days)

    @property
    def subject_channels(self) -> frozenset[str]:
        return frozenset(c.strip() for c in self.subject_join_channels.split(",") if c.strip())
