"""The reference agent console in a real browser (Debian's Chromium driven by Playwright)
over the whole stack: mail sent over SMTP shows up in the queue without a reload, an agent
claims and answers it, the answer reaches an SMTP sink, a second agent sees the claim live,
and a console that lost its network catches up by Last-Event-ID without duplicates.

Screenshots go to $INBOX_TEST_ARTIFACTS (default: <tmp>/inbox-console-artifacts);
INBOX_UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/console.png for the README.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from inbox_core.embedded import ManagedProcess, find_binary, free_port, port_open, wait_until

from .helpers import (
    WAIT_MS,
    SmtpSink,
    launch_chromium,
    mail_text,
    new_console_context,
    send_mail,
    sign_in,
)

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [  # more than helpers.CHROMIUM_ARGS: nothing but the stack on the network
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGENT_A, TOKEN_A = "지은", "console-token-jieun"
AGENT_B, TOKEN_B = "도윤", "console-token-doyun"
APP_SECRET = "e2e-app-secret"  # FACEBOOK_APP_SECRET of the e2e stack (conftest.py)
PAGE_TOKEN = "console-page-token"
PAGE_ID, INSTAGRAM_ID = "104233512345678", "17841400123456789"
ARTIFACTS = Path(
    os.environ.get("INBOX_TEST_ARTIFACTS")
    or Path(tempfile.gettempdir()) / "inbox-console-artifacts"
)
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"
XSS_BODY = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
CANNED = {  # title → text, created before the consoles open
    "배송 안내": (
        "{{customer.name}}님, 안녕하세요. 문의 #{{conversation.number}} 확인했습니다.\n"
        "오늘 출고 예정이며 송장번호는 문자로 안내드리겠습니다. 상담원 {{agent.name}} 드림"
    ),
    "재입고 안내": (
        "안녕하세요, {{customer.name}}님. {{product.name}} 문의 주셔서 감사합니다.\n"
        "M 사이즈는 다음 주 수요일 재입고 예정이며, 입고되는 대로 바로 구매하실 수 있습니다."
    ),
    "감사 인사": (
        "{{product.name}}을(를) 찾아 주셔서 감사합니다. 다른 궁금한 점도 편하게 남겨 주세요."
        " — 상담원 {{agent.name}}"
    ),
}

# Recorders injected before the console's own scripts: every SSE event the page receives
# (across reconnects), the desktop notifications it raises and the tones it plays.
RECORDERS = """
(() => {
  const types = ["conversation.created", "conversation.updated", "message.created",
    "message.updated", "message.delivery_failed", "sla.warning", "sla.breached"];
  const Native = window.EventSource;
  window.__sse = [];
  window.EventSource = class extends Native {
    constructor(url, options) {
      super(url, options);
      for (const type of types) {
        this.addEventListener(type, (e) => window.__sse.push([Number(e.lastEventId), type]));
      }
    }
  };
  window.__notifications = [];
  window.Notification = class {
    static permission = "default";
    static async requestPermission() {
      window.Notification.permission = "granted";
      return "granted";
    }
    constructor(title, options = {}) {
      window.__notifications.push({ title, body: options.body });
    }
    close() {}
  };
  window.__tones = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones += 1;
    return start.apply(this, args);
  };
})();
"""


# --- network-drop proxy --------------------------------------------------------------


class DropProxy:
    """A TCP proxy in front of the notifier that can lose the network: `drop()` cuts every
    open connection (the SSE stream included) and, until `restore()`, resets new ones
    (`outage="reset"`) or answers them 502 like a reverse proxy whose backend is gone
    (`outage="bad_gateway"`). It keeps the head of every HTTP request it passed on, to
    check how the page reconnected."""

    def __init__(self, upstream_port: int, outage: str = "reset") -> None:
        self.upstream_port = upstream_port
        self.outage = outage
        self.dropped = False
        self.requests: list[str] = []  # passed on
        self.refused: list[str] = []  # turned away while dropped
        self.open: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self._call(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropped:
            try:
                head = await asyncio.wait_for(reader.read(65536), timeout=5)
                self.refused.append(head.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                if self.outage == "bad_gateway":
                    writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
            except (TimeoutError, ConnectionError, OSError):
                pass
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self.open |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, record=True), self._pipe(up_reader, writer)
            )
        finally:
            self.open -= {writer, up_writer}

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool = False
    ) -> None:
        try:
            while data := await src.read(65536):
                if record and re.match(rb"^[A-Z]+ /", data):
                    self.requests.append(data.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.transport.abort()

    async def _cut(self) -> None:
        for writer in list(self.open):
            writer.transport.abort()

    def drop(self) -> None:
        self.dropped = True
        self._call(self._cut())

    def restore(self) -> None:
        self.dropped = False

    async def _shutdown(self) -> None:
        self.server.close()
        await self._cut()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        self.dropped = True
        self._call(self._shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meta_simulator() -> Iterator[str]:
    """The Meta simulator (Send API, profiles) as its own process: its Graph base URL."""
    tmp = Path(tempfile.mkdtemp(prefix="inbox-e2e-meta-"))
    port = free_port()
    proc = ManagedProcess(
        "sim-meta",
        [
            find_binary("inbox-sim-meta"),
            "--port",
            str(port),
            "--app-secret",
            APP_SECRET,
            "--page-token",
            PAGE_TOKEN,
        ],
        tmp / "sim.log",
    ).start()
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 30, "meta simulator", proc)
        yield f"http://127.0.0.1:{port}/v21.0"
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def stack_env(smtp_sink: tuple[SmtpSink, int], meta_simulator: str) -> dict[str, str]:
    """Overrides conftest's: replies go to the SMTP sink and the Meta simulator (which also
    knows the customers' names), and two agents share the queue."""
    return {
        "SMTP_RELAY_URL": f"smtp://127.0.0.1:{smtp_sink[1]}",
        "META_GRAPH_URL": meta_simulator,
        "FACEBOOK_PAGE_TOKEN": PAGE_TOKEN,
        "INBOX_AGENT_TOKENS": f"{AGENT_A}:{TOKEN_A}:admin,{AGENT_B}:{TOKEN_B}:admin",
    }


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright, CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def api(playwright: Playwright, stack: Any) -> Iterator[Api]:
    http = playwright.request.new_context(
        base_url=stack.api,
        extra_http_headers={"Authorization": f"Bearer {TOKEN_A}"},
        timeout=15_000,
    )
    try:
        yield Api(http)
    finally:
        http.dispose()


