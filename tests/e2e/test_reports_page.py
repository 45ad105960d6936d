"""The console's reports page in a real browser (Debian's Chromium driven by Playwright) over
the whole stack: mail arrives over SMTP, an agent answers and resolves some of it, and the page
shows today's 응대율, the backlog by team, the period's figures and charts; a burst of restock
questions raises the spike banner whose links open the example conversations; the CSV
downloads with a byte-order mark; per-agent figures are shown to admins only.

Screenshots go to $INBOX_TEST_ARTIFACTS (default: <tmp>/inbox-console-artifacts);
INBOX_UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/reports.png for the README.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000
ADMIN, ADMIN_TOKEN = "수진", "reports-token-admin"
AGENT, AGENT_TOKEN = "태호", "reports-token-agent"
ARTIFACTS = Path(
    os.environ.get("INBOX_TEST_ARTIFACTS")
    or Path(tempfile.gettempdir()) / "inbox-console-artifacts"
)
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "reports.png"
MAILS = [  # (sender, subject, text)
    ("김민수", "배송 언제 오나요", "11월 28일에 주문했는데 아직 배송 전인가요?"),
    ("이서연", "송장번호 문의", "택배 송장번호를 알려주세요."),
    ("박지훈", "환불 요청", "사이즈가 맞지 않아 환불하고 싶습니다."),
    ("최유나", "교환 문의", "다른 색으로 교환 가능할까요?"),
    ("정하늘", "사이즈 문의", "키 165에 55kg인데 M 사이즈 맞을까요?"),
]
BURST = [(f"고객{i}", f"재입고 문의 {i}", "블랙 M 사이즈 재입고 언제 되나요?") for i in range(7)]


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Overrides conftest's: an admin and an agent; spikes checked every second with a floor
    of five questions, so seven restock questions at once are a spike."""
    return {
        "INBOX_AGENT_TOKENS": f"{ADMIN}:{ADMIN_TOKEN}:admin,{AGENT}:{AGENT_TOKEN}:agent",
        "INBOX_SPIKE_MIN": "5",
        "INBOX_SPIKE_TICK_S": "1",
    }


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: `apt-get install chromium`")
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000
    )
    try:
        yield browser
    finally:
        browser.close()


def send_mail(port: int, sender: str, subject: str, text: str, n: int) -> None:
    message = EmailMessage()
    message["From"] = f"{sender} <customer{n}@example.com>"
    message["To"] = "cs@shop.example"
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
        smtp.send_message(message)


@pytest.fixture(scope="module")
def traffic(playwright: Playwright, stack: Any) -> dict[str, Any]:
    """Mail from customers; an admin answers one and resolves another; then a burst."""
    http = playwright.request.new_context(
        base_url=stack.api,
        extra_http_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=15_000,
    )
    try:
        for n, (sender, subject, text) in enumerate(MAILS):
            send_mail(stack.smtp_port, sender, subject, text, n)
        deadline = time.monotonic() + 60
        items: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(items) < len(MAILS):
            items = http.get("/api/conversations", params={"limit": "50"}).json()["items"]
            time.sleep(0.3)
        assert len(items) == len(MAILS)
        by_subject = {c["subject"]: c for c in items}
        answer = http.post(
            f"/api/conversations/{by_subject['배송 언제 오나요']['id']}/reply",
            data={"text": "오늘 출고됩니다. 감사합니다."},
        )
        assert answer.ok, answer.text()
        resolve = http.post(
            f"/api/conversations/{by_subject['교환 문의']['id']}/status",
            data={"status": "resolved"},
        )
        assert resolve.ok, resolve.text()
        for n, (sender, subject, text) in enumerate(BURST, start=len(MAILS)):
            send_mail(stack.smtp_port, sender, subject, text, n)
        return by_subject
    finally:
        http.dispose()


def open_reports(browser: Browser, stack: Any, token: str) -> tuple[Page, list[str]]:
    context = browser.new_context(
        viewport={"width": 1440, "height": 1200}, locale="ko-KR", timezone_id="Asia/Seoul",
        accept_downloads=True,
    )  # fmt: skip
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{stack.api}/")
    page.fill("#login-token", token)
    page.click("#login-form button[type=submit]")
    page.click("a.reports-link")  # the console's header links to the reports
    expect(page).to_have_url(f"{stack.api}/reports")
    return page, errors


def test_reports_page_live_board_charts_spike_and_csv(
    browser: Browser, stack: Any, traffic: dict[str, Any]
) -> None:
    page, errors = open_reports(browser, stack, ADMIN_TOKEN)
    # The spike banner: restock questions, with at most five example links.
    banner = page.locator("#spikes")
    expect(banner).to_be_visible(timeout=40_000)  # refreshed by SSE as soon as it fires
    expect(banner).to_contain_text("재입고 문의 급증")
    examples = banner.locator("a.example")
    assert 1 <= examples.count() <= 5
    # The live board: today's 응대율 (one of twelve answered), backlog by team.
    page.reload()
    cards = page.locator("#live-cards")
    expect(cards).to_contain_text("오늘 응대율")
    expect(cards).to_contain_text("8.3%")
    expect(cards).to_contain_text("1 / 12건 응답")
    expect(page.locator("#backlog")).to_contain_text("배송")
    expect(page.locator("#backlog")).to_contain_text("상품·재입고")
    # The period: figures, the category chart with its legend, channels; agents for admins.
    expect(page.locator("#summary-cards")).to_contain_text("접수")
    expect(page.locator("#summary-cards .card").first).to_contain_text("12")
    expect(page.locator("#legend-volume")).to_contain_text("재입고 7")
    expect(page.locator("#legend-volume")).to_contain_text("배송 2")
    assert page.locator("#chart-volume svg rect").count() >= 3
    expect(page.locator("#chart-channel")).to_contain_text("메일")
    expect(page.locator("#agents-section")).to_be_visible()
    expect(page.locator("#agents")).to_contain_text(ADMIN)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)
    if os.environ.get("INBOX_UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copy(ARTIFACTS / "reports.png", DOCS_SCREENSHOT)

    # CSV for a spreadsheet: UTF-8 with a byte-order mark, one row per category.
    with page.expect_download() as download:
        page.click("#csv")
    data = Path(download.value.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("section,key,created")
    assert "category,restock,7" in text

    # English, one click away.
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Reports")
    expect(page.locator("#live-cards")).to_contain_text("Today's response rate")
    page.click("#lang")

    # An example opens the conversation in the console.
    page.locator("#spikes a.example").first.click()
    expect(page.locator(".thread-head .thread-subject")).to_contain_text("재입고 문의")
    page.context.close()
    assert errors == []


def test_agents_see_no_per_agent_figures(
    browser: Browser, stack: Any, traffic: dict[str, Any]
) -> None:
    page, errors = open_reports(browser, stack, AGENT_TOKEN)
    expect(page.locator("#summary-cards")).to_contain_text("접수")
    expect(page.locator("#agents-section")).to_be_hidden()
    page.context.close()
    assert errors == []
