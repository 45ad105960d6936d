"""Property: whatever Open Builder (or anyone) posts, `normalise` reads messages or raises
InvalidPayload, never anything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from inbox_core.connector import RawRequest
from inbox_core.errors import InvalidPayload
from inbox_core.schema import InboundMessage
from inbox_ingest_social.channels.kakao import Kakao, KakaoConfig

ARRIVED = datetime(2025, 11, 20, tzinfo=UTC)
CHANNEL = Kakao("*", KakaoConfig(callback_hosts=("kakao.com",)))

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


keys = mostly(
    st.sampled_from(["T8x9DhjAiBrv", "226f81aef15e8f58", "a" * 70]),
    st.sampled_from(["", "a:b", "x" * 200, "키"]) | json_values,
)
names = mostly(st.text(max_size=10))
skill_bodies = st.fixed_dictionaries(
    {
        "userRequest": mostly(
            st.fixed_dictionaries(
                {
                    "utterance": mostly(st.text(max_size=30)),
                    "user": mostly(
                        st.fixed_dictionaries(
                            {"id": keys},
                            optional={
                                "properties": mostly(
                                    st.fixed_dictionaries(
                                        {},
                                        optional={
                                            "plusfriendUserKey": keys,
                                            "isFriend": mostly(st.booleans()),
                                            "appUserId": names,
                                        },
                                    )
                                )
                            },
                        )
                    ),
                },
                optional={
                    "callbackUrl": mostly(
                        st.sampled_from(
                            ["https://bot-api.kakao.com/v1/bots/b/callback/t", "https://x.example/"]
                        )
                        | st.text(max_size=20)
                    ),
                    "params": mostly(st.fixed_dictionaries({}, optional={"surface": names})),
                    "block": mostly(st.fixed_dictionaries({}, optional={"name": names})),
                },
            )
        ),
        "bot": mostly(
            st.fixed_dictionaries(
                {"id": mostly(st.sampled_from(["5ae9b76d7409b11ec845b746", "bot-1"]))},
                optional={"name": names},
            )
        ),
    },
    optional={
        "intent": mostly(st.fixed_dictionaries({}, optional={"name": names})),
        "action": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "params": mostly(st.dictionaries(st.text(max_size=5), st.text(max_size=5))),
                    "clientExtra": json_values,
                },
            )
        ),
        "flow": json_values,
    },
)


@given(value=json_values | skill_bodies)
@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@example(value={"userRequest": {"utterance": "", "user": {"id": "u"}}, "bot": {"id": "b"}})
def test_normalise_returns_messages_or_raises_invalid_payload(value: Any) -> None:
    request = RawRequest("POST", "/webhooks/kakao", {}, {}, json.dumps(value).encode(), ARRIVED)
    try:
        result = CHANNEL.normalise(request)
    except InvalidPayload:
        event("refused")
        return
    event(f"read {len(result)} messages")
    assert all(isinstance(m, InboundMessage) for m in result)
    for message in result:
        assert message.channel == "kakao" and message.received_at.tzinfo is not None
        assert message.thread_keys == [f"kakao:{message.account}:{message.customer.id}"]
        # the acknowledgement never fails on what normalise accepted
        assert CHANNEL.acknowledge(request, result).status == 200


@given(body=st.binary(max_size=64))
@settings(deadline=None)
def test_normalise_on_random_bytes_raises_only_invalid_payload(body: bytes) -> None:
    try:
        CHANNEL.normalise(RawRequest("POST", "/webhooks/kakao", {}, {}, body, ARRIVED))
    except InvalidPayload:
        pass
