"""How many store connections a service opens."""

from __future__ import annotations

import pytest

from inbox_core.settings import CoreSettings
from inbox_core.store import Store


@pytest.mark.parametrize(
    ("url", "env", "pool"),
    [
        ("mongodb://127.0.0.1:1", {}, 8),
        ("mongodb://127.0.0.1:1", {"INBOX_MONGODB_POOL": "20"}, 20),
        ("mongodb://127.0.0.1:1/?maxPoolSize=3", {"INBOX_MONGODB_POOL": "20"}, 3),
    ],
)
async def test_pool_size_from_the_setting_unless_the_url_names_one(
    monkeypatch: pytest.MonkeyPatch, url: str, env: dict[str, str], pool: int
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = Store(CoreSettings(mongodb_url=url))
    try:
        assert store.client.options.pool_options.max_pool_size == pool
    finally:
        await store.close()
