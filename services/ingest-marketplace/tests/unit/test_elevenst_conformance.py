"""11st runs the shared conformance suite (inbox_core.testing.conformance)."""

from __future__ import annotations

from inbox_core.http import RetryPolicy
from inbox_core.schema import InboundMessage
from inbox_core.testing.conformance import ChannelSpec, Fixture, channel_conformance
from inbox_ingest_marketplace.channels.board_poller import PollOptions
from inbox_ingest_marketplace.channels.elevenst import (
    BOARD_QNAS,
    Elevenst,
    normalise_product_qna,
)
from inbox_ingest_marketplace.channels.elevenst_xml import decode_xml, parse_qna_list, parse_xml
from inbox_ingest_marketplace.simulators import elevenst as sim

from .market_conformance import FIXTURES, NO_VERIFY, Market, ago, market_platforms

ACCOUNT = "11st"
KEY = "0123456789abcdef0123456789abcdef"


def normalise(fixture: Fixture) -> list[InboundMessage]:
    """A whole Q&A list answer, bytes and Content-Type as 11st sends them (EUC-KR mostly)."""
    content_type = fixture.request.get("headers", {}).get("Content-Type")
    listed = parse_qna_list(parse_xml(decode_xml(fixture.raw, content_type)))
    return [normalise_product_qna(item, fixture.account(ACCOUNT)).message for item in listed.items]


def market() -> Market:
    app = sim.create_app({KEY: "seller1"})
    state = app[sim.SIM_STATE]

    def ask(text: str) -> str:
        return str(state.add_question(content=text, created=ago(1))["brdInfoNo"])

    return Market(
        app=app,
        api_prefix="",
        channel_at=lambda url: Elevenst(
            ACCOUNT, api_key=KEY, base_url=url, options=PollOptions(retry=RetryPolicy(attempts=1))
        ),
        ask=ask,
        thread_key=lambda qid: f"elevenst:{ACCOUNT}:qna:{qid}",
        answer_call="PUT ",
        board=BOARD_QNAS.name,
        reply_context={"product_id": "48073872"},  # the answer call names the product
    )


send, poll = market_platforms(market, "elevenst", ACCOUNT)

TestElevenstConformance = channel_conformance(
    ChannelSpec(
        name="elevenst",
        fixtures=FIXTURES / "elevenst",
        normalise=normalise,
        verify=NO_VERIFY,
        send=send,
        poll=poll,
    )
)
