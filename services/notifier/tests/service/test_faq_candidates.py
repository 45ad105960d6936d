"""FAQ candidates from the queue on the real bus and store: forty conversations, twelve of
which ask the same new question in different words; that cluster comes first, with the
answer agents gave most."""

from __future__ import annotations

from typing import Any

from inbox_core.faq_examples import example_entries

NotifierHarness = Any  # the `notifier` fixture (conftest.py): minji is admin, junho an agent

NEW_QUESTION = [  # no entry covers delivery to a military base
    "군부대로도 배송 되나요?",
    "부대로 택배 보낼 수 있어요?",
    "군대 주소로 주문 가능한가요",
    "군부대 배송 가능?",
    "훈련소로 보내주실 수 있나요",
    "군인인데 부대로 받을 수 있나요",
    "부대 안으로 배송되나요",
    "군부대 택배 받을 수 있어요?",
    "남자친구 부대로 보내려는데 가능할까요",
    "군 부대 주소로 배송해주시나요",
    "부대로 주문하면 배송돼요?",
    "군부대도 택배 가나요",
]
SMALLER_NEW = ["이 옷 임산부가 입어도 되나요", "임산부도 입을 수 있나요", "임산부용으로 괜찮은가요"]
COVERED = [  # entries answer these already
    "배송 얼마나 걸려요?",
    "쿠폰 사용법 알려주세요",
    "반품 신청 어떻게 하나요?",
    "재입고 언제 되나요",
    "적립금 어떻게 써요",
    "비밀번호 찾기",
    "회원 탈퇴 방법",
    "현금영수증 발급 되나요",
    "배송비 얼마예요",
    "교환 신청 방법",
    "무이자 할부 되나요?",
    "선물 포장 되나요?",
]
ONE_OFFS = [
    "이 원피스 안감 있나요?",
    "바지 기장이 어떻게 되나요?",
    "니트 보풀 잘 일어나나요?",
    "상담원 연결해주세요",
    "감사합니다",
    "모델 키가 몇이에요?",
    "이 가방 노트북 들어가요?",
    "색상이 사진이랑 같나요?",
    "신발도 파나요?",
    "다음 시즌 신상 언제 나와요",
    "소재가 뭐에요?",
    "ㅇㅋ",
    "택배 상자에 이름 안 보이게 해주세요",
]
AGENT_ANSWER = "네, 군부대로도 배송돼요. 주소에 부대명과 받는 분 성함을 꼭 적어주세요."


async def test_the_new_question_asked_twelve_ways_is_the_first_candidate(
    notifier: NotifierHarness,
) -> None:
    for entry in example_entries():
        status, _ = await notifier.post("/api/faq", {k: v for k, v in entry.items() if k != "key"})
        assert status == 201
    questions = [*NEW_QUESTION, *SMALLER_NEW, *COVERED, *ONE_OFFS]
    assert len(questions) == 40
    for n, text in enumerate(questions):
        await notifier.publish(notifier.routed(n, f"c{n}", text=text))
    await notifier.wait_for(
        "/api/conversations", lambda b: len(b["items"]) == 40, limit="100", timeout=30
    )
    # Agents answered most of the military-base questions the same way.
    for n in range(8):
        reply = AGENT_ANSWER if n < 6 else "부대명 적어주시면 보내드려요."
        status, body = await notifier.post(f"/api/conversations/c{n}/reply", {"text": reply})
        assert status == 201, body

    found = (await notifier.get("/api/faq/candidates", days="7"))["items"]
    first = found[0]
    ids = {f"c{n}" for n in range(len(NEW_QUESTION))}
    assert set(first["conversation_ids"]) <= ids  # nothing else mixed in
    assert first["count"] == len(first["conversation_ids"]) >= 10
    assert len(first["examples"]) == 3
    assert all(e in NEW_QUESTION for e in first["examples"])
    assert first["answer"] == AGENT_ANSWER
    # Covered questions and one-offs are never candidates.
    shown = {q for c in found for q in c["examples"]}
    assert not shown & set(COVERED + ONE_OFFS)


async def test_agents_may_not_read_candidates(notifier: NotifierHarness) -> None:
    async with notifier.http.get(
        f"{notifier.url}/api/faq/candidates", headers={"Authorization": "Bearer token-junho"}
    ) as r:
        assert r.status == 403
        assert (await r.json())["code"] == "forbidden"
