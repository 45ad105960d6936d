"""`INBOX_AGENT_TOKENS` entries `name:token[:role]`: roles, defaults, and errors that name
the entry but never show its token."""

from __future__ import annotations

import pytest

from inbox_core.settings import AgentTokens


def test_roles_default_to_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_AGENT_TOKENS", "민지:tok-a:admin, 준호:tok-b ,수아:tok-c:agent")
    assert AgentTokens().parse_roles() == {
        "tok-a": ("민지", "admin"),
        "tok-b": ("준호", "agent"),
        "tok-c": ("수아", "agent"),
    }
    assert AgentTokens().parse() == {"tok-a": "민지", "tok-b": "준호", "tok-c": "수아"}


@pytest.mark.parametrize(
    "entry",
    ["minji:s3cret-token:owner", "minji:", ":s3cret-token"],
    ids=["unknown-role", "no-token", "no-name"],
)
def test_bad_entries_are_refused_without_showing_the_token(
    monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("INBOX_AGENT_TOKENS", entry)
    with pytest.raises(ValueError, match="INBOX_AGENT_TOKENS") as err:
        AgentTokens().parse_roles()
    assert "s3cret-token" not in str(err.value)