@pytest.fixture(scope="module")
def canned(api: Api) -> list[dict[str, Any]]:
    return [
        api.post("/api/canned-responses", {"title": title, "text": text})
        for title, text in CANNED.items()
    ]


@pytest.fixture(scope="module")
def agents(
    browser: Browser, stack: Any, canned: list[dict[str, Any]]
) -> Iterator[tuple[Console, Console]]:
    """Two agents signed in on two browsers (separate contexts), kept for the module."""
    first = Console.open(browser, stack.api, TOKEN_A)
    second = Console.open(browser, stack.api, TOKEN_B)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


# --- helpers -----------------------------------------------------------------------------


@dataclass
class Api:
    http: APIRequestContext

    def get(self, path: str, **params: str) -> Any:
        resp = self.http.get(path, params=params)
        assert resp.ok, resp.text()
        return resp.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.http.post(path, data=body)
        assert resp.ok, resp.text()
        return resp.json()

    def wait_conversation(self, needle: str, timeout: float = 30) -> dict[str, Any]:
        """The conversation whose subject or text contains `needle`, once it exists."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self.get("/api/conversations", q=needle, limit="5")["items"]
            if items:
                return dict(items[0])
            time.sleep(0.2)
        raise AssertionError(f"no conversation with {needle!r}")


@dataclass
class Console:
    """One agent's console in its own browser context."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        browser: Browser,
        base_url: str,
        token: str,
        *,
        init_script: str | None = None,
        clock_at: datetime | None = None,
    ) -> Console:
        context = new_console_context(browser, timezone_id="Asia/Seoul")
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        if clock_at is not None:
            page.clock.install(time=clock_at)
        console = cls(context, page, sign_in(page, base_url, token))
        console.wait_live()
        return console

    def wait_live(self) -> None:
        expect(self.page.locator("#conn")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        expect(self.page.locator("#queue-count")).not_to_have_text("", timeout=WAIT_MS)

    def row(self, needle: str) -> Any:
        return self.page.locator("#queue-list > li", has_text=needle)

    def open_conversation(self, needle: str) -> None:
        self.row(needle).click()
        expect(self.page.locator(".thread-head .thread-subject")).to_contain_text(needle)

    def shoot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], f"errors in the page: {self.errors}"


