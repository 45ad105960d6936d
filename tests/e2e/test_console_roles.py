"""Roles in the console, in a real browser (Debian's Chromium driven by Playwright) over the
whole stack: an agent who finds a conversation held by someone else is told to ask an admin
and gets no take-over button; an admin gets the button and takes it over."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .helpers import launch_chromium, new_console_context, send_mail, sign_in

pytestmark = pytest.mark.e2e

ADMIN, ADMIN_TOKEN = "사장님", "roles-admin-token"
AGENT, AGENT_TOKEN = "민지", "roles-agent-token"


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"INBOX_AGENT_TOKENS": f"{ADMIN}:{ADMIN_TOKEN}:admin,{AGENT}:{AGENT_TOKEN}"}


@pytest.fixture(scope="module")
def browser(stack: Any) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


def _console(browser: Browser, stack: Any, token: str) -> tuple[Page, list[str]]:
    page = new_console_context(browser).new_page()
    return page, sign_in(page, stack.api, token)


def _conversation_held_by(page: Page, stack: Any, holder_token: str, holder: str) -> str:
    needle = uuid.uuid4().hex[:6]
    customer = "최유진 <yujin@example.com>"
    send_mail(stack.smtp_port, f"교환 문의 {needle}", "사이즈 교환 가능할까요?", customer)
    headers = {"Authorization": f"Bearer {holder_token}"}
    deadline = time.monotonic() + 30
    while True:
        found = page.request.get(
            f"{stack.api}/api/conversations", params={"q": needle}, headers=headers
        ).json()["items"]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert found, "the mail never reached the queue"
    resp = page.request.post(
        f"{stack.api}/api/conversations/{found[0]['id']}/assign",
        data={"assignee": holder},
        headers=headers,
    )
    assert resp.ok, resp.text()
    return needle


def test_agent_gets_no_take_over_and_admin_takes_over(browser: Browser, stack: Any) -> None:
    agent, agent_errors = _console(browser, stack, AGENT_TOKEN)
    admin, admin_errors = _console(browser, stack, ADMIN_TOKEN)
    expect(agent.locator("body")).to_have_attribute("data-role", "agent")
    expect(admin.locator("#agent")).to_have_attribute("data-role", "admin")

    needle = _conversation_held_by(admin, stack, ADMIN_TOKEN, ADMIN)
    agent.locator("#queue-list > li", has_text=needle).click()
    expect(agent.locator(".thread-head strong.assignee")).to_have_text(ADMIN)
    agent.locator(".thread-head button.claim").click()
    alert = agent.locator("#alerts .alert-error")
    expect(alert).to_have_attribute("data-code", "assign_conflict")
    expect(alert).to_contain_text("관리자에게 요청하세요")
    expect(alert.locator("button", has_text="가져오기")).to_have_count(0)
    expect(agent.locator(".thread-head strong.assignee")).to_have_text(ADMIN)

    needle = _conversation_held_by(agent, stack, AGENT_TOKEN, AGENT)
    admin.locator("#queue-list > li", has_text=needle).click()
    expect(admin.locator(".thread-head strong.assignee")).to_have_text(AGENT)
    admin.locator(".thread-head button.claim").click()
    alert = admin.locator("#alerts .alert-error")
    expect(alert).to_have_attribute("data-code", "assign_conflict")
    alert.locator("button", has_text="가져오기").click()
    expect(admin.locator(".thread-head strong.assignee")).to_have_text(ADMIN)
    assert agent_errors == [] and admin_errors == []


def test_admin_sees_corrections_per_category_and_an_agent_does_not(
    browser: Browser, stack: Any
) -> None:
    agent, agent_errors = _console(browser, stack, AGENT_TOKEN)
    admin, admin_errors = _console(browser, stack, ADMIN_TOKEN)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    needle = _conversation_held_by(admin, stack, ADMIN_TOKEN, ADMIN)
    (found,) = admin.request.get(
        f"{stack.api}/api/conversations", params={"q": needle}, headers=headers
    ).json()["items"]
    # An admin moves it to the claims team: a correction filed under defect_missing_wrong.
    resp = admin.request.post(
        f"{stack.api}/api/conversations/{found['id']}/team",
        data={"team": "claims", "category": "defect_missing_wrong"},
        headers=headers,
    )
    assert resp.ok, resp.text()
    counts = admin.request.get(f"{stack.api}/api/routing", headers=headers).json()
    expected = counts["corrections"]["by_category"]["defect_missing_wrong"]
    assert expected >= 1

    admin.locator("#routing-panel-button").click()
    table = admin.locator("#routing-panel table.routing-corrections")
    row = table.locator("tr[data-category=defect_missing_wrong]")
    expect(row.locator("td").first).to_have_text("불량·누락·오배송")
    expect(row.locator("td.count")).to_have_text(str(expected))
    expect(table.locator("tfoot td.count")).to_have_text(str(counts["corrections"]["total"]))
    expect(admin.locator("#routing-panel .routing-model")).to_contain_text("모델 버전")

    expect(agent.locator("#queue-list")).to_be_visible()
    expect(agent.locator("#routing-panel-button")).to_have_count(0)
    assert agent_errors == [] and admin_errors == []
