"""Property: whatever reaches the TalkTalk webhook, `normalise` reads messages or raises
InvalidPayload, never anything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from inbox_core.connector import RawRequest
from inbox_core.errors import InvalidPayload
from inbox_core.schema import Direction, InboundMessage
from inbox_ingest_social.channels.naver_talktalk import NaverTalkTalk, TalkTalkConfig

ARRIVED = datetime(2025, 11, 20, tzinfo=UTC)
CHANNEL = NaverTalkTalk("talktalk", TalkTalkConfig())

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def mostly(valid: st.SearchStrategy[Any], junk: st.SearchStrategy[Any] = json_values) -> Any:
    """Nine times in ten a well-formed value, else junk: so the deep paths are reached too."""
    return st.sampled_from([*[valid] * 9, junk]).flatmap(lambda strategy: strategy)


contents = st.one_of(
    st.fixed_dictionaries(
        {"textContent": mostly(st.fixed_dictionaries({"text": mostly(st.text(max_size=20))}))}
    ),
    st.fixed_dictionaries(
        {
            "imageContent": mostly(
                st.fixed_dictionaries(
                    {"imageUrl": mostly(st.sampled_from(["https://talk.phinf.naver.net/a.jpg"]))}
                )
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "compositeContent": mostly(
                st.fixed_dictionaries(
                    {
                        "compositeList": mostly(
                            st.lists(
                                st.fixed_dictionaries(
                                    {},
                                    optional={
                                        "title": mostly(st.text(max_size=8)),
                                        "description": mostly(st.text(max_size=8)),
                                        "buttonList": json_values,
                                    },
                                ),
                                max_size=2,
                            )
                        )
                    }
                )
            )
        }
    ),
    st.fixed_dictionaries({}),
)
events = st.builds(
    lambda head, content: {**head, **content},
    st.fixed_dictionaries(
        {
            "event": mostly(
                st.sampled_from(["send", "echo", "open", "leave", "friend", "handover"])
            ),
            "user": mostly(st.sampled_from(["al-2eGuGr5WQOnco1_V-FQ", "u_1"])),
        },
        optional={
            "options": mostly(
                st.fixed_dictionaries({}, optional={"mobile": mostly(st.booleans())})
            ),
            "standby": mostly(st.booleans()),
            "echoedEvent": mostly(st.sampled_from(["send", "action"])),
            "partner": mostly(st.text(max_size=6)),
        },
    ),
    contents,
)


@given(value=json_values | events)
@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@example(value={"event": "send", "user": "u", "compositeContent": {"compositeList": [{}]}})
@example(value={"event": "send", "user": "u", "compositeContent": {"compositeList": [2**70]}})
def test_normalise_returns_messages_or_raises_invalid_payload(value: Any) -> None:
    body = json.dumps(value).encode()
    request = RawRequest("POST", "/webhooks/naver-talktalk", {}, {}, body, ARRIVED)
    try:
        result = CHANNEL.normalise(request)
    except InvalidPayload:
        event("refused")
        return
    event(f"read {len(result)} messages")
    assert all(isinstance(m, InboundMessage) for m in result)
    for message in result:
        assert message.channel == "naver_talktalk" and message.received_at.tzinfo is not None
        assert (message.direction is Direction.OUT) == message.flags.echo


@given(body=st.binary(max_size=64))
@settings(deadline=None)
def test_normalise_on_random_bytes_raises_only_invalid_payload(body: bytes) -> None:
    try:
        CHANNEL.normalise(RawRequest("POST", "/", {}, {}, body, ARRIVED))
    except InvalidPayload:
        pass
