"""Naver smartstore (Commerce API) runs the shared conformance suite
(inbox_core.testing.conformance)."""

from __future__ import annotations

import bcrypt
import orjson

from inbox_core.http import RetryPolicy
from inbox_core.schema import InboundMessage
from inbox_core.testing.conformance import ChannelSpec, Exempt, Fixture, channel_conformance
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.naver_commerce import (
    BOARD_INQUIRIES,
    BOARD_QNAS,
    NaverCommerce,
)
from inbox_ingest_marketplace.channels.naver_normalise import normalise_inquiry, normalise_qna
from inbox_ingest_marketplace.simulators import naver_commerce as sim

from .market_conformance import FIXTURES, NO_VERIFY, Market, ago, market_platforms

ACCOUNT = "smartstore"
CLIENT_ID = "conformance-client"
# Cost 4, like the secrets Naver hands out ($2a$04$...): fast to sign and to check.
CLIENT_SECRET = bcrypt.gensalt(rounds=4, prefix=b"2a").decode()


def normalise(fixture: Fixture) -> list[InboundMessage]:
    """One item of the board the fixture names (`contents[]` of Q&A, `content[]` of
    customer inquiries), as the list call returns it."""
    item = orjson.loads(fixture.raw)
    account = fixture.account(ACCOUNT)
    if fixture.request["board"] == "inquiry":
        return [normalise_inquiry(item, account).message]
    return [normalise_qna(item, account).message]


def market(board: str = BOARD_QNAS.name) -> Market:
    app = sim.create_app(CLIENT_ID, CLIENT_SECRET)
    state = app[sim.SIM_STATE]

    def ask(text: str) -> str:
        if board == BOARD_INQUIRIES.name:
            return str(state.add_inquiry(content=text, registered=ago(1))["inquiryNo"])
        return str(state.add_question(question=text, create_date=ago(1))["questionId"])

    return Market(
        app=app,
        api_prefix=sim.PREFIX,
        channel_at=lambda url: NaverCommerce(
            ACCOUNT,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            base_url=url,
            options=PollOptions(retry=RetryPolicy(attempts=1)),
        ),
        ask=ask,
        thread_key=lambda qid: f"naver_commerce:{ACCOUNT}:qna:{qid}",
        answer_call="PUT ",
        board=board,
    )


send, poll = market_platforms(market, "naver_commerce", ACCOUNT)

TestNaverCommerceConformance = channel_conformance(
    ChannelSpec(
        name="naver_commerce",
        fixtures=FIXTURES / "naver_commerce",
        normalise=normalise,
        verify=NO_VERIFY,
        send=send,
        poll=poll,
    )
)

# The second board: customer inquiries (pay-user) are polled on their own cursor.
_, inquiries_poll = market_platforms(
    lambda: market(BOARD_INQUIRIES.name), "naver_commerce", ACCOUNT
)
TestNaverCommerceInquiriesConformance = channel_conformance(
    ChannelSpec(
        name="naver_commerce",
        fixtures=FIXTURES / "naver_commerce",
        normalise=normalise,
        verify=NO_VERIFY,
        send=Exempt("run for the Q&A board above"),
        poll=inquiries_poll,
    ),
    parts=("poll",),
)
