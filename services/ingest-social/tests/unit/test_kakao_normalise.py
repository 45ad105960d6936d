"""Kakao skill requests: `normalise` on named payloads, `verify`, and the skill response."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inbox_core.connector import RawRequest
from inbox_core.errors import AuthError, InvalidPayload
from inbox_ingest_social.channels.kakao import Kakao, KakaoConfig, skill_response, split_text
from inbox_ingest_social.simulators.kakao import build_skill_payload, validate_skill_response

FOLDER = "kakao"
CASES = sorted(
    p.name.removesuffix(".expected.json")
    for p in (Path(__file__).parents[1] / "fixtures" / FOLDER).glob("*.expected.json")
)
TOKEN = "skill-token-상점-2025"
BOT = "5ae9b76d7409b11ec845b746"
CALLBACK = f"https://bot-api.kakao.com/v1/bots/{BOT}/callback/tok-1"

RawFactory = Callable[..., RawRequest]


def _kakao(**config: Any) -> Kakao:
    return Kakao("*", KakaoConfig(**config))


def _body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _request(raw_request: RawFactory, payload: Any, **headers: str) -> RawRequest:
    return raw_request(_body(payload), headers, path="/webhooks/kakao")


def test_fixture_corpus_holds_every_named_case() -> None:
    assert {
        "text_with_callback",
        "text_without_callback",
        "quick_reply_with_params",
        "bot_test",
        "no_plusfriend_key",
        "blank_utterance",
        "callback_on_foreign_host",
    } <= set(CASES)


def test_same_request_gives_the_same_id(raw_request: RawFactory) -> None:
    payload = build_skill_payload("배송 언제 되나요?", callback_url=CALLBACK)
    [first] = _kakao().normalise(_request(raw_request, payload))
    [again] = _kakao().normalise(_request(raw_request, payload))
    assert first.external_id == again.external_id


def test_callback_url_tells_two_identical_utterances_apart(raw_request: RawFactory) -> None:
    one = build_skill_payload("네", callback_url=CALLBACK)
    two = build_skill_payload("네", callback_url=CALLBACK.replace("tok-1", "tok-2"))
    [a] = _kakao().normalise(_request(raw_request, one))
    [b] = _kakao().normalise(_request(raw_request, two))
    assert a.external_id != b.external_id and a.thread_keys == b.thread_keys


def test_without_callback_the_arrival_second_tells_them_apart(raw_request: RawFactory) -> None:
    payload = build_skill_payload("네")
    request = _request(raw_request, payload)
    later = RawRequest(
        request.method,
        request.path,
        request.headers,
        request.query,
        request.body,
        request.received_at + timedelta(seconds=1),
    )
    same_second = RawRequest(
        request.method,
        request.path,
        request.headers,
        request.query,
        request.body,
        request.received_at + timedelta(milliseconds=400),
    )
    [a] = _kakao().normalise(request)
    [b] = _kakao().normalise(later)
    [c] = _kakao().normalise(same_second)
    assert a.external_id != b.external_id
    assert a.external_id == c.external_id


def test_callback_hosts_are_configurable(raw_request: RawFactory) -> None:
    payload = build_skill_payload("재입고 문의", callback_url="http://127.0.0.1:9082/v1/cb/x")
    [kept] = _kakao(callback_hosts=("127.0.0.1",), allow_local=True).normalise(
        _request(raw_request, payload)
    )
    [ignored] = _kakao().normalise(_request(raw_request, payload))
    assert kept.context["kakao_callback_url"] == "http://127.0.0.1:9082/v1/cb/x"
    assert "kakao_callback_url" not in ignored.context


# -- verify -----------------------------------------------------------------------------------

TOKENS = {
    "right_token": ({"X-Skill-Token": TOKEN}, None),
    "header_name_any_case": ({"x-skill-token": TOKEN}, None),
    "wrong_token": ({"X-Skill-Token": "guess"}, "does not match"),
    "missing_header": ({}, "missing"),
    "empty_header": ({"X-Skill-Token": ""}, "missing"),
}


@pytest.mark.parametrize(("headers", "error"), TOKENS.values(), ids=TOKENS.keys())
def test_skill_token_is_checked_when_set(
    headers: dict[str, str], error: str | None, raw_request: RawFactory
) -> None:
    request = _request(raw_request, build_skill_payload("안녕하세요"), **headers)
    channel = _kakao(skill_token=TOKEN)
    if error is None:
        channel.verify(request)
    else:
        with pytest.raises(AuthError, match=error):
            channel.verify(request)


def test_without_skill_token_any_caller_is_accepted(raw_request: RawFactory) -> None:
    _kakao().verify(_request(raw_request, build_skill_payload("안녕하세요")))


# -- the skill response -----------------------------------------------------------------------


def test_acknowledgement_is_a_valid_skill_response(raw_request: RawFactory) -> None:
    channel = _kakao(ack_text="문의 접수 완료! 곧 답변드릴게요.")
    request = _request(raw_request, build_skill_payload("교환 문의"))
    response = channel.acknowledge(request, channel.normalise(request))
    body = json.loads(response.text or "")
    assert body == {
        "version": "2.0",
        "template": {"outputs": [{"simpleText": {"text": "문의 접수 완료! 곧 답변드릴게요."}}]},
    }
    assert validate_skill_response(body, callback_enabled=False) == []


def test_callback_request_is_answered_with_use_callback(raw_request: RawFactory) -> None:
    channel = _kakao()
    request = _request(raw_request, build_skill_payload("반품 문의", callback_url=CALLBACK))
    body = json.loads(channel.acknowledge(request, channel.normalise(request)).text or "")
    assert body == {
        "version": "2.0",
        "useCallback": True,
        "data": {"text": "문의가 접수되었습니다. 순서대로 답변드릴게요."},
    }
    assert validate_skill_response(body, callback_enabled=True) == []


def test_blank_utterance_is_still_acknowledged(raw_request: RawFactory) -> None:
    channel = _kakao()
    request = _request(raw_request, build_skill_payload("  ", callback_url=CALLBACK))
    assert channel.normalise(request) == []
    body = json.loads(channel.acknowledge(request, []).text or "")
    assert validate_skill_response(body, callback_enabled=False) == []


SPLITS = {
    "short": ("짧은 답변", ["짧은 답변"]),
    "exactly_1000": ("가" * 1000, ["가" * 1000]),
    "two_bubbles_at_line_end": ("가" * 900 + "\n" + "나" * 900, ["가" * 900, "나" * 900]),
    "three_hard_cuts": ("다" * 3000, ["다" * 1000] * 3),
    "too_long": ("라" * 3001, None),
    "blank": ("   ", None),
}


@pytest.mark.parametrize(("text", "chunks"), SPLITS.values(), ids=SPLITS.keys())
def test_split_text_fits_kakao_bubbles(text: str, chunks: list[str] | None) -> None:
    assert split_text(text) == chunks


def test_long_reply_is_split_into_valid_outputs() -> None:
    body = skill_response("가" * 1500)
    assert [len(o["simpleText"]["text"]) for o in body["template"]["outputs"]] == [1000, 500]
    assert validate_skill_response(body, callback_enabled=False) == []


# -- refused payloads -------------------------------------------------------------------------


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = build_skill_payload("안녕하세요", callback_url=CALLBACK)
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


_DELETE = object()
INVALID = {
    "not_json": b'{"userRequest": ',
    "json_array": b"[]",
    "no_user_request": _body(_with(("userRequest",), _DELETE)),
    "no_bot": _body(_with(("bot",), _DELETE)),
    "bot_id_with_dot": _body(_with(("bot", "id"), "5ae9.b76d")),
    "no_user": _body(_with(("userRequest", "user"), _DELETE)),
    "user_id_number": _body(_with(("userRequest", "user", "id"), 42)),
    "user_id_with_colon": _body(_with(("userRequest", "user", "id"), "a:b")),
    "plusfriend_key_empty": _body(
        _with(("userRequest", "user", "properties", "plusfriendUserKey"), "")
    ),
    "utterance_missing": _body(_with(("userRequest", "utterance"), _DELETE)),
    "utterance_list": _body(_with(("userRequest", "utterance"), ["네"])),
    "callback_url_number": _body(_with(("userRequest", "callbackUrl"), 7)),
    "is_friend_string": _body(_with(("userRequest", "user", "properties", "isFriend"), "Y")),
    "params_not_object": _body(_with(("action", "params"), "order_no=1")),
    "not_utf8": b"\xff\xfe{}",
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_normalise_refuses_unreadable_payload(body: bytes, raw_request: RawFactory) -> None:
    with pytest.raises(InvalidPayload):
        _kakao().normalise(raw_request(body, path="/webhooks/kakao"))