def seed_profile(api: Api, meta_simulator: str, user_id: str, name: str) -> None:
    base = meta_simulator.rsplit("/", 1)[0]
    resp = api.http.post(f"{base}/_sim/profile", data={"id": user_id, "name": name})
    assert resp.ok, resp.text()


def send_meta(api: Api, stack: Any, kind: str, text: str, sender_id: str) -> None:
    """A signed Messenger (kind "page") or Instagram (kind "instagram") webhook."""
    now = int(time.time() * 1000)
    account = PAGE_ID if kind == "page" else INSTAGRAM_ID
    body = json.dumps(
        {
            "object": kind,
            "entry": [
                {
                    "id": account,
                    "time": now,
                    "messaging": [
                        {
                            "sender": {"id": sender_id},
                            "recipient": {"id": account},
                            "timestamp": now,
                            "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text},
                        }
                    ],
                }
            ],
        },
        ensure_ascii=False,
    ).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    path = "facebook" if kind == "page" else "instagram"
    resp = api.http.post(
        f"{stack.social}/webhooks/{path}",
        data=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )
    assert resp.status == 200, resp.text()


def ask_smartstore(api: Api, stack: Any, product: str, question: str, writer: str) -> None:
    resp = api.http.post(
        f"{stack.naver_sim_url}/_sim/qnas",
        data={
            "productId": 9876543210,
            "productName": product,
            "question": question,
            "maskedWriterId": writer,
        },
    )
    assert resp.status in (200, 201), resp.text()


def tag() -> str:
    return uuid.uuid4().hex[:8]


# --- tests -------------------------------------------------------------------------------


