"""The conformance suite: one set of tests every channel runs, untouched, from its own tests.

A channel's tests folder holds one line (Singer's `get_tap_test_class`):

    TestKakaoConformance = channel_conformance(ChannelSpec(name="kakao", ...))

and pytest collects the class. What it checks, for every channel:

- fixtures: every raw/expected pair under `tests/fixtures/<channel>/` (the format:
  `inbox_core.testing.fixture_pairs`) normalises to what its expected file says, or is refused with
  `InvalidPayload` when the file says `"refused": true`;
- `normalise` is pure: the same input twice gives the same messages (no clock, no random),
  and it makes no network call;
- messages are valid on the bus: the channel's id, `dedup_id` = `channel:account:external_id`
  (the `Nats-Msg-Id`), thread keys, aware UTC times, a JSON round trip that changes nothing;
  external ids are stable (the same input gives the same ids) and distinct within one input;
- `verify` accepts what the platform signs and rejects a tampered request: the body changed
  after signing, the credential missing, the credential wrong;
- `send` maps the platform's errors, answered by its simulator: rate limited (with
  Retry-After), server error, unavailable and an unreachable platform are `TransientError`;
  a refusal and refused credentials are `PermanentError`; plus the channel's own platform
  codes (`send_errors`);
- `poll` (pollers): the cursor never moves backwards and new items are read, a replayed page
  gives the same messages with the same ids (so the bus drops them) and the same cursor,
  nothing before the cursor is read again, the cursor survives its JSON storage.

What a channel declares is in `inbox_core.testing.conformance_spec` (re-exported here).

A part a channel cannot have is declared `Exempt("why")` (Home Assistant's quality scale): its
tests are reported as skipped with that reason, never silently absent.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
import pytest

from inbox_core.connector import RawRequest, SendResult
from inbox_core.embedded import free_port
from inbox_core.errors import AuthError, InvalidPayload, TransientError
from inbox_core.schema import InboundMessage
from inbox_core.testing.conformance_spec import (
    RETRY_AFTER_S,
    SEND_EXPECTED,
    ChannelSpec,
    Exempt,
    PollPlatform,
    SendError,
    SendFault,
    SendPlatform,
    Verify,
    webhook_normalise,
)
from inbox_core.testing.fixture_pairs import (
    UNCOMPARED,
    Fixture,
    load_fixtures,
    message_mismatches,
    message_view,
    webhook_request,
)

STEP_TIMEOUT_S: Final = 20.0


# -- the suite ------------------------------------------------------------------------------


@contextmanager
def no_network() -> Iterator[None]:
    """Any socket connect inside this block fails the test: normalise must do no I/O."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("normalise tried to open a network connection")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


def _tampers(verify: Verify, body: bytes) -> dict[str, RawRequest]:
    headers = dict(verify.sign(body))

    def request(raw: bytes, hdrs: Mapping[str, str]) -> RawRequest:
        return webhook_request(Fixture("tamper", raw, {}), path=verify.path, headers=hdrs)

    def wrong(value: str) -> str:
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"

    tampered = {
        "credential_missing": request(body, {}),
        "credential_wrong": request(body, {k: wrong(v) for k, v in headers.items()}),
    }
    if verify.signs_body:
        tampered["body_changed_after_signing"] = request(body + b" ", headers)
    return tampered


@contextmanager
def _known_gap(spec: ChannelSpec, check: str) -> Iterator[None]:
    reason = spec.known_gaps.get(check)
    if reason is None:
        yield
        return
    try:
        yield
    except (Exception, pytest.fail.Exception):
        pytest.xfail(f"known gap: {reason}")
    pytest.fail(f"{check!r} passes now: remove it from known_gaps of the {spec.name} spec")


def _skip_if_exempt(part: object) -> None:
    if isinstance(part, Exempt):
        pytest.skip(f"exempt: {part.reason}")


