"""Coupang (WING) runs the shared conformance suite (inbox_core.testing.conformance)."""

from __future__ import annotations

import orjson

from inbox_core.http import RetryPolicy
from inbox_core.schema import InboundMessage
from inbox_core.testing.conformance import ChannelSpec, Exempt, Fixture, channel_conformance
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.coupang import BOARD_CALL_CENTER, BOARD_ONLINE, Coupang
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


def market(board: str = BOARD_ONLINE.name) -> Market:
    app = sim.create_app([VENDOR])
    state = app[sim.SIM_STATE]

    def ask(text: str) -> str:
        if board == BOARD_CALL_CENTER.name:
            return str(state.add_call_center(content=text, inquiry_at=ago(1))["inquiryId"])
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
        board=board,
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

# The second board: call-center inquiries are polled on their own cursor.
_, call_center_poll = market_platforms(
    lambda: market(BOARD_CALL_CENTER.name), "coupang", VENDOR.vendor_id
)
TestCoupangCallCenterConformance = channel_conformance(
    ChannelSpec(
        name="coupang",
        fixtures=FIXTURES / "coupang",
        normalise=normalise,
        verify=NO_VERIFY,
        send=Exempt("run for the online board above"),
        poll=call_center_poll,
    ),
    parts=("poll",),
)