def test_console_overview_across_channels(
    agents: tuple[Console, Console], stack: Any, api: Api, meta_simulator: str
) -> None:
    """Mail, Messenger, Instagram and SmartStore share one queue; the thread shows product
    context, routing reasons, notes and replies; the composer previews placeholders."""
    agent, _ = agents
    page = agent.page
    seed_profile(api, meta_simulator, "6543210987654321", "윤아름")
    seed_profile(api, meta_simulator, "1234567890123456", "한지민")
    send_mail(
        stack.smtp_port,
        "배송 문의드립니다",
        "11월 18일에 주문했는데 아직 배송 전인가요? 주문번호 2026111812345678 입니다.",
        sender="이서연 <seoyeon.lee@example.net>",
    )
    send_mail(
        stack.smtp_port,
        "상품 불량",
        "받은 니트 소매에 구멍이 나 있어요. 불량 교환 가능할까요?",
        sender="박지훈 <jihoon.park@example.org>",
    )
    send_meta(
        api, stack, "page", "쿠폰이 적용이 안 돼요 ㅠㅠ 결제창에서 오류가 나요", "6543210987654321"
    )
    send_meta(api, stack, "instagram", "이 원피스 55 사이즈 재입고 되나요?", "1234567890123456")
    ask_smartstore(
        api, stack, "캐시미어 라운드 니트", "네이비 M 사이즈 재입고 언제 되나요?", "hong****"
    )
    for needle in ("배송 문의드립니다", "상품 불량", "쿠폰이 적용", "원피스 55", "캐시미어"):
        expect(agent.row(needle)).to_have_count(1)
    expected = {
        "메일": "이서연",
        "페이스북": "윤아름",
        "인스타그램": "한지민",
        "스마트스토어": "hong****",
    }
    for badge, customer in expected.items():
        row = page.locator("#queue-list > li", has=page.locator(".badge.channel", has_text=badge))
        expect(row.locator(".customer-name", has_text=customer)).to_have_count(1)

    agent.open_conversation("캐시미어")
    context = page.locator(".msg-in .msg-context")
    expect(context).to_contain_text("캐시미어 라운드 니트")
    expect(context).to_contain_text("9876543210")
    expect(page.locator(".thread-head .reasons summary")).to_contain_text("라우팅 사유")
    expect(page.locator("#customer .identities")).to_contain_text("hong****")

    page.locator(".thread-head button.claim").click()
    expect(page.locator(".thread-head strong.assignee")).to_have_text(AGENT_A)
    page.locator(".composer .tab", has_text="메모").click()
    page.fill(".composer textarea", "네이비 M 입고 일정 물류팀 확인 완료 (다음 주 수요일).")
    page.locator(".composer button.send").click()
    expect(page.locator(".msg-note .msg-text")).to_contain_text("물류팀 확인 완료")
    page.select_option(".composer select.canned", label="재입고 안내")
    expect(page.locator(".composer .tab", has_text="답장")).to_have_attribute(
        "aria-pressed", "true"
    )
    preview = page.locator(".preview-box .preview-text")
    expect(preview).to_contain_text("고객님. 캐시미어 라운드 니트 문의 주셔서 감사합니다.")
    page.locator(".composer button.send").click()
    reply = page.locator(".msg-out").last
    expect(reply.locator(".msg-text")).to_contain_text("캐시미어 라운드 니트 문의 주셔서")
    expect(reply.locator(".delivery")).to_have_attribute("data-status", "sent")

    page.select_option(".composer select.canned", label="감사 인사")
    expect(preview).to_contain_text("캐시미어 라운드 니트을(를) 찾아 주셔서 감사합니다.")
    expect(preview).to_contain_text(f"상담원 {AGENT_A}")
    page.locator(".thread-head .reasons summary").click()
    page.mouse.move(0, 0)
    expect(page.locator("#alerts .alert")).to_have_count(0)  # the toasts are gone
    path = agent.shoot("01-overview")
    if os.environ.get("INBOX_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(path, DOCS_SCREENSHOT)
    page.fill(".composer textarea", "")


def test_mail_over_smtp_appears_on_both_consoles_without_reload(
    agents: tuple[Console, Console], stack: Any
) -> None:
    first, _ = agents
    needle = tag()
    first.page.evaluate("window.__sameDocument = true")
    send_mail(
        stack.smtp_port, f"배송 언제 오나요 {needle}", "어제 주문한 니트 언제 받을 수 있을까요?"
    )
    for console in agents:
        row = console.row(needle)
        expect(row).to_have_count(1)
        expect(row.locator(".badge.channel")).to_have_text("메일")
        expect(row.locator(".customer-name")).to_have_text("김민수")
        expect(row.locator(".subject")).to_have_text(f"배송 언제 오나요 {needle}")
        expect(row.locator(".preview")).to_contain_text("언제 받을 수 있을까요")
        expect(row.locator(".chip.team")).to_have_text("배송")
        expect(row.locator(".chip.priority")).not_to_be_empty()
        expect(row.locator(".sla")).to_have_text(re.compile(r"남음|초과"))
    assert first.page.evaluate("window.__sameDocument") is True  # the page never reloaded
    first.shoot("02-new-mail-live")


def test_claim_is_seen_live_and_reply_reaches_the_customer(
    agents: tuple[Console, Console],
    stack: Any,
    smtp_sink: tuple[SmtpSink, int],
) -> None:
    first, second = agents
    needle = tag()
    send_mail(
        stack.smtp_port,
        f"택배 문의 {needle}",
        "주문한 지 3일 지났는데 배송 조회가 안 돼요.",
        sender="최유진 <yujin.choi@example.com>",
    )
    first.open_conversation(needle)
    second.open_conversation(needle)
    expect(first.page.locator(".msg-in .msg-text")).to_contain_text("배송 조회가 안 돼요")

    # Agent A claims; agent B sees it on the row and in the open thread, without reloading.
    first.page.locator(".thread-head button.claim").click()
    expect(first.page.locator(".thread-head strong.assignee")).to_have_text(AGENT_A)
    expect(second.row(needle).locator(".assignee")).to_have_text(AGENT_A)
    expect(second.page.locator(".thread-head strong.assignee")).to_have_text(AGENT_A)
    second.shoot("03-claim-seen-live")

    # Agent B tries to claim it too: the 409 is shown plainly, with a way to take over.
    second.page.locator(".thread-head button.claim").click()
    alert = second.page.locator("#alerts .alert-error")
    expect(alert).to_have_attribute("data-code", "assign_conflict")
    expect(alert).to_contain_text(f"이미 {AGENT_A} 상담원이 담당하고 있습니다.")
    second.shoot("04-claim-conflict")
    alert.locator("button", has_text="가져오기").click()  # take over (force)
    expect(alert).to_have_count(0)
    for console in agents:
        expect(console.page.locator(".thread-head strong.assignee")).to_have_text(AGENT_B)
    # Agent A assigns it back through the assign box: a conflict again, then taken over.
    first.page.fill(".thread-head input[name=assignee]", AGENT_A)
    first.page.keyboard.press("Enter")
    alert = first.page.locator("#alerts .alert-error")
    expect(alert).to_contain_text(f"이미 {AGENT_B} 상담원이 담당하고 있습니다.")
    alert.locator("button", has_text="가져오기").click()
    for console in agents:
        expect(console.page.locator(".thread-head strong.assignee")).to_have_text(AGENT_A)
        expect(console.row(needle).locator(".assignee")).to_have_text(AGENT_A)

    # Agent A answers with the canned response; placeholders are filled in.
    page = first.page
    page.select_option(".composer select.canned", label="배송 안내")
    expect(page.locator(".preview-box .preview-text")).to_contain_text("최유진님, 안녕하세요.")
    page.locator(".composer button.send").click()
    reply = page.locator(".msg-out").last
    expect(reply.locator(".msg-text")).to_contain_text("최유진님, 안녕하세요.")
    expect(reply.locator(".msg-author")).to_have_text(AGENT_A)

    sink, _ = smtp_sink
    number = first.row(needle).get_attribute("data-number")
    [mail, *_] = sink.wait_for(
        lambda m: needle in str(m["Subject"]) and f"상담원 {AGENT_A} 드림" in mail_text(m),
        to="yujin.choi@example.com",
    )
    assert f"[#{number}]" in str(mail["Subject"])
    assert f"최유진님, 안녕하세요. 문의 #{number} 확인했습니다." in mail_text(mail)
    assert f"상담원 {AGENT_A} 드림" in mail_text(mail)
    # The connector's delivery report comes back over the event stream.
    expect(reply.locator(".delivery")).to_have_attribute("data-status", "sent")
    expect(reply.locator(".delivery")).to_have_text("전송됨")
    expect(second.page.locator(".msg-out .msg-text").last).to_contain_text("최유진님")
    first.shoot("05-reply-sent")


def test_notes_tags_status_and_keyboard_shortcuts(
    agents: tuple[Console, Console], stack: Any
) -> None:
    agent, _ = agents
    page = agent.page
    older, newer = tag(), tag()
    sender = "정하늘 <haneul@example.net>"
    send_mail(stack.smtp_port, f"교환 문의 {older}", "사이즈 교환 가능할까요?", sender)
    send_mail(stack.smtp_port, f"환불 문의 {newer}", "환불 부탁드립니다.", sender)
    expect(agent.row(older)).to_have_count(1)
    expect(agent.row(newer)).to_have_count(1)
    agent.open_conversation(older)

    # j / k walk the queue in its order.
    ids = page.locator("#queue-list > li").evaluate_all("rows => rows.map(r => r.dataset.id)")
    here = page.locator("#queue-list > li.selected").get_attribute("data-id")
    at = ids.index(here)
    step = 1 if at + 1 < len(ids) else -1
    page.keyboard.press("j" if step == 1 else "k")
    expect(page.locator("#queue-list > li.selected")).to_have_attribute("data-id", ids[at + step])
    page.keyboard.press("k" if step == 1 else "j")
    expect(page.locator("#queue-list > li.selected")).to_have_attribute("data-id", here)
    expect(page.locator(".thread-head .thread-subject")).to_contain_text(older)

    # A private note, then tags added and removed.
    page.locator(".composer .tab", has_text="메모").click()
    page.fill(".composer textarea", "고객이 두 번 문의함 — 교환으로 안내")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".msg-note .msg-text")).to_have_text("고객이 두 번 문의함 — 교환으로 안내")
    page.fill(".thread-head input[name=tag]", "사이즈교환")
    page.keyboard.press("Enter")
    chip = page.locator(".thread-head .chip.tag[data-tag='사이즈교환']")
    expect(chip).to_be_visible()
    chip.locator("button").click()
    expect(chip).to_have_count(0)

    # Status: pending pauses the SLA clock; `e` resolves, and the row leaves the active queue.
    page.locator(".thread-head .status-buttons button[data-status=pending]").click()
    expect(page.locator(".thread-head .sla")).to_have_text("일시정지")
    expect(agent.row(older).locator(".chip.status")).to_have_text("대기")
    page.locator(".messages").click()
    page.keyboard.press("e")
    resolved = page.locator(".thread-head .status-buttons button[data-status=resolved]")
    expect(resolved).to_have_attribute("aria-pressed", "true")
    expect(agent.row(older)).to_have_count(0)

    # r writes a reply, / searches, ? shows the shortcuts.
    page.keyboard.press("r")
    expect(page.locator(".composer textarea")).to_be_focused()
    expect(page.locator(".composer .tab", has_text="답장")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("다음 문의")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    # Customer history across the customer's conversations.
    history = page.locator("#customer")
    expect(history.locator(".customer-conversations li")).to_have_count(2)
    expect(history.locator(".history")).to_contain_text("환불 부탁드립니다.")


def test_filters_and_search_narrow_the_queue(
    agents: tuple[Console, Console], stack: Any, api: Api
) -> None:
    agent, _ = agents
    page = agent.page
    needle = tag()
    send_mail(stack.smtp_port, f"앱 로그인 {needle}", "앱에서 로그인이 안 됩니다")
    send_meta(api, stack, "page", f"앱이 자꾸 꺼져요 {needle}", "7000000000000001")
    expect(agent.row(needle)).to_have_count(2)

    page.select_option("#filters select[name=channel]", "facebook")
    expect(agent.row(needle)).to_have_count(1)
    expect(agent.row(needle).locator(".badge.channel")).to_have_text("페이스북")
    page.select_option("#filters select[name=channel]", "")
    page.select_option("#filters select[name=team]", "app")
    expect(agent.row(needle)).to_have_count(2)
    page.select_option("#filters select[name=team]", "")

    page.fill("#search", needle)
    expect(page.locator("#queue-list > li")).to_have_count(2)
    page.fill("#search", "")
    page.locator("#search").press("Enter")

    agent.open_conversation(f"앱 로그인 {needle}")
    page.locator(".thread-head button.claim").click()
    expect(page.locator(".thread-head strong.assignee")).to_have_text(AGENT_A)
    page.select_option("#filters select[name=assignee]", "@me")
    expect(agent.row(needle)).to_have_count(1)
    page.select_option("#filters select[name=assignee]", "")
    page.select_option("#filters select[name=status]", "resolved")
    expect(agent.row(needle)).to_have_count(0)
    page.select_option("#filters select[name=status]", "open,pending")
    expect(agent.row(needle)).to_have_count(2)


def test_messenger_replies_show_delivery_sent_and_failed_with_the_reason(
    agents: tuple[Console, Console], stack: Any, api: Api, meta_simulator: str
) -> None:
    agent, _ = agents
    page = agent.page
    needle, psid = tag(), "7100000000000002"
    seed_profile(api, meta_simulator, psid, "오세훈")
    send_meta(api, stack, "page", f"주문 취소하고 싶어요 {needle}", psid)
    expect(agent.row(needle).locator(".customer-name")).to_have_text("오세훈")
    agent.open_conversation(needle)

    # A placeholder the conversation has no value for is named in the preview.
    page.fill(".composer textarea", "{{customer.name}}님, 주문번호 {{order.id}} 알려 주세요.")
    expect(page.locator(".preview-box .preview-text")).to_contain_text("오세훈님, 주문번호")
    expect(page.locator(".preview-box .preview-missing")).to_contain_text("order.id")
    page.fill(".composer textarea", "오세훈님, 주문번호를 알려 주시면 바로 취소해 드릴게요.")
    page.locator(".composer button.send").click()
    sent = page.locator(".msg-out", has_text="바로 취소해 드릴게요")
    expect(sent.locator(".delivery")).to_have_attribute("data-status", "sent")

    # Messenger refuses the next one: the console says so, with the platform's reason.
    graph = meta_simulator.rsplit("/", 1)[0]
    resp = api.http.post(f"{graph}/_sim/fail", data={"code": 551})
    assert resp.ok, resp.text()
    page.fill(".composer textarea", "취소 접수되었습니다.")
    page.keyboard.press("Control+Enter")
    failed = page.locator(".msg-out", has_text="취소 접수되었습니다.")
    expect(failed.locator(".delivery")).to_have_attribute("data-status", "failed")
    expect(failed.locator(".delivery")).to_have_text("전송 실패")
    expect(failed.locator(".msg-error")).not_to_be_empty()
    agent.shoot("06-delivery-failed")


def test_customer_html_is_shown_as_text_and_never_runs(browser: Browser, stack: Any) -> None:
    needle = tag()
    console = Console.open(browser, stack.api, TOKEN_A)
    try:
        page = console.page
        send_mail(
            stack.smtp_port, f"<b>굵게</b> 배송 {needle}", XSS_BODY, sender="해커 <x@example.com>"
        )
        row = console.row(needle)
        expect(row.locator(".subject")).to_have_text(f"<b>굵게</b> 배송 {needle}")
        expect(row.locator(".preview")).to_contain_text("<script>window.__xss=1</script>")
        console.open_conversation(needle)
        expect(page.locator(".msg-in .msg-text")).to_have_text(XSS_BODY)
        expect(page.locator(".thread-head .thread-subject")).to_have_text(
            f"<b>굵게</b> 배송 {needle}"
        )
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert page.locator("#app img, #app b, #app script").count() == 0
        console.shoot("07-html-as-text")
    finally:
        console.close()


@pytest.mark.parametrize("outage", ["reset", "bad_gateway"], ids=["connection-reset", "proxy-502"])
def test_reconnect_after_a_network_drop_catches_up_without_duplicates(
    browser: Browser, stack: Any, api: Api, outage: str
) -> None:
    """A reset connection is retried by the browser's EventSource itself (Last-Event-ID
    header); an HTTP error makes it give up, and the console reopens the stream with
    ?last_event_id=. Either way it resumes right after the last event it handled."""
    proxy = DropProxy(int(stack.env["INBOX_API_PORT"]), outage)
    console = Console.open(
        browser, f"http://127.0.0.1:{proxy.port}", TOKEN_B, init_script=RECORDERS
    )
    try:
        page = console.page
        page.locator("#notify-toggle").click()
        expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
        before = tag()
        send_mail(stack.smtp_port, f"연결 전 {before}", "배송 문의입니다.")
        expect(console.row(before)).to_have_count(1)

        proxy.drop()
        expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
        last_seen = page.evaluate("Math.max(...window.__sse.map(e => e[0]))")
        requests_before = len(proxy.requests)
        during = [tag(), tag()]
        for needle in during:
            send_mail(stack.smtp_port, f"연결 끊김 중 {needle}", "배송이 아직이에요.")
        numbers = {n: api.wait_conversation(n)["number"] for n in during}
        deadline = time.monotonic() + WAIT_MS / 1000
        while not any(r.startswith("GET /api/events") for r in proxy.refused):
            assert time.monotonic() < deadline, "the page did not try to reconnect"
            time.sleep(0.1)
        proxy.restore()

        console.wait_live()
        for needle in during:
            expect(console.row(needle)).to_have_count(1)
        console.shoot(f"08-after-reconnect-{outage}")

        # The page resumed right after the last event it had: by Last-Event-ID.
        resumed = [r for r in proxy.requests[requests_before:] if r.startswith("GET /api/events")]
        assert resumed, "the page never reopened the event stream"
        head = resumed[0]
        ids = re.findall(r"(?im)^last-event-id:\s*(\d+)|[?&]last_event_id=(\d+)", head)
        assert {int(a or b) for a, b in ids} == {last_seen}, head
        if outage == "bad_gateway":  # EventSource gave up on the 502; the console reopened it
            assert f"last_event_id={last_seen}" in head.partition("\r\n")[0], head

        # Every event arrived exactly once, with no gap across the drop.
        seen = [seq for seq, _ in page.evaluate("window.__sse")]
        assert len(seen) == len(set(seen)), "an event was delivered twice"
        assert seen == list(range(seen[0], seen[0] + len(seen))), "events were lost"
        # ...and every new conversation raised one desktop notification and one chime.
        titles = [n["title"] for n in page.evaluate("window.__notifications")]
        for needle, number in numbers.items():
            assert sum(f"#{number} " in t for t in titles) == 1, (needle, titles)
        assert titles[0].startswith("새 문의 #") and "메일" in titles[0]
        assert page.evaluate("window.__tones") >= len(titles)
    finally:
        console.close()
        proxy.close()


def test_sla_countdown_turns_amber_at_warning_and_red_at_breach(
    browser: Browser, stack: Any, api: Api
) -> None:
    needle = tag()
    send_mail(stack.smtp_port, f"배송 지연 {needle}", "언제 받을 수 있나요?")
    conversation = api.wait_conversation(needle)
    due = datetime.fromisoformat(conversation["sla"]["first_response_due"])
    created = datetime.fromisoformat(conversation["created_at"])
    console = Console.open(browser, stack.api, TOKEN_A, clock_at=datetime.now(due.tzinfo))
    try:
        page = console.page
        sla = console.row(needle).locator(".sla")
        expect(sla).to_have_class(re.compile(r"\bsla-ok\b"))
        # The browser's clock moves; the due time is the server's.
        page.clock.set_system_time(due - (due - created) * 0.1)
        page.clock.run_for(1500)
        expect(sla).to_have_class(re.compile(r"\bsla-warn\b"))
        expect(sla).to_contain_text("남음")
        console.shoot("09-sla-warning")
        page.clock.set_system_time(due + timedelta(minutes=3))
        page.clock.run_for(1500)
        expect(sla).to_have_class(re.compile(r"\bsla-breach\b"))
        expect(sla).to_have_text(re.compile(r"^3분( \d+초)? 초과$"))
        console.shoot("10-sla-breach")
    finally:
        console.close()


def test_sign_in_language_and_sign_out(browser: Browser, stack: Any) -> None:
    context = browser.new_context(locale="ko-KR")
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        page.goto(f"{stack.api}/")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        page.fill("#login-token", "not-a-token")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_have_text("토큰이 올바르지 않습니다.")
        page.fill("#login-token", TOKEN_B)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#agent")).to_have_text(f"{AGENT_B} 상담원")
        channels = "전체 메일 카카오톡 페이스북 인스타그램 네이버_톡톡 스마트스토어 쿠팡 11번가"
        expect(page.locator("#filters select[name=channel] option")).to_have_text(
            [c.replace("_", " ") for c in channels.split()]
        )

        # English is one click away and is remembered, as is the token.
        page.locator(".topbar .lang-toggle").click()
        expect(page.locator(".topbar h1")).to_have_text("Unified inbox")
        page.reload()
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#agent")).to_have_text(f"Agent {AGENT_B}")
        expect(page.locator("#filters select[name=channel] option[value=mail]")).to_have_text(
            "Mail"
        )
        expect(page.locator("#filters select[name=status] option:checked")).to_have_text("Active")

        page.locator("#logout").click()
        expect(page.locator("#login")).to_be_visible()
        assert page.evaluate("localStorage.getItem('inbox.token')") is None
    finally:
        context.close()
