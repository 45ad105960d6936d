"""The `/_sim/` admin of every simulator over HTTP (what tests and `make demo` use): add a
question, edit it, answer it on the platform, delete it, inject a fault."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest


@pytest.fixture
def sims(naver_sim: Any, coupang: Any, elevenst: Any) -> dict[str, Any]:
    return {"naver_sim": naver_sim, "coupang": coupang, "elevenst": elevenst}


ADMIN = [
    ("naver_sim", "/_sim/qnas", {"question": "M 사이즈 있나요?"}, "questionId", "question"),
    (
        "naver_sim",
        "/_sim/inquiries",
        {"inquiryContent": "배송 언제 되나요?", "title": "배송 문의"},
        "inquiryNo",
        "inquiryContent",
    ),
    ("coupang", "/_sim/online-inquiries", {"content": "재입고 되나요?"}, "inquiryId", "content"),
    (
        "coupang",
        "/_sim/call-center-inquiries",
        {"content": "[통합이관] 배송 지연"},
        "inquiryId",
        "content",
    ),
    ("elevenst", "/_sim/qnas", {"brdInfoCont": "사이즈 문의"}, "brdInfoNo", "brdInfoCont"),
]


@pytest.mark.parametrize(
    ("sim_name", "prefix", "body", "id_field", "text_field"),
    ADMIN,
    ids=["naver-qnas", "naver-inquiries", "coupang-online", "coupang-callcenter", "elevenst-qnas"],
)
async def test_admin_adds_edits_answers_and_deletes_a_question(
    sims: dict[str, Any],
    http: aiohttp.ClientSession,
    sim_name: str,
    prefix: str,
    body: dict[str, Any],
    id_field: str,
    text_field: str,
) -> None:
    base = sims[sim_name].root_url + prefix

    async with http.post(base, json=body) as resp:
        assert resp.status == 201
        item_id = (await resp.json())[id_field]
    async with http.patch(f"{base}/{item_id}", json={"text": "수정: 색상도 알려주세요"}) as resp:
        assert resp.status == 200
    async with http.post(f"{base}/{item_id}/answer", json={"text": "내일 입고됩니다."}) as resp:
        assert resp.status == 200
    async with http.get(base) as resp:
        (listed,) = (await resp.json())["contents"]
    async with http.delete(f"{base}/{item_id}") as resp:
        assert resp.status == 200
    async with http.patch(f"{base}/999999", json={"text": "없음"}) as resp:
        assert resp.status == 404

    assert listed[text_field] == "수정: 색상도 알려주세요"
    assert "내일 입고됩니다." in str(listed)


@pytest.mark.parametrize("sim_name", ["naver_sim", "coupang", "elevenst"])
async def test_admin_refuses_a_question_without_text(
    sims: dict[str, Any], http: aiohttp.ClientSession, sim_name: str
) -> None:
    sim = sims[sim_name]
    prefix = "/_sim/online-inquiries" if sim_name == "coupang" else "/_sim/qnas"

    async with http.post(sim.root_url + prefix, json={"productId": 1}) as resp:
        assert resp.status == 400
    async with http.post(sim.root_url + "/_sim/faults", json={"status": 503}) as resp:
        assert resp.status == 201
