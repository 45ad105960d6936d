"""The desk in the reference console, in a real browser (Debian's Chromium driven by
Playwright) over the whole stack: an agent transfers a conversation to another team, merges
two conversations found by search, answers several customers at once from the bulk bar,
sends a file dropped on the composer (the customers' mail reaches an SMTP sink), snoozes a
conversation until 9:00 tomorrow in Seoul and splits a reused thread."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import APIRequestContext, Browser, Page, expect, sync_playwright

from .helpers import (
    SmtpSink,
    launch_chromium,
    mail_text,
    new_console_context,
    send_mail,
    sign_in,
)

pytestmark = pytest.mark.e2e

AGENT, TOKEN = "서연", "desk-console-token"


@pytest.fixture(scope="module")
def stack_env(smtp_sink: tuple[SmtpSink, int]) -> dict[str, str]:
    return {
        "SMTP_RELAY_URL": f"smtp://127.0.0.1:{smtp_sink[1]}",
        "INBOX_AGENT_TOKENS": f"{AGENT}:{TOKEN}:admin",
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def api(browser: Browser, stack: Any) -> Iterator[APIRequestContext]:
    context = browser.new_context(
        base_url=stack.api, extra_http_headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        yield context.request
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, stack: Any) -> Iterator[Page]:
    context = new_console_context(browser, timezone_id="Asia/Seoul")
    page = context.new_page()
    errors = sign_in(page, stack.api, TOKEN)
    try:
        yield page
    finally:
        context.close()
        assert errors == [], f"errors in the page: {errors}"


def conversation(api: APIRequestContext, needle: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = api.get("/api/conversations", params={"q": needle, "status": ""})
        assert resp.ok, resp.text()
        items = resp.json()["items"]
        if items:
            return dict(items[0])
        time.sleep(0.2)
    raise AssertionError(f"no conversation with {needle!r}")


def detail(api: APIRequestContext, conv_id: str) -> dict[str, Any]:
    resp = api.get(f"/api/conversations/{conv_id}")
    assert resp.ok, resp.text()
    return dict(resp.json())


def search_queue(page: Page, needle: str) -> None:
    page.fill("#search", needle)
    page.press("#search", "Enter")


def open_row(page: Page, needle: str) -> None:
    search_queue(page, needle)
    page.locator("#queue-list > li", has_text=needle).first.click()
    expect(page.locator(".thread-head .thread-subject")).to_contain_text(needle)


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_agent_transfers_a_conversation_to_another_team(
    page: Page, stack: Any, api: APIRequestContext
) -> None:
    t = tag()
    send_mail(
        stack.smtp_port, f"문의 {t}", "안녕하세요, 질문이 있어요", f"김하늘 <sky.{t}@example.com>"
    )
    conv = conversation(api, t)
    assert conv["team"] != "shipping"
    open_row(page, t)
    page.select_option(".desk-row select[name=team]", "shipping")
    expect(page.locator(".thread-head .chip.team")).to_have_text("배송")
    expect(page.locator(".desk-row select[name=team]")).to_have_value("shipping")
    after = detail(api, conv["id"])
    assert after["team"] == "shipping"
    assert any(AGENT in reason and "shipping" in reason for reason in after["routing_reasons"])


def test_agent_merges_a_conversation_found_by_search(
    page: Page, stack: Any, api: APIRequestContext
) -> None:
    t = tag()
    sender = f"이도윤 <doyun.{t}@example.com>"
    send_mail(stack.smtp_port, f"코트 배송 {t}", "언제 오나요?", sender)
    send_mail(stack.smtp_port, f"주소 변경 {t}", "주소를 바꿔 주세요", sender)
    first = conversation(api, f"코트 배송 {t}")
    second = conversation(api, f"주소 변경 {t}")
    open_row(page, f"코트 배송 {t}")
    page.click(".desk-row button.merge")
    page.fill("#merge-dialog input[name=merge-q]", f"주소 변경 {t}")
    page.locator(f'#merge-dialog li[data-id="{second["id"]}"] button').click()
    expect(page.locator(".messages .msg-in")).to_have_count(2)
    expect(page.locator(".messages")).to_contain_text("주소를 바꿔 주세요")
    merged = detail(api, second["id"])
    assert merged["status"] == "merged" and merged["merged_into"] == first["id"]


def test_agent_answers_several_customers_at_once_from_the_bulk_bar(
    page: Page, stack: Any, smtp_sink: tuple[SmtpSink, int]
) -> None:
    sink, _ = smtp_sink
    t = tag()
    names = ["박민준", "최서윤", "정하준"]
    for i, name in enumerate(names):
        send_mail(
            stack.smtp_port,
            f"쿠폰 문의 {t}",
            "쿠폰이 안 돼요",
            f"{name} <buyer{i}.{t}@example.com>",
        )
    search_queue(page, t)
    rows = page.locator("#queue-list > li", has_text=t)
    expect(rows).to_have_count(len(names))
    for i in range(len(names)):
        rows.nth(i).locator("input.select").check()
    bar = page.locator("#bulk-bar")
    expect(bar.locator(".bulk-count")).to_contain_text(str(len(names)))
    bar.locator("select[name=bulk-action]").select_option("reply")
    text = "{{customer.name}}님, 쿠폰을 다시 발급했습니다. " + t
    bar.locator("textarea[name=bulk-value]").fill(text)
    bar.locator("button[type=submit]").click()
    expect(bar).to_be_hidden()
    mails = sink.wait_for(lambda m: f"다시 발급했습니다. {t}" in mail_text(m), count=len(names))
    assert sorted(mail_text(m).split("님,")[0] for m in mails) == sorted(names)


def test_agent_drops_a_file_on_the_composer_and_the_customer_receives_it(
    page: Page, stack: Any, smtp_sink: tuple[SmtpSink, int]
) -> None:
    sink, _ = smtp_sink
    t = tag()
    send_mail(
        stack.smtp_port,
        f"사이즈표 {t}",
        "사이즈표 받을 수 있나요?",
        f"한지우 <jiwoo.{t}@example.com>",
    )
    open_row(page, t)
    png = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 32
    transfer = page.evaluate_handle(
        """([name, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, { type: "image/png" }));
          return dt;
        }""",
        ["사이즈표.png", base64.b64encode(png).decode()],
    )
    page.dispatch_event("form.composer", "drop", {"dataTransfer": transfer})
    expect(page.locator(".file-chips .chip.file")).to_contain_text("사이즈표.png")
    page.fill("textarea.composer-text", f"사이즈표 첨부드립니다 {t}")
    page.click("form.composer button.send")
    expect(page.locator(".messages .msg-out .msg-attachments")).to_contain_text("사이즈표.png")
    [mail] = sink.wait_for(lambda m: f"사이즈표 첨부드립니다 {t}" in mail_text(m))
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "사이즈표.png" and part.get_content() == png
    expect(page.locator(".file-chips .chip.file")).to_have_count(0)


def test_agent_snoozes_until_tomorrow_nine_in_seoul(
    page: Page, stack: Any, api: APIRequestContext
) -> None:
    t = tag()
    send_mail(
        stack.smtp_port, f"재입고 문의 {t}", "언제 들어오나요?", f"오지민 <jimin.{t}@example.com>"
    )
    conv = conversation(api, t)
    open_row(page, t)
    page.select_option(".desk-row select[name=snooze]", "tomorrow")
    expect(page.locator(".desk-row .chip.snoozed")).to_be_visible()
    after = detail(api, conv["id"])
    seoul = ZoneInfo("Asia/Seoul")
    tomorrow = datetime.now(seoul).date() + timedelta(days=1)
    expected = datetime.combine(tomorrow, datetime.min.time(), seoul).replace(hour=9)
    assert after["status"] == "pending" and after["sla"]["paused"] is True
    assert datetime.fromisoformat(after["snoozed_until"]) == expected


def customer_mails(api: APIRequestContext, conv_id: str) -> list[dict[str, Any]]:
    return [m for m in detail(api, conv_id)["messages"] if m["direction"] == "in"]


def test_agent_splits_a_reused_thread_by_picking_messages(
    page: Page, stack: Any, api: APIRequestContext
) -> None:
    t = tag()
    sender = f"윤서준 <seojun.{t}@example.com>"
    first_id = f"<{uuid.uuid4().hex}@example.com>"
    send_mail(stack.smtp_port, f"코트 배송 {t}", "코트 언제 오나요?", sender, message_id=first_id)
    send_mail(
        stack.smtp_port, f"Re: 코트 배송 {t}", "그리고 니트 환불은요?", sender, in_reply_to=first_id
    )
    conv = conversation(api, t)
    deadline = time.monotonic() + 30
    # Count the customer's mails only: after hours in Seoul the first one gets an automatic
    # reply, which message_count includes.
    while len(customer_mails(api, conv["id"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(customer_mails(api, conv["id"])) == 2
    open_row(page, t)
    expect(page.locator(".messages .msg-in")).to_have_count(2)
    page.click(".desk-row button.split")
    page.locator(".messages .msg-in", has_text="니트 환불").locator("input.split-pick").check()
    page.click(".split-bar button.split-go")
    expect(page.locator(".messages .msg-in")).to_have_count(1)
    expect(page.locator(".messages")).to_contain_text("니트 환불은요?")
    new_id = page.evaluate("window.inboxConsole.selectedId")
    assert new_id != conv["id"]
    original = detail(api, conv["id"])
    assert [m["text"].strip() for m in original["messages"] if m["direction"] == "in"] == [
        "코트 언제 오나요?"
    ]
    assert new_id in [c["id"] for c in original["linked_conversations"]]