PARTS: Final = ("fixtures", "verify", "send", "poll")
_PART_OF_TEST: Final = {"fixture": "fixtures", "normalise": "fixtures", "messages": "fixtures"}


def channel_conformance(spec: ChannelSpec, parts: Sequence[str] = PARTS) -> type:
    """A pytest test class holding the suite for `spec`; assign it to a `Test*` name.

    `parts` runs only some parts here, for a channel whose poll needs service fixtures (a
    mail server) while the rest runs with the unit tests: the other file then declares the
    part `Exempt` with a reason naming where it runs."""
    if unknown := set(parts) - set(PARTS):
        raise ValueError(f"unknown parts {sorted(unknown)}; the parts are {PARTS}")
    fixtures = load_fixtures(spec.fixtures)
    cases = [f.case for f in fixtures]
    by_case = {f.case: f for f in fixtures}
    accepted = [f.case for f in fixtures if not f.refused]
    faults = list(SendFault)

    class ChannelConformance:
        __test__ = True

        def test_fixture_corpus_is_not_empty(self) -> None:
            assert len(fixtures) >= spec.min_fixtures, (
                f"{spec.fixtures}: at least {spec.min_fixtures} raw/expected pairs, "
                f"found {len(fixtures)}"
            )

        @pytest.mark.parametrize("case", cases, ids=cases)
        def test_fixture_normalises_to_expected(self, case: str) -> None:
            fixture = by_case[case]
            if fixture.refused:
                with pytest.raises(InvalidPayload):
                    spec.normalise(fixture)
                return
            messages = spec.normalise(fixture)
            assert len(messages) == len(fixture.messages), (
                f"{case}: {len(messages)} messages, the expected file lists {len(fixture.messages)}"
            )
            problems = [
                f"message {i}: {p}"
                for i, (message, want) in enumerate(zip(messages, fixture.messages, strict=True))
                for p in message_mismatches(message, want)
            ]
            assert not problems, f"{case} ({fixture.description}):\n" + "\n".join(problems)

        @pytest.mark.parametrize("case", accepted, ids=accepted)
        def test_normalise_is_pure_and_ids_are_stable(self, case: str) -> None:
            fixture = by_case[case]
            with no_network():
                first = spec.normalise(fixture)
                again = spec.normalise(fixture)
            dump = [m.model_dump(mode="json", exclude=set(UNCOMPARED)) for m in first]
            assert dump == [m.model_dump(mode="json", exclude=set(UNCOMPARED)) for m in again]
            ids = [m.dedup_id for m in first]
            assert len(set(ids)) == len(ids), f"{case}: two messages share an id: {ids}"

        @pytest.mark.parametrize("case", accepted, ids=accepted)
        def test_messages_are_valid_on_the_bus(self, case: str) -> None:
            for message in spec.normalise(by_case[case]):
                assert message.channel == spec.name
                assert message.dedup_id == (
                    f"{message.channel}:{message.account}:{message.external_id}"
                )
                assert message.thread_keys and all(k.strip() for k in message.thread_keys)
                assert message.received_at.utcoffset() is not None
                assert message.received_at.tzinfo == UTC
                assert message.customer.id.strip(), "a message needs a customer id"
                again = InboundMessage.from_json(message.to_json())
                assert again.model_dump() == message.model_dump(), "changed by a JSON round trip"

        # -- verify ---------------------------------------------------------------------

        def test_verify_accepts_what_the_platform_signs(self) -> None:
            _skip_if_exempt(spec.verify)
            assert isinstance(spec.verify, Verify)
            verify = spec.verify
            for case in accepted:
                body = by_case[case].raw
                verify.channel.verify(
                    webhook_request(by_case[case], path=verify.path, headers=verify.sign(body))
                )

        @pytest.mark.parametrize(
            "tamper",
            ["credential_missing", "credential_wrong", "body_changed_after_signing"],
            ids=["credential_missing", "credential_wrong", "body_changed_after_signing"],
        )
        def test_verify_rejects_a_tampered_request(self, tamper: str) -> None:
            _skip_if_exempt(spec.verify)
            assert isinstance(spec.verify, Verify)
            if tamper == "body_changed_after_signing" and not spec.verify.signs_body:
                pytest.skip("exempt: the platform's credential does not cover the body")
            for case in accepted:
                request = _tampers(spec.verify, by_case[case].raw)[tamper]
                with pytest.raises(AuthError):
                    spec.verify.channel.verify(request)

        # -- send -----------------------------------------------------------------------

        async def test_send_delivers_a_reply(self, request: pytest.FixtureRequest) -> None:
            async with _send_platform(spec, request) as (platform, http):
                channel = platform.channel_at(platform.url)
                result = await _bounded(channel.send(platform.reply, http))
                assert isinstance(result, SendResult)

        @pytest.mark.parametrize("fault", faults, ids=[f.value for f in faults])
        async def test_send_maps_platform_errors(
            self, fault: SendFault, request: pytest.FixtureRequest
        ) -> None:
            async with _send_platform(spec, request) as (platform, http):
                await _bounded(platform.fail(fault, http))
                channel = platform.channel_at(platform.url)
                with _known_gap(spec, f"send:{fault}"):
                    with pytest.raises(SEND_EXPECTED[fault]) as caught:
                        await _bounded(channel.send(platform.reply, http))
                    if fault is SendFault.RATE_LIMITED and platform.honours_retry_after:
                        assert getattr(caught.value, "retry_after", None) == RETRY_AFTER_S

        async def test_send_to_an_unreachable_platform_is_transient(
            self, request: pytest.FixtureRequest
        ) -> None:
            async with _send_platform(spec, request) as (platform, http):
                channel = platform.channel_at(platform.closed_url or _closed_url())
                with pytest.raises(TransientError):
                    await _bounded(channel.send(platform.reply, http))

        @pytest.mark.parametrize(
            "error", list(spec.send_errors) or ["none"], ids=list(spec.send_errors) or ["none"]
        )
        async def test_send_maps_the_platform_s_own_codes(
            self, error: str, request: pytest.FixtureRequest
        ) -> None:
            if not spec.send_errors:
                pytest.skip("the channel lists no platform-specific error codes")
            case = spec.send_errors[error]
            async with _send_platform(spec, request) as (platform, http):
                await _bounded(case.program(platform, http))
                channel = platform.channel_at(platform.url)
                with pytest.raises(case.expected) as caught:
                    await _bounded(channel.send(platform.reply, http))
                if case.retry_after is not None:
                    assert getattr(caught.value, "retry_after", None) == case.retry_after

        # -- poll -----------------------------------------------------------------------

        async def test_poll_cursor_only_moves_forward(self, request: pytest.FixtureRequest) -> None:
            async with _poll_platform(spec, request) as (platform, http):
                await _bounded(platform.add(2))
                first, state = await _read_all(platform, None, http)
                assert first, "the first poll reads the items already on the platform"
                seen = platform.position(state)
                known = {m.dedup_id for m in first}
                for added in (0, 3, 0, 0):
                    if added:
                        await _bounded(platform.add(added))
                    # Between rounds the runner waits (a pause, or IMAP IDLE until news).
                    await _bounded(platform.channel.wait(0.05))
                    messages, state = await _read_all(platform, state, http)
                    now = platform.position(state)
                    assert now >= seen, f"the cursor moved back: {seen!r} -> {now!r}"
                    seen, known = now, known | {m.dedup_id for m in messages}
                # Read within two rounds: an IMAP server without IDLE shows new mail one
                # command late.
                assert len(known) - len(first) >= 3, "3 items added, not all were read"

        async def test_poll_replayed_page_changes_nothing(
            self, request: pytest.FixtureRequest
        ) -> None:
            async with _poll_platform(spec, request) as (platform, http):
                await _bounded(platform.add(2))
                now = datetime.now(UTC)
                first, state = await _read_all(platform, None, http, now)
                # The runner stopped before saving the cursor: the same pages are read again.
                replay, replay_state = await _read_all(platform, None, http, now)
                assert [m.dedup_id for m in replay] == [m.dedup_id for m in first]
                assert replay_state == state, "the same pages led to another cursor"
                after, _ = await _read_all(platform, state, http)
                again = {m.dedup_id for m in first} & {m.dedup_id for m in after}
                assert not again, f"read again after the cursor: {sorted(again)}"

        async def test_poll_cursor_survives_storage(self, request: pytest.FixtureRequest) -> None:
            async with _poll_platform(spec, request) as (platform, http):
                await _bounded(platform.add(1))
                _, state = await _read_all(platform, None, http)
                loaded = platform.channel.load_cursor(json.loads(json.dumps(state)))
                assert _stored(loaded) == state

    for attr in [a for a in vars(ChannelConformance) if a.startswith("test_")]:
        word = attr.split("_")[1]
        if _PART_OF_TEST.get(word, word) not in parts:
            delattr(ChannelConformance, attr)
    ChannelConformance.__name__ = ChannelConformance.__qualname__ = (
        f"Test{''.join(p.title() for p in spec.name.split('_'))}Conformance"
    )
    return ChannelConformance


