"""TalkTalk events: `normalise` on named payloads, strict refusal of wrong shapes, the empty
acknowledgement and the echo loop guard of `prepare`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from inbox_core.connector import RawRequest
from inbox_core.errors import InvalidPayload
from inbox_ingest_social.channels.naver_talktalk import NaverTalkTalk, TalkTalkConfig
from inbox_ingest_social.echo_ledger import sent_key
from inbox_ingest_social.simulators.naver_talktalk import build_event, echo_event

FOLDER = "naver_talktalk"
CASES = sorted(
    p.name.removesuffix(".expected.json")
    for p in (Path(__file__).parents[1] / "fixtures" / FOLDER).glob("*.expected.json")
)
USER = "al-2eGuGr5WQOnco1_V-FQ"

RawFactory = Callable[..., RawRequest]


def _channel(account: str = "talktalk", ledger: Any = None) -> NaverTalkTalk:
    return NaverTalkTalk(account, TalkTalkConfig(token="ct_wc8b1i_x"), ledger=ledger)


def _body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _request(raw_request: RawFactory, payload: Any) -> RawRequest:
    return raw_request(_body(payload), path="/webhooks/naver-talktalk")


def test_fixture_corpus_holds_every_named_case() -> None:
    assert {
        "send_text",
        "send_image",
        "send_button_code",
        "send_standby",
        "echo_partner_center",
        "open_from_product",
        "leave",
        "friend_on",
    } <= set(CASES)


@pytest.mark.parametrize("event", ["open", "leave", "friend"], ids=["open", "leave", "friend"])
def test_events_without_text_never_become_messages(event: str, raw_request: RawFactory) -> None:
    assert _channel().normalise(_request(raw_request, build_event(event, USER))) == []


def test_account_comes_from_the_configuration(raw_request: RawFactory) -> None:
    [message] = _channel("myshop").normalise(
        _request(raw_request, build_event("send", USER, text="안녕하세요"))
    )
    assert message.account == "myshop"
    assert message.thread_keys == [f"naver_talktalk:myshop:{USER}"]


def test_same_event_in_the_same_second_gets_the_same_id(raw_request: RawFactory) -> None:
    request = _request(raw_request, build_event("send", USER, text="네"))

    def at(delta: timedelta) -> RawRequest:
        return RawRequest(
            request.method,
            request.path,
            request.headers,
            request.query,
            request.body,
            request.received_at + delta,
        )

    [a] = _channel().normalise(request)
    [b] = _channel().normalise(at(timedelta(milliseconds=700)))
    [c] = _channel().normalise(at(timedelta(seconds=1)))
    assert a.external_id == b.external_id != c.external_id


def test_echo_and_send_of_the_same_text_are_different_messages(raw_request: RawFactory) -> None:
    [sent] = _channel().normalise(_request(raw_request, build_event("send", USER, text="네")))
    [echo] = _channel().normalise(_request(raw_request, echo_event(USER, "wc8b1i", "네")))
    assert sent.external_id != echo.external_id
    assert (echo.direction.value, echo.flags.echo) == ("out", True)


def test_acknowledgement_is_an_empty_200(raw_request: RawFactory) -> None:
    channel = _channel()
    request = _request(raw_request, build_event("send", USER, text="안녕하세요"))
    response = channel.acknowledge(request, channel.normalise(request))
    assert response.status == 200 and not response.body


def _with(**changes: Any) -> bytes:
    body = build_event("send", USER, text="사이즈 교환 가능한가요?")
    for key, value in changes.items():
        if value is _DELETE:
            del body[key]
        else:
            body[key] = value
    return _body(body)


_DELETE = object()
INVALID = {
    "not_json": b'{"event": "send", ',
    "json_array": b"[]",
    "no_event": _with(event=_DELETE),
    "unknown_event": _with(event="block"),
    "event_not_string": _with(event=1),
    "no_user": _with(user=_DELETE),
    "user_with_colon": _with(user="al:2e"),
    "no_content": _with(textContent=_DELETE),
    "two_contents": _with(imageContent={"imageUrl": "https://talk.phinf.naver.net/a.jpg"}),
    "text_not_string": _with(textContent={"text": 3}),
    "image_not_http": _with(textContent=_DELETE, imageContent={"imageUrl": "file:///etc/passwd"}),
    "composite_empty": _with(textContent=_DELETE, compositeContent={"compositeList": []}),
    "options_not_object": _with(options=[]),
    "mobile_not_bool": _with(options={"mobile": "yes"}),
    "standby_not_bool": _with(standby="true"),
    "open_options_list": _body({"event": "open", "user": USER, "options": []}),
    "not_utf8": b"\xff\xfe{}",
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_normalise_refuses_unreadable_payload(body: bytes, raw_request: RawFactory) -> None:
    with pytest.raises(InvalidPayload):
        _channel().normalise(raw_request(body, path="/webhooks/naver-talktalk"))


# -- prepare: the echo loop guard -----------------------------------------------------------


class FakeLedger:
    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)

    async def consume(self, key: str) -> bool:
        if key in self.keys:
            self.keys.remove(key)
            return True
        return False


async def test_echo_of_our_own_send_is_dropped_once(raw_request: RawFactory) -> None:
    ours = sent_key("naver_talktalk", "talktalk", USER, "교환 접수 완료되었습니다.")
    channel = _channel(ledger=FakeLedger(ours))
    echo = channel.normalise(
        _request(raw_request, echo_event(USER, "wc8b1i", "교환 접수 완료되었습니다."))
    )
    customer = channel.normalise(_request(raw_request, build_event("send", USER, text="네")))
    async with aiohttp.ClientSession() as http:
        assert await channel.prepare(echo + customer, http) == customer
        # the note was used up: the same text typed again by an agent is kept
        assert await channel.prepare(echo, http) == echo
