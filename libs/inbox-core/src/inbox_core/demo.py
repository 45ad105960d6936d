"""`make demo`: platform simulators plus simulated customers on every connector.

Runs the Naver Commerce and Meta simulators (and a local SMTP sink for replies) as
processes, points the connectors at them, then sends Korean customer messages over SMTP,
signed Messenger webhooks and SmartStore Q&A, printing a one-line live summary.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import smtplib
import sys
import threading
import time
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from inbox_core.embedded import ManagedProcess, find_binary, free_port, port_open, wait_until
from inbox_core.faq_examples import example_entries

if TYPE_CHECKING:
    from inbox_core.stack import Stack

DEMO_APP_SECRET = "demo-app-secret"
DEMO_PAGE_ID = "104233512345678"
SIMULATORS = ("naver", "meta", "kakao", "talktalk", "coupang", "elevenst")
# The Kakao simulator's 상담톡 dealer send API (the sender POSTs the reply to this URL itself).
KAKAO_SENDER_PATH = "/v1/chat/write"

CUSTOMERS = [
    ("김민수", "minsu.kim@example.com"),
    ("이서연", "seoyeon.lee@example.net"),
    ("박지훈", "jihoon.park@example.org"),
    ("최유진", "yujin.choi@example.com"),
    ("정하늘", "haneul.jung@example.net"),
]

MAIL_INQUIRIES = [
    (
        "배송 문의드립니다",
        "11월 18일에 주문했는데 아직 배송 전인가요? 주문번호 2026111812345678 입니다.",
    ),
    ("환불 요청", "사이즈가 맞지 않아 환불하고 싶습니다. 반품 절차 안내 부탁드려요."),
    ("상품 불량", "받은 니트 소매에 구멍이 나 있어요. 불량 교환 가능할까요?"),
    ("재입고 문의", "네이비 M 사이즈 재입고 예정이 있나요?"),
    ("본인인증이 안 돼요", "회원가입 중 본인인증 문자가 오지 않습니다."),
]

CHAT_MESSAGES = [
    "안녕하세요! 오늘 주문하면 언제 도착하나요?",
    "쿠폰이 적용이 안 돼요 ㅠㅠ",
    "교환 신청은 어디서 하나요?",
    "앱에서 로그인이 안 됩니다",
    "주소를 잘못 입력했는데 배송지 변경 가능할까요?",
    "배송비 얼마예요?",  # the FAQ bot answers these two on chat channels
    "반품 신청 어떻게 하나요?",
    "상담원 연결해주세요",  # and hands this one to an agent
]

DEMO_ANSWER = "안녕하세요, 문의 주셔서 감사합니다. 확인 후 바로 안내드리겠습니다."

QNA_QUESTIONS = [
    ("9876543210", "캐시미어 라운드 니트", "키 165에 55kg인데 M 사이즈 괜찮을까요?"),
    ("9876543211", "울 블렌드 코트", "블랙 색상 재입고 언제 되나요?"),
    ("9876543212", "데일리 슬랙스", "세탁기 사용 가능한 소재인가요?"),
]


def _post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    data = json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


class Demo:
    def __init__(self, stack: Stack, rate: float = 0.5) -> None:
        self.stack = stack
        self.rate = max(rate, 0.05)
        self.sent = {
            "mail": 0,
            "facebook": 0,
            "kakao": 0,
            "talktalk": 0,
            "smartstore": 0,
            "coupang": 0,
            "11st": 0,
            "failed": 0,
        }
        self._thread: threading.Thread | None = None
        self._stopping: threading.Event | None = None
        self.urls: dict[str, str] = {}  # simulator base URLs
        self.waits: list[tuple[ManagedProcess, int]] = []
        self.last_mail_ids: dict[str, str] = {}

    def _start(self, name: str, port: int | None, cmd: list[str]) -> None:
        proc = self.stack.start_process(name, cmd)
        self.stack.extras.append(proc)
        if port is not None:
            self.waits.append((proc, port))

    def prepare(self) -> None:
        """Start the simulators and point the connectors at them (env for the services)."""
        env = self.stack.env
        ports = {name: free_port() for name in SIMULATORS}
        for name, port, cmd in self.configure(ports):
            self._start(name, port, cmd)
        if not env.get("SMTP_RELAY_URL"):
            sink_port = free_port()
            self._start(
                "smtp-sink",
                sink_port,
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    f"127.0.0.1:{sink_port}",
                    "-c",
                    "aiosmtpd.handlers.Debugging",
                ],
            )
            env["SMTP_RELAY_URL"] = f"smtp://127.0.0.1:{sink_port}"
        for proc, port in self.waits:
            wait_until(lambda p=port: port_open("127.0.0.1", p), 30, proc.name, proc)  # type: ignore[misc]
        self.stack.say(
            "demo: simulators up for SmartStore, Coupang, 11st, Meta, Kakao, TalkTalk "
            f"(logs in {self.stack.log_dir})"
        )

    def configure(self, ports: dict[str, int]) -> list[tuple[str, int, list[str]]]:
        """Set the services' env for simulators on `ports`; the simulators to start."""
        env = self.stack.env
        social = f"http://127.0.0.1:{env.get('INBOX_SOCIAL_PORT', '8081')}"
        plan: list[tuple[str, int, list[str]]] = []

        client_id = env.setdefault("NAVER_COMMERCE_CLIENT_ID", "demo-client")
        secret_file = self.stack.data_dir / "demo-naver-secret"
        if "NAVER_COMMERCE_CLIENT_SECRET" not in env:
            if not secret_file.exists():
                import bcrypt  # installed with ingest-marketplace

                secret_file.write_text(bcrypt.gensalt(4).decode())
            env["NAVER_COMMERCE_CLIENT_SECRET"] = secret_file.read_text().strip()
        plan.append(
            (
                "sim-naver-commerce",
                ports["naver"],
                [
                    find_binary("inbox-sim-naver-commerce"),
                    "--port",
                    str(ports["naver"]),
                    "--client-id",
                    client_id,
                    "--client-secret",
                    env["NAVER_COMMERCE_CLIENT_SECRET"],
                    "--seed",
                ],
            )
        )
        self.urls["naver"] = f"http://127.0.0.1:{ports['naver']}"
        env["NAVER_COMMERCE_URL"] = self.urls["naver"] + "/external"
        env.setdefault("INBOX_MARKET_POLL_S", "5")

        env.setdefault("FACEBOOK_APP_SECRET", DEMO_APP_SECRET)
        env.setdefault("FACEBOOK_VERIFY_TOKEN", "demo-verify-token")
        env.setdefault("FACEBOOK_PAGE_TOKEN", "demo-page-token")
        plan.append(
            (
                "sim-meta",
                ports["meta"],
                [
                    find_binary("inbox-sim-meta"),
                    "--port",
                    str(ports["meta"]),
                    "--app-secret",
                    env["FACEBOOK_APP_SECRET"],
                    "--page-token",
                    env["FACEBOOK_PAGE_TOKEN"],
                ],
            )
        )
        env["META_GRAPH_URL"] = f"http://127.0.0.1:{ports['meta']}/v21.0"

        env.setdefault("KAKAO_SKILL_TOKEN", "demo-skill-token")
        env.setdefault("KAKAO_SENDER_CLIENT_ID", "demo-dealer")
        env.setdefault("KAKAO_SENDER_KEY", "demo-dealer-key")
        env.setdefault("KAKAO_SENDER_PROFILE_KEY", "demo-profile")
        env.setdefault("KAKAO_CALLBACK_HOSTS", "127.0.0.1")
        # The simulator's callback URLs are plain http on this machine, which only a
        # simulator may use: a real callback is https on Kakao's hosts.
        env.setdefault("KAKAO_CALLBACK_ALLOW_LOCAL", "1")
        self.urls["kakao"] = f"http://127.0.0.1:{ports['kakao']}"
        env["KAKAO_SENDER_URL"] = self.urls["kakao"] + KAKAO_SENDER_PATH
        plan.append(
            (
                "sim-kakao",
                ports["kakao"],
                [
                    find_binary("inbox-sim-kakao"),
                    "--port",
                    str(ports["kakao"]),
                    "--webhook",
                    f"{social}/webhooks/kakao",
                    "--skill-token",
                    env["KAKAO_SKILL_TOKEN"],
                    "--client-id",
                    env["KAKAO_SENDER_CLIENT_ID"],
                    "--client-secret",
                    env["KAKAO_SENDER_KEY"],
                    "--sender-key",
                    env["KAKAO_SENDER_PROFILE_KEY"],
                ],
            )
        )

        env.setdefault("NAVER_TALKTALK_TOKEN", "demo-talktalk-token")
        # The simulator calls from this machine, not from Naver's ranges.
        env.setdefault("NAVER_TALKTALK_ALLOWED_IPS", "127.0.0.1/32")
        self.urls["talktalk"] = f"http://127.0.0.1:{ports['talktalk']}"
        env["NAVER_TALKTALK_URL"] = self.urls["talktalk"] + "/chatbot/v1/event"
        plan.append(
            (
                "sim-naver-talktalk",
                ports["talktalk"],
                [
                    find_binary("inbox-sim-naver-talktalk"),
                    "--port",
                    str(ports["talktalk"]),
                    "--token",
                    env["NAVER_TALKTALK_TOKEN"],
                    "--webhook",
                    f"{social}/webhooks/naver-talktalk",
                ],
            )
        )

        env.setdefault("COUPANG_ACCESS_KEY", "demo-access-key")
        env.setdefault("COUPANG_SECRET_KEY", "demo-secret-key")
        env.setdefault("COUPANG_VENDOR_ID", "A00012345")
        self.urls["coupang"] = f"http://127.0.0.1:{ports['coupang']}"
        env["COUPANG_URL"] = self.urls["coupang"]
        plan.append(
            (
                "sim-coupang",
                ports["coupang"],
                [
                    find_binary("inbox-sim-coupang"),
                    "--port",
                    str(ports["coupang"]),
                    "--access-key",
                    env["COUPANG_ACCESS_KEY"],
                    "--secret-key",
                    env["COUPANG_SECRET_KEY"],
                    "--vendor-id",
                    env["COUPANG_VENDOR_ID"],
                    "--seed",
                ],
            )
        )

        env.setdefault("ELEVENST_API_KEY", "demo-11st-key")
        self.urls["elevenst"] = f"http://127.0.0.1:{ports['elevenst']}"
        env["ELEVENST_URL"] = self.urls["elevenst"]
        plan.append(
            (
                "sim-elevenst",
                ports["elevenst"],
                [
                    find_binary("inbox-sim-elevenst"),
                    "--port",
                    str(ports["elevenst"]),
                    "--api-key",
                    env["ELEVENST_API_KEY"],
                    "--seed",
                ],
            )
        )

        return plan

    # --- traffic -------------------------------------------------------------------------

    def send_mail(self) -> None:
        env = self.stack.env
        name, address = random.choice(CUSTOMERS)
        subject, body = random.choice(MAIL_INQUIRIES)
        msg = EmailMessage()
        msg["From"] = f"{name} <{address}>"
        msg["To"] = "cs@shop.example"
        previous = self.last_mail_ids.get(address)
        if previous and random.random() < 0.4:
            # A follow-up in the same thread: joins the existing conversation.
            msg["Subject"] = f"Re: {subject}"
            msg["In-Reply-To"] = previous
            msg["References"] = previous
            body = "추가로 문의드려요. 빠른 답변 부탁드립니다!"
        else:
            msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="example.com")
        self.last_mail_ids[address] = msg["Message-ID"]
        msg.set_content(f"안녕하세요.\n\n{body}\n\n{name} 드림")
        port = int(env.get("INBOX_SMTP_PORT", "2525"))
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)
        self.sent["mail"] += 1

    def send_facebook(self) -> None:
        env = self.stack.env
        psid = f"{random.randint(1, 5)}00212345678"
        now_ms = int(time.time() * 1000)
        body = {
            "object": "page",
            "entry": [
                {
                    "id": DEMO_PAGE_ID,
                    "time": now_ms,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": DEMO_PAGE_ID},
                            "timestamp": now_ms,
                            "message": {
                                "mid": f"m_demo_{now_ms}_{random.randint(0, 1_000_000)}",
                                "text": random.choice(CHAT_MESSAGES),
                            },
                        }
                    ],
                }
            ],
        }
        raw = json.dumps(body, ensure_ascii=False).encode()
        sig = hmac.new(env["FACEBOOK_APP_SECRET"].encode(), raw, hashlib.sha256).hexdigest()
        port = env.get("INBOX_SOCIAL_PORT", "8081")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/facebook",
            data=raw,
            method="POST",
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
        self.sent["facebook"] += 1

    def send_qna(self) -> None:
        product_id, product, question = random.choice(QNA_QUESTIONS)
        writer = random.choice(["hong****", "kim1****", "lee2****", "park****"])
        _post_json(
            self.urls["naver"] + "/_sim/qnas",
            {
                "productId": int(product_id),
                "productName": product,
                "question": question,
                "maskedWriterId": writer,
            },
        )
        self.sent["smartstore"] += 1

    def send_kakao(self) -> None:
        _post_json(
            f"{self.urls['kakao']}/_sim/utter",
            {
                "utterance": random.choice(CHAT_MESSAGES),
                "user_key": f"kakao-user-{random.randint(1, 5)}",
            },
        )
        self.sent["kakao"] += 1

    def send_talktalk(self) -> None:
        _post_json(
            f"{self.urls['talktalk']}/_sim/deliver",
            {
                "event": "send",
                "user": f"talk-user-{random.randint(1, 5)}",
                "text": random.choice(CHAT_MESSAGES),
            },
        )
        self.sent["talktalk"] += 1

    def send_coupang(self) -> None:
        _post_json(
            f"{self.urls['coupang']}/_sim/online-inquiries",
            {
                "content": random.choice([q for _, _, q in QNA_QUESTIONS]),
                "vendorId": self.stack.env["COUPANG_VENDOR_ID"],
            },
        )
        self.sent["coupang"] += 1

    def send_elevenst(self) -> None:
        product_id, product, question = random.choice(QNA_QUESTIONS)
        _post_json(
            f"{self.urls['elevenst']}/_sim/qnas",
            {
                "brdInfoCont": question,
                "brdInfoSbjct": "상품 문의",
                "brdInfoClfNo": product_id,
                "prdNm": product,
                "memID": "buyer***",
            },
        )
        self.sent["11st"] += 1

    def _queue_size(self, token: str | None) -> int | None:
        if token is None:
            return None
        port = self.stack.env.get("INBOX_API_PORT", "8080")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/conversations?limit=200",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return len(json.loads(resp.read())["items"])
        except OSError:
            return None

    def seed_faq(self, token: str | None) -> None:
        """The example FAQ entries of a Korean shop (faq_examples.yaml), into an empty FAQ,
        so the bot answers the demo's chat questions and agents see suggestions."""
        if token is None:
            return
        base = f"http://127.0.0.1:{self.stack.env.get('INBOX_API_PORT', '8080')}/api/faq"
        auth = {"Authorization": f"Bearer {token}"}
        try:
            with urllib.request.urlopen(urllib.request.Request(base, headers=auth), timeout=5) as r:
                if json.loads(r.read())["items"]:
                    return
            for entry in example_entries():
                _post_json(base, {k: v for k, v in entry.items() if k != "key"}, auth)
        except (OSError, ValueError) as err:
            self.stack.say(f"demo: FAQ entries not loaded: {err}")
            return
        self.stack.say(f"demo: loaded {len(example_entries())} example FAQ entries")

    def answer_one(self, token: str | None) -> None:
        """The demo's own agent: answers the most urgent unanswered open conversation, or
        resolves one it answered, so the reports page shows response times and 응대율."""
        if token is None:
            return
        base = f"http://127.0.0.1:{self.stack.env.get('INBOX_API_PORT', '8080')}/api/conversations"
        auth = {"Authorization": f"Bearer {token}"}
        req = urllib.request.Request(f"{base}?status=open&limit=20", headers=auth)
        with urllib.request.urlopen(req, timeout=5) as resp:
            items = json.loads(resp.read())["items"]
        answered = [c for c in items if (c.get("sla") or {}).get("first_response_at")]
        waiting = [c for c in items if c not in answered]
        if answered and (len(answered) > 3 or not waiting):
            _post_json(f"{base}/{answered[0]['id']}/status", {"status": "resolved"}, auth)
        elif waiting:
            _post_json(f"{base}/{waiting[0]['id']}/reply", {"text": DEMO_ANSWER}, auth)

    def _loop(self, token: str | None, stopping: threading.Event) -> None:
        self.seed_faq(token)
        senders = itertools.cycle(
            [
                self.send_mail,
                self.send_facebook,
                self.send_qna,
                self.send_kakao,
                self.send_mail,
                self.send_talktalk,
                self.send_coupang,
                self.send_elevenst,
            ]
        )
        agent_turn = itertools.cycle([False, True, False])  # the demo agent acts every third
        last_line = 0.0
        tty = sys.stdout.isatty()
        while not stopping.wait(1.0 / self.rate):
            sender = next(senders)
            try:
                sender()
                if next(agent_turn):
                    self.answer_one(token)
            except (OSError, ValueError) as err:
                self.sent["failed"] += 1
                self.stack.say(f"demo: {sender.__name__} failed: {err}")
            now = time.monotonic()
            if now - last_line >= (1.0 if tty else 10.0):
                last_line = now
                size = self._queue_size(token)
                counts = " ".join(f"{k}={v}" for k, v in self.sent.items())
                line = f"demo: sent {counts} | queue: {size if size is not None else '?'}"
                if tty:
                    print("\r" + line, end="", flush=True)
                else:
                    print(line, flush=True)

    def start(self, token: str | None, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._thread = threading.Thread(target=self._loop, args=(token, stopping), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=15)
            print("", flush=True)