async def _bounded(awaitable: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(awaitable, STEP_TIMEOUT_S)


def _closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@asynccontextmanager
async def _send_platform(
    spec: ChannelSpec, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[SendPlatform, aiohttp.ClientSession]]:
    _skip_if_exempt(spec.send)
    assert not isinstance(spec.send, Exempt)
    async with _open(spec.send, request) as platform:
        timeout = aiohttp.ClientTimeout(total=STEP_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            yield platform, http


@asynccontextmanager
async def _poll_platform(
    spec: ChannelSpec, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[PollPlatform, aiohttp.ClientSession]]:
    _skip_if_exempt(spec.poll)
    assert not isinstance(spec.poll, Exempt)
    async with _open(spec.poll, request) as platform:
        timeout = aiohttp.ClientTimeout(total=STEP_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            yield platform, http


def _open(factory: Callable[..., Any], request: pytest.FixtureRequest) -> Any:
    """A factory takes no argument, or the test's `request` (for pytest fixtures such as a
    store or a mail server: `request.getfixturevalue("core_env")`; sync fixtures only, the
    test's event loop is already running)."""
    return factory(request) if inspect.signature(factory).parameters else factory()


def _stored(cursor: Any) -> dict[str, Any]:
    """The JSON state the runner saves for a page's cursor."""
    return dict(cursor) if isinstance(cursor, Mapping) else dict(cursor.dump())


async def _read_all(
    platform: PollPlatform,
    state: Mapping[str, Any] | None,
    http: aiohttp.ClientSession,
    now: datetime | None = None,
) -> tuple[list[InboundMessage], dict[str, Any]]:
    """Poll as PollerRunner does (load the stored cursor, poll, store the new one) until
    the channel says there is no more right away; the messages and the last stored state."""
    channel, messages = platform.channel, []
    for _ in range(platform.max_pages):
        cursor = channel.load_cursor(state)
        at = now or datetime.now(UTC)
        page = await _bounded(channel.poll(platform.board, cursor, http, at))
        messages.extend(page.messages)
        state = _stored(page.cursor)
        if not page.more:
            return messages, state
    raise AssertionError(f"still more to read after {platform.max_pages} pages")


__all__ = [
    "ChannelSpec",
    "Exempt",
    "Fixture",
    "PollPlatform",
    "SendError",
    "SendFault",
    "SendPlatform",
    "Verify",
    "channel_conformance",
    "load_fixtures",
    "message_mismatches",
    "message_view",
    "webhook_normalise",
    "webhook_request",
]
