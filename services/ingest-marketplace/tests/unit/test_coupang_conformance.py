"""Coupang (WING) runs the shared conformance suite (inbox_core.testing.conformance)."""

from __future__ import annotations

import orjson

from inbox_core.http import RetryPolicy
from inbox_core.schema import InboundMessage
from inbox_core.testing.conformance import ChannelSpec, Fixture, channel_conformance
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.coupang import BOARD_ONLINE, Coupang
from inbox_ingest_marketplace.channels.coupang_normalise import (
    normalise_call_center_inquiry,
    normalise_online_inquiry,
)
from inbox_ingest_marketplace.simulators import coupang as sim

from .market_conformance import FIXTURES, NO_VERIFY, Market, ago, market_platforms

VENDOR = sim.Vendor("A00010028", "ak-conformance", "sk-conformance-secret")


def normalise(fixture: Fixture) -> list[InboundMessage]:
    """One inquiry of the board the fixture names, as the list call returns it."""
    item = orjson.loads(fixture.raw)
    account = fixture.account(VENDOR.vendor_id)
    if fixture.request["board"] == "online":
        return [normalise_online_inquiry(item, account).message]
    return [normalise_call_center_inquiry(item, account, seller_ids={account}).message]


def market() -> Market:
    app = sim.create_app([VENDOR])
    state = app[sim.SIM_STATE]

    def ask(text: str) -> str:
        return str(state.add_online(content=text, inquiry_at=ago(1))["inquiryId"])

    return Market(
        app=app,
        api_prefix="",
        channel_at=lambda url: Coupang(
            VENDOR.vendor_id,
            access_key=VENDOR.access_key,
            secret_key=VENDOR.secret_key,
            vendor_id=VENDOR.vendor_id,
            base_url=url,
            options=PollOptions(retry=RetryPolicy(attempts=1)),
        ),
        ask=ask,
        thread_key=lambda qid: f"coupang:{VENDOR.vendor_id}:online:{qid}",
        answer_call="/replies",
        board=BOARD_ONLINE.name,
    )


send, poll = market_platforms(market, "coupang", VENDOR.vendor_id)

TestCoupangConformance = channel_conformance(
    ChannelSpec(
        name="coupang",
        fixtures=FIXTURES / "coupang",
        normalise=normalise,
        verify=NO_VERIFY,
        send=send,
        poll=poll,
    )
)
