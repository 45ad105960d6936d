from __future__ import annotations

from pathlib import Path

from pydantic import Field

from inbox_core.settings import ServiceSettings

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")


class RouterSettings(ServiceSettings):
    port: int = Field(8084, validation_alias="INBOX_ROUTER_PORT")
    rules_path: Path = Field(DEFAULT_RULES, validation_alias="INBOX_ROUTER_RULES")
