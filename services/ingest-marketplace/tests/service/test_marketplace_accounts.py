"""Several shops on several platforms from `INBOX_MARKET_ACCOUNTS`: each polled with its own
credentials and cursor; refused credentials stop only that account, shown per account in
/healthz and /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from inbox_core.store import CURSORS
from inbox_ingest_marketplace.testing import (
    STEP_TIMEOUT_S,
    decoded,
    inbound_messages,
    poll_all,
)

ACCOUNTS = """
- platform: naver_commerce
  account: shop-a
  client_id: {naver_id}
  client_secret: ${{SHOP_A_NAVER_SECRET}}
  url: {naver_url}
- platform: naver_commerce
  account: shop-b
  client_id: {naver_id}
  client_secret: "$2a$04$CCCCCCCCCCCCCCCCCCCCCe"
  url: {naver_url}
- platform: coupang
  account: A00012345
  access_key: {ak1}
  secret_key: ${{SHOP_A_COUPANG_SECRET}}
  vendor_id: A00012345
  url: {coupang_url}
- platform: coupang
  account: shop-b-coupang
  access_key: {ak2}
  secret_key: not-the-secret
  vendor_id: A00067890
  url: {coupang_url}
- platform: elevenst
  account: shop-a-11st
  api_key: ${{SHOP_A_11ST_KEY}}
  url: {elevenst_url}
"""
GOOD = {("naver_commerce", "shop-a"), ("coupang", "A00012345"), ("elevenst", "shop-a-11st")}
BAD = {("naver_commerce", "shop-b"), ("coupang", "shop-b-coupang")}


async def test_one_account_with_refused_credentials_stops_alone(
    naver_sim: Any,
    naver_credentials: Any,
    coupang: Any,
    coupang_vendors: list[Any],
    elevenst: Any,
    start_market: Any,
    eventually: Any,
    monkeypatch: Any,
    tmp_path: Path,
) -> None:
    naver_sim.state.add_question(question="키 165에 M 사이즈 괜찮을까요?")
    coupang.state.add_online(content="블랙 재입고 되나요?")
    coupang.state.add_online(content="다른 업체의 문의", vendor_id="A00067890")
    elevenst.state.add_question(content="평소 270 신는데 어떤 사이즈가 맞을까요?")
    path = tmp_path / "accounts.yaml"
    path.write_text(
        ACCOUNTS.format(
            naver_id=naver_credentials.client_id,
            naver_url=naver_sim.base_url,
            ak1=coupang_vendors[0].access_key,
            ak2=coupang_vendors[1].access_key,
            coupang_url=coupang.base_url,
            elevenst_url=elevenst.base_url,
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("SHOP_A_NAVER_SECRET", naver_credentials.client_secret)
    monkeypatch.setenv("SHOP_A_COUPANG_SECRET", coupang_vendors[0].secret_key)
    monkeypatch.setenv("SHOP_A_11ST_KEY", "0123456789abcdef0123456789abcdef")
    market = await start_market(INBOX_MARKET_ACCOUNTS=str(path), INBOX_MARKET_POLL_S="3600")

    async def settled() -> dict[str, Any] | None:
        resp = await market.client.get("/healthz")
        pollers = (await resp.json())["checks"]["pollers"]
        states = {
            (channel, account): detail["status"]
            for channel, entry in pollers.items()
            for account, detail in entry.get("accounts", {}).items()
        }
        done = all(states.get(key) == "ok" for key in GOOD) and all(
            states.get(key) == "auth_failed" for key in BAD
        )
        return pollers if resp.status == 200 and done else None

    pollers = await eventually(settled, timeout=30, what="every account settled")

    coupang_bad = pollers["coupang"]["accounts"]["shop-b-coupang"]
    assert "Invalid signature" in coupang_bad["last_error"] and coupang_bad["last_success"] is None
    assert "UNAUTHORIZED" in pollers["naver_commerce"]["accounts"]["shop-b"]["last_error"]
    good = pollers["coupang"]["accounts"]["A00012345"]
    assert good["lag_s"] is not None and good["last_success"] is not None
    assert set(good["boards"]) == {"online_inquiries", "call_center_inquiries"}
    for channel, account in GOOD:
        msgs = decoded(await inbound_messages(market, channel, account))
        assert len(msgs) == 1 and msgs[0].account == account
    for channel, account in BAD:
        assert await inbound_messages(market, channel, account) == []
    async with asyncio.timeout(STEP_TIMEOUT_S):
        cursors = {d["_id"] async for d in market.runtime.store.db[CURSORS].find({}, {"_id": 1})}
    assert "coupang:A00012345:online_inquiries" in cursors
    assert not any(
        c.startswith(("coupang:shop-b-coupang:", "naver_commerce:shop-b:")) for c in cursors
    )

    # The good Coupang account goes on while the other one waits.
    coupang.state.add_online(content="270 사이즈 있나요?")
    await poll_all(market.runner_for("coupang", "A00012345"), "online_inquiries")
    assert len(await inbound_messages(market, "coupang", "A00012345")) == 2

    async with asyncio.timeout(STEP_TIMEOUT_S):
        metrics = await (await market.client.get("/metrics")).text()
    assert (
        'inbox_market_auth_failed{account="shop-b-coupang",board="online_inquiries",'
        'channel="coupang"} 1.0' in metrics
    )
    assert (
        'inbox_market_poll_lag_seconds{account="shop-a",board="qnas",channel="naver_commerce"}'
        in metrics
    )
    health_text = str(pollers)
    assert naver_credentials.client_secret not in health_text
    assert coupang_vendors[0].secret_key not in health_text
