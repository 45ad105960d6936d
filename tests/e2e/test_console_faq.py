"""FAQ in the console, in a real browser (Debian's Chromium driven by Playwright) over the
whole stack: a mail asking a covered question shows the suggestion strip above the reply box;
one click puts the rendered answer in the box, and the agent sends it to the customer."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from inbox_core.faq_examples import example_entries

from .helpers import (
    SmtpSink,
    launch_chromium,
    mail_text,
    new_console_context,
    send_mail,
    sign_in,
)

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(
    os.environ.get("INBOX_TEST_ARTIFACTS")
    or Path(tempfile.gettempdir()) / "inbox-console-artifacts"
)


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


TOKEN = "e2e-agent-token"  # conftest: an admin


@pytest.fixture(scope="module")
def stack_env(smtp_sink: tuple[SmtpSink, int]) -> dict[str, str]:
    return {"SMTP_RELAY_URL": f"smtp://127.0.0.1:{smtp_sink[1]}"}


@pytest.fixture(scope="module")
def page(stack: Any) -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        http = pw.request.new_context(
            base_url=stack.api, extra_http_headers={"Authorization": f"Bearer {TOKEN}"}
        )
        for entry in example_entries():
            resp = http.post("/api/faq", data={k: v for k, v in entry.items() if k != "key"})
            assert resp.status == 201, resp.text()
        http.dispose()
        context = new_console_context(browser)
        page = context.new_page()
        errors = sign_in(page, stack.api, TOKEN)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            assert errors == [], f"errors in the page: {errors}"


def test_one_click_puts_the_suggested_answer_in_the_reply_box_and_the_agent_sends_it(
    page: Page, stack: Any, smtp_sink: tuple[SmtpSink, int]
) -> None:
    needle = uuid.uuid4().hex[:6]
    send_mail(
        stack.smtp_port,
        f"배송 문의 {needle}",
        "배송 보통 며칠 걸려요?",
        "이하늘 <haneul@example.com>",
    )
    page.locator("#queue-list > li", has_text=needle).click()
    strip = page.locator(".composer .suggestions")
    expect(strip).to_be_visible()
    first = strip.locator("button.suggestion").first
    expect(strip.locator(".suggestions-title")).to_have_text("추천 답변")
    expect(first).to_contain_text("이하늘님, 결제 완료 후")  # rendered for this customer
    assert strip.locator("button.suggestion").count() <= 3
    shoot(page, "faq-01-suggestions")
    first.click()
    box = page.locator(".composer textarea")
    expect(box).to_have_value(
        "이하늘님, 결제 완료 후 평일 기준 1~3일 안에 받아보실 수 있어요. 주말·공휴일은 배송 "
        "기간에서 빠지고, 택배사 사정에 따라 하루 정도 늦어질 수 있어요."
    )
    expect(page.locator(".msg-out")).to_have_count(0)  # nothing is sent before the agent sends
    page.locator(".composer button.send").click()
    expect(page.locator(".msg-out .msg-text").last).to_contain_text("이하늘님, 결제 완료 후")
    sink, _ = smtp_sink
    sink.wait_for(
        lambda m: "평일 기준 1~3일 안에 받아보실 수 있어요" in mail_text(m), to="haneul@example.com"
    )


MILITARY = [
    "군부대로도 배송 되나요?",
    "군부대 택배 받을 수 있어요?",
    "군부대 배송 가능?",
    "군부대도 택배 가나요",
]
MILITARY_ANSWER = "네, 군부대로도 배송돼요. 주소에 부대명과 받는 분 성함을 꼭 적어주세요."


def test_an_admin_turns_a_repeated_new_question_into_an_entry_with_one_click(
    page: Page, stack: Any
) -> None:
    for n, question in enumerate(MILITARY):
        send_mail(stack.smtp_port, question, question, f"고객{n} <soldier{n}@example.com>")
    api = page.request
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def military() -> list[dict[str, Any]]:
        items = api.get(f"{stack.api}/api/conversations?q=부대&limit=20", headers=headers).json()
        return list(items["items"])

    deadline = time.monotonic() + 30
    while len(military()) < len(MILITARY) and time.monotonic() < deadline:
        time.sleep(0.2)
    for conv in military()[:3]:  # agents answered them the same way
        resp = api.post(
            f"{stack.api}/api/conversations/{conv['id']}/reply",
            data={"text": MILITARY_ANSWER},
            headers=headers,
        )
        assert resp.status == 201, resp.text()

    page.locator("#faq-candidates-button").click()
    found = page.locator("#faq-candidates .faq-candidate").first
    expect(found.locator("h3")).to_contain_text("군부대")
    expect(found.locator(".faq-candidate-count")).to_have_text("4건")
    expect(found.locator(".faq-candidate-answer")).to_contain_text(MILITARY_ANSWER)
    shoot(page, "faq-02-candidates")
    found.locator("button.faq-candidate-create").click()
    expect(found.locator(".faq-candidate-status")).to_have_text("FAQ 항목을 만들었습니다")
    entries = api.get(f"{stack.api}/api/faq", headers=headers).json()["items"]
    made = [e for e in entries if "군부대" in e["question"]]
    assert len(made) == 1
    assert (made[0]["answer"], made[0]["auto_answer"]) == (MILITARY_ANSWER, False)
    assert set(made[0]["examples"]) <= set(MILITARY)
