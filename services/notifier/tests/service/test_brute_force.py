"""Guessing tokens over HTTP: after 10 wrong tokens in a minute an address gets 429 with
Retry-After, while valid tokens from the same address go through as before."""

from __future__ import annotations

from typing import Any

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


async def test_repeated_wrong_tokens_get_429_but_valid_tokens_pass(
    notifier: NotifierHarness,
) -> None:
    url = f"{notifier.url}/api/conversations"
    statuses = []
    for n in range(12):
        headers = {"Authorization": f"Bearer guess-{n}"} if n % 2 else {}
        async with notifier.http.get(url, headers=headers) as resp:
            statuses.append(resp.status)
            body = await resp.json()
            retry_after = resp.headers.get("Retry-After")
    assert statuses == [401] * 10 + [429] * 2
    assert body["code"] == "too_many_failures"
    assert retry_after is not None and 1 <= int(retry_after) <= 60
    # The right token from the same address is not slowed down.
    for agent in ("minji", "junho", "minji"):
        assert (await notifier.get("/api/me", agent=agent))["agent"] == agent
    # A guess is still refused, and the right token cannot be found by guessing now.
    async with notifier.http.get(url, headers={"Authorization": "Bearer token-minj"}) as resp:
        assert resp.status == 429
