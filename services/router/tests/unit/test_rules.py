"""Rules: Korean keyword routing, conditions, first match vs continue, how actions combine,
explanations, templates, and clear errors for a bad rules file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from inbox_core.schema import Customer, Direction, InboundMessage, MessageFlags, Priority
from inbox_router.facts import ConversationFacts, CustomerFacts, MatchFacts
from inbox_router.rules import RulesError, RuleSet, load_rules, normalise_text, parse_rules
from inbox_router.settings import DEFAULT_RULES

# Tuesday 2025-09-30 11:00 and 21:00 in Seoul.
DURING_HOURS = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)
AFTER_HOURS = datetime(2025, 9, 30, 12, 0, tzinfo=UTC)
DEFAULT = load_rules(DEFAULT_RULES)


def _message(
    text: str,
    channel: str = "mail",
    subject: str | None = None,
    *,
    at: datetime = DURING_HOURS,
    **kw: Any,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account=kw.pop("account", "shop"),
        external_id="1",
        thread_keys=["k"],
        customer=kw.pop("customer", Customer(id="c")),
        subject=subject,
        text=text,
        received_at=at,
        **kw,
    )


def _rules(rules: list[dict[str, Any]], **top: Any) -> RuleSet:
    return parse_rules({"rules": rules, **top})


@pytest.mark.parametrize(
    ("text", "team", "category", "priority", "tag"),
    [
        ("11월 18일 주문했는데 아직 배송 전인가요?", "shipping", "shipping", Priority.NORMAL,
         "배송"),
        ("받은 니트에 구멍이 있어요. 불량인 것 같아요", "claims", "defect_missing_wrong",
         Priority.HIGH, "불량·누락·오배송"),
        ("사이즈가 안 맞아서 환불하고 싶어요", "returns", "refund_return_exchange", Priority.HIGH,
         "환불·반품·교환"),
        ("네이비 색상 재입고 언제 되나요?", "product", "restock", Priority.NORMAL, "재입고"),
        ("본인인증 문자가 안 와요", "account", "identity", Priority.HIGH, "본인인증"),
        ("앱이 자꾸 꺼져요", "app", "app", Priority.NORMAL, "앱"),
        ("소재가 면 100%인가요?", "product", "product", Priority.NORMAL, "상품문의"),
        ("안녕하세요", "general", "general", Priority.NORMAL, None),
    ],
    ids=["shipping", "defect", "refund", "restock", "identity", "app", "product",
         "no-keyword-general"],
)  # fmt: skip
def test_default_rules_route_korean_inquiries(
    text: str, team: str, category: str, priority: Priority, tag: str | None
) -> None:
    decision = DEFAULT.decide(_message(text))
    assert decision.team == team
    assert decision.category == category
    assert decision.priority == priority
    assert (tag in decision.tags) if tag else decision.tags == []
    assert decision.reasons


def test_category_comes_from_the_first_matching_rule_that_sets_one() -> None:
    rules = _rules(
        [
            {"name": "vip-signal", "when": {"keywords_any": ["급해"]}, "set": {"priority": "high"},
             "continue": True},
            {"name": "coupon", "when": {"keywords_any": ["쿠폰"]},
             "set": {"team": "marketing", "category": "coupon"}},
        ]
    )  # fmt: skip
    assert rules.decide(_message("급해요 쿠폰이 적용이 안돼요")).category == "coupon"
    assert rules.decide(_message("급해요")).category == "general"
    with pytest.raises(RulesError, match="category"):
        _rules([{"name": "bad", "set": {"category": "Not A Slug"}}])


def test_keywords_match_across_spacing_and_width() -> None:
    assert normalise_text("배 송") == normalise_text("배송")
    decision = DEFAULT.decide(_message("ＲＥＦＵＮＤ please"))
    assert decision.team == "returns"


class FixedModel:
    """A routing model that always gives the same probabilities."""

    def __init__(self, **probabilities: float) -> None:
        self.guesses = sorted(probabilities.items(), key=lambda p: -p[1])

    def predict(
        self, text: str, subject: str | None = None, channel: str = "mail"
    ) -> list[tuple[str, float]]:
        return self.guesses


def test_offline_store_question_is_not_a_product_keyword() -> None:
    """LABELLING.md: "do you have an offline store where I can see it" is general."""
    decision = DEFAULT.decide(_message("부산에도 매장 있어요? 직접 보고 사고 싶어요"))
    assert decision.category == "general" and decision.team == "general"


@pytest.mark.parametrize(
    ("model", "category"),
    [
        (FixedModel(general=0.85, product=0.05, shipping=0.1), "general"),
        (FixedModel(general=0.65, product=0.05, shipping=0.3), "product"),
        (FixedModel(general=0.85, product=0.35), "product"),
    ],
    ids=["sure-of-general", "not-sure-enough", "rule-category-still-likely"],
)
def test_model_sends_a_stray_keyword_match_to_general_only_when_sure(
    model: FixedModel, category: str
) -> None:
    """`추천` is a product keyword; in a question about a referral event the model may give
    the message to `general` (general_at 0.7) unless it still gives product keep_at."""
    decision = DEFAULT.decide(_message("친구 추천 이벤트는 어떻게 참여해요?"), model=model)
    assert decision.category == category
    if category == "general":
        assert decision.team == "general" and "상품문의" not in decision.tags
        assert any("keyword match is weak" in r for r in decision.reasons)


def test_rule_written_for_a_channel_keeps_its_category_against_general() -> None:
    rules = _rules(
        [{"name": "kakao-desk", "when": {"channel": ["kakao"]},
          "set": {"team": "kakao", "category": "kakao_orders"}}],
        model={"general_at": 0.5},
    )  # fmt: skip
    decision = rules.decide(_message("안녕하세요", channel="kakao"), model=FixedModel(general=0.99))
    assert decision.category == "kakao_orders"


def test_marketplace_question_without_keyword_goes_to_product() -> None:
    decision = DEFAULT.decide(_message("문의드립니다", channel="naver_commerce"))
    assert decision.team == "product"


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("환불 안 해주면 소비자원에 신고할 거예요", Priority.URGENT),
        ("환불안해주시면 고소하겠습니다", Priority.URGENT),
        ("이거 완전 사기네요 돈 돌려주세요", Priority.URGENT),
        ("사기 전에 하나만 여쭤볼게요 기모 안감인가요?", Priority.NORMAL),
        ("고소한 맛이 나는 견과류인가요?", Priority.NORMAL),
    ],
    ids=["consumer-agency", "lawsuit-no-spaces", "fraud", "before-buying-is-not-fraud",
         "nutty-taste-is-not-a-lawsuit"],
)  # fmt: skip
def test_escalation_words_make_a_message_urgent(text: str, priority: Priority) -> None:
    decision = DEFAULT.decide(_message(text))
    assert decision.priority == priority
    assert ("에스컬레이션" in decision.tags) == (priority == Priority.URGENT)


def test_escalation_keeps_the_topic_team_and_adds_a_note() -> None:
    decision = DEFAULT.decide(_message("환불 안 해주면 소비자원에 신고할 거예요"))
    assert decision.team == "returns"
    assert decision.note is not None and "에스컬레이션" in decision.note
    assert decision.reasons[0].startswith("rule escalation: keyword '소비자원' in text")


def test_vip_customer_gets_high_priority_from_the_store_flag() -> None:
    facts = MatchFacts(customer=CustomerFacts(id="c1", vip=True))
    decision = DEFAULT.decide(_message("배송 언제 되나요"), facts)
    assert (decision.team, decision.priority) == ("shipping", Priority.HIGH)
    assert "VIP" in decision.tags
    assert "rule vip: VIP customer" in decision.reasons


@pytest.mark.parametrize(
    "customer",
    [
        Customer(id="x", email="Kim@Example.com"),
        Customer(id="x", phone="010-1234-5678"),
        Customer(id="psid-9"),
    ],
    ids=["email-any-case", "phone-any-format", "channel-identity"],
)
def test_vip_list_in_the_rules_file_matches_email_phone_or_identity(customer: Customer) -> None:
    rules = _rules(
        [{"name": "vip", "when": {"customer": {"vip": True}}, "set": {"priority": "high"}}],
        customers={"vip": ["kim@example.com", "01012345678", "kakao:shop:psid-9"]},
    )
    channel = "kakao" if customer.id == "psid-9" else "mail"
    assert rules.decide(_message("안녕하세요", channel, customer=customer)).priority == "high"
    stranger = _message("안녕하세요", customer=Customer(id="y", email="lee@example.com"))
    assert rules.decide(stranger).priority == "normal"


def test_repeated_contact_within_24_hours_raises_priority() -> None:
    recent = MatchFacts(
        customer=CustomerFacts(
            id="c", earlier_conversations=1, last_other_contact_at=DURING_HOURS - timedelta(hours=3)
        )
    )
    old = MatchFacts(
        customer=CustomerFacts(
            id="c", earlier_conversations=1, last_other_contact_at=DURING_HOURS - timedelta(days=3)
        )
    )
    message = _message("배송 언제 되나요")
    assert DEFAULT.decide(message, recent).priority == Priority.HIGH
    assert "재문의" in DEFAULT.decide(message, recent).tags
    assert DEFAULT.decide(message, old).priority == Priority.NORMAL


@pytest.mark.parametrize(
    ("earlier", "expected"),
    [(0, "first"), (2, "returning")],
    ids=["first-contact", "returning-customer"],
)
def test_returning_customer_condition(earlier: int, expected: str) -> None:
    rules = _rules(
        [
            {"name": "returning", "when": {"customer": {"returning": True}},
             "set": {"tags": ["returning"]}},
            {"name": "first", "when": {"customer": {"returning": False}},
             "set": {"tags": ["first"]}},
        ]
    )  # fmt: skip
    facts = MatchFacts(customer=CustomerFacts(id="c", earlier_conversations=earlier))
    assert rules.decide(_message("안녕하세요"), facts).tags == [expected]


@pytest.mark.parametrize(
    ("at", "tag"),
    [
        (DURING_HOURS, "open"),
        (AFTER_HOURS, "closed"),
        (datetime(2025, 10, 6, 2, tzinfo=UTC), "closed"),
    ],
    ids=["weekday-morning", "weekday-night", "chuseok-holiday"],
)  # fmt: skip
def test_business_hours_condition_follows_the_calendar(at: datetime, tag: str) -> None:
    rules = _rules(
        [
            {"name": "open", "when": {"business_hours": True}, "set": {"tags": ["open"]}},
            {"name": "closed", "when": {"business_hours": False}, "set": {"tags": ["closed"]}},
        ]
    )
    assert rules.decide(_message("안녕하세요", at=at)).tags == [tag]


@pytest.mark.parametrize(
    ("message", "matches"),
    [
        (_message("x", channel="kakao", account="shop"), True),
        (_message("x", channel="kakao", account="outlet"), False),
        (_message("x", channel="mail", account="shop"), False),
    ],
    ids=["channel-and-account", "other-account", "other-channel"],
)
def test_channel_and_account_conditions(message: InboundMessage, matches: bool) -> None:
    rules = _rules(
        [{"name": "kakao-shop", "when": {"channel": "kakao", "account": ["shop"]},
          "set": {"team": "chat"}}]
    )  # fmt: skip
    assert (rules.decide(message).team == "chat") == matches


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("환불 계좌 알려드려요", True),
        ("환불해 주세요", False),
        ("환불 계좌 알려드려요 그런데 교환으로 할게요", False),
    ],
    ids=["all-present", "one-missing", "excluded-word"],
)
def test_keywords_all_and_none(text: str, matches: bool) -> None:
    rules = _rules(
        [{"name": "refund-account", "when": {"keywords": {"all": ["환불", "계좌"],
          "none": ["교환"]}}, "set": {"team": "finance"}}]
    )  # fmt: skip
    assert (rules.decide(_message(text)).team == "finance") == matches


def test_keywords_search_only_the_named_fields() -> None:
    rules = _rules(
        [
            {"name": "subject", "when": {"keywords": {"any": ["긴급"]}, "in": ["subject"]},
             "set": {"priority": "urgent"}},
            {"name": "product", "when": {"keywords": {"any": ["니트"]}, "in": ["product"]},
             "set": {"team": "knit"}},
        ]
    )  # fmt: skip
    assert rules.decide(_message("긴급합니다", subject="문의")).priority == "normal"
    assert rules.decide(_message("문의", subject="[긴급] 문의")).priority == "urgent"
    in_text = _message("니트 문의")
    in_product = _message("문의", context={"product_name": "캐시미어 니트"})
    assert rules.decide(in_text).team == "general"
    assert rules.decide(in_product).team == "knit"
    assert rules.decide(in_product).reasons[0] == "rule product: keyword '니트' in product"


def test_regex_condition_matches_and_explains() -> None:
    rules = _rules(
        [{"name": "order-number", "when": {"regex": [r"주문\s*번호\s*\d{8}"]},
          "set": {"tags": ["주문번호"]}}]
    )  # fmt: skip
    decision = rules.decide(_message("주문 번호 20251118 확인 부탁드려요"))
    assert decision.tags == ["주문번호"]
    assert decision.reasons[0] == (
        r"rule order-number: pattern '주문\s*번호\s*\d{8}' found '주문 번호 20251118' in text"
    )


def test_first_match_stops_unless_the_rule_continues() -> None:
    rules = _rules(
        [
            {"name": "tag-all", "set": {"tags": ["seen"]}, "continue": True},
            {"name": "shipping", "when": {"keywords": {"any": ["배송"]}},
             "set": {"team": "shipping"}},
            {"name": "never", "when": {"keywords": {"any": ["배송"]}},
             "set": {"team": "other", "tags": ["never"]}},
        ]
    )  # fmt: skip
    decision = rules.decide(_message("배송 문의"))
    assert decision.team == "shipping"
    assert decision.tags == ["seen"]
    assert [r.split(":")[0] for r in decision.reasons] == [
        "rule tag-all",
        "rule shipping",
        "default priority normal",
    ]


def test_actions_combine_across_continuing_rules() -> None:
    rules = _rules(
        [
            {"name": "low", "set": {"priority": "low", "tags": ["a"]}, "continue": True},
            {"name": "high", "set": {"priority": "high", "tags": ["b", "a"],
             "assignee": "minji"}, "continue": True},
            {"name": "team", "set": {"team": "returns", "priority": "normal",
             "assignee": "jisoo"}},
        ]
    )  # fmt: skip
    decision = rules.decide(_message("x"))
    assert decision.priority == Priority.HIGH  # the most urgent wins
    assert decision.team == "returns"
    assert decision.assignee == "minji"  # the first rule that sets one
    assert decision.tags == ["a", "b"]


def test_a_lone_low_priority_rule_lowers_the_default() -> None:
    rules = _rules([{"name": "newsletter", "when": {"keywords": {"any": ["수신거부"]}},
                     "set": {"priority": "low"}}])  # fmt: skip
    assert rules.decide(_message("광고 수신거부")).priority == Priority.LOW


def test_reasons_explain_why_each_rule_matched() -> None:
    decision = DEFAULT.decide(_message("배송 언제 와요", channel="kakao", at=AFTER_HOURS))
    assert decision.reasons == [
        "rule after-hours: channel kakao; outside business hours",
        "rule shipping: keyword '배송' in text",
        "default priority normal: no matching rule sets a priority",
    ]


def test_note_renders_variables_of_every_matching_rule() -> None:
    rules = _rules(
        [
            {"name": "who", "set": {"note": "{{customer.name|고객}} / {{message.channel}}"},
             "continue": True},
            {"name": "what", "set": {"team": "product",
             "note": "{{rule.name}}: {{product.name|상품 미확인}} {{order.id}}"}},
        ]
    )  # fmt: skip
    message = _message(
        "문의", customer=Customer(id="c", name="김민수"), context={"product_name": "니트"}
    )
    assert rules.decide(message).note == "김민수 / mail\nwhat: 니트"


def test_auto_reply_renders_placeholders_and_leaves_the_number_to_the_notifier() -> None:
    rules = _rules(
        [{"name": "ack", "set": {"auto_reply":
          "{{customer.name|고객}}님 [#{{conversation.number}}] {{product.name}} "
          "{{sla.first_response_due}}까지 답변드립니다"}}]
    )  # fmt: skip
    message = _message("문의", customer=Customer(id="c", name="이서연"),
                       context={"product_name": "니트"})  # fmt: skip
    new = rules.decide(message, MatchFacts(conversation=ConversationFacts(created=True)))
    assert new.auto_reply == (
        "이서연님 [#{{conversation.number}}] 니트 10월 1일(수) 10:00까지 답변드립니다"
    )


def test_auto_reply_renders_a_known_number() -> None:
    rules = _rules([{"name": "ack", "set": {"auto_reply": "[#{{conversation.number}}]"}}])
    facts = MatchFacts(conversation=ConversationFacts(id="c1", number=42, created=True))
    assert rules.decide(_message("x"), facts).auto_reply == "[#42]"


def test_after_hours_auto_reply_names_the_next_opening() -> None:
    decision = DEFAULT.decide(
        _message("배송 언제 와요", channel="kakao", at=AFTER_HOURS,
                 customer=Customer(id="c", name="박지훈"))
    )  # fmt: skip
    assert decision.auto_reply is not None
    assert decision.auto_reply.startswith(
        "박지훈님, 문의 감사합니다 (접수번호 #{{conversation.number}})"
    )
    assert "10월 1일(수) 09:00부터" in decision.auto_reply


@pytest.mark.parametrize(
    "flags",
    [
        MessageFlags(auto_reply=True),
        MessageFlags(bounce=True),
        MessageFlags(list_mail=True),
        MessageFlags(echo=True),
    ],
    ids=["auto-reply", "bounce", "list-mail", "echo"],
)
def test_automatic_messages_get_no_auto_reply_and_no_note(flags: MessageFlags) -> None:
    decision = DEFAULT.decide(_message("부재중입니다 배송", at=AFTER_HOURS, flags=flags))
    assert decision.auto_reply is None
    assert decision.note is None
    assert "note and auto-reply suppressed: automatic message" in decision.reasons


def test_outgoing_message_gets_no_auto_reply() -> None:
    message = _message("배송 출발했습니다", at=AFTER_HOURS, direction=Direction.OUT)
    assert DEFAULT.decide(message).auto_reply is None


def test_auto_reply_is_not_sent_into_an_existing_conversation() -> None:
    facts = MatchFacts(conversation=ConversationFacts(id="c1", number=7, created=False))
    decision = DEFAULT.decide(_message("추가 문의", channel="kakao", at=AFTER_HOURS), facts)
    assert decision.auto_reply is None
    assert any("auto-reply of rule after-hours not sent" in r for r in decision.reasons)


def test_sla_follows_the_priority_on_the_business_calendar() -> None:
    decision = DEFAULT.decide(_message("불량이에요", at=datetime(2025, 10, 2, 8, tzinfo=UTC)))
    assert decision.priority == Priority.HIGH
    assert decision.sla.policy == "high"
    assert decision.sla.first_response_minutes == 240
    # Thursday 17:00 in Seoul + 4 business hours: 1 h that day, then 개천절, the weekend,
    # 추석 and 한글날 are closed, so 3 h on Friday the 10th.
    assert decision.sla.first_response_due == datetime(2025, 10, 10, 3, tzinfo=UTC)


# --- the rules file -----------------------------------------------------------------------


def test_shipped_rules_file_loads_and_has_every_topic() -> None:
    names = [rule.name for rule in DEFAULT.rules]
    for topic in ["shipping", "refund-return-exchange", "restock", "product-question",
                  "defect-missing-wrong-item", "identity-member-info", "app-site"]:  # fmt: skip
        assert topic in names


def test_skeleton_file_format_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "sla: {urgent: 1, high: 6, normal: 24, low: 72}\n"
        "default: {team: general, priority: normal}\n"
        "rules:\n  - name: shipping\n    when: {keywords_any: [배송]}\n"
        "    set: {team: shipping}\n",
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert rules.sla.high.first_response == timedelta(hours=6)
    assert rules.decide(_message("배송 문의")).team == "shipping"


def test_custom_variants_replace_the_built_in_list() -> None:
    rules = _rules(
        [{"name": "shipping", "when": {"keywords": {"any": ["배송"]}}, "set": {"team": "s"}}],
        normalise={"variants": {"빼송": "배송"}},
    )
    assert rules.decide(_message("빼송 언제요")).team == "s"
    assert rules.decide(_message("베송 언제요")).team == "general"


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_bad_rules_file_names_the_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - name: vip\n    when: {keywords_any: [vip]}\n    set: {priority: asap}\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesError, match=r"rule 'vip' field set\.priority"):
        load_rules(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": [{"name": "a", "when": {"regex": ["(unclosed"]}}]},
         r"rule 'a' field when\.regex: invalid regular expression '\(unclosed'"),
        ({"rules": [{"name": "a", "set": {"note": "{{custmer.name}}"}}]},
         r"rule 'a' field set\.note: unknown placeholder \{\{custmer\.name\}\}"),
        ({"rules": [{"name": "a", "set": {"auto_reply": "{{customer.name}"}}]},
         r"rule 'a' field set\.auto_reply: unbalanced"),
        ({"rules": [{"name": "a", "when": {"chanel": "kakao"}}]},
         r"rule 'a' field when\.chanel: Extra inputs are not permitted"),
        ({"rules": [{"name": "a", "when": {"keywords": {"any": [" "]}}}]},
         r"rule 'a' field when\.keywords\.any: entries must not be blank"),
        ({"rules": [{"when": {"channel": "kakao"}}]}, r"rule #1 field name: Field required"),
        ({"rules": [{"name": "a", "when": {"customer": {"contacted_within": "soon"}}}]},
         r"rule 'a' field when\.customer\.contacted_within: 'soon' is not a duration"),
        ({"rules": [{"name": "a"}, {"name": "a"}]}, r"two rules are named 'a'"),
        ({"sla": {"high": "4 days"}}, r"sla\.high\.first_response: '4 days' is not a duration"),
        ({"version": 2}, r"version: Input should be 1"),
    ],
    ids=["bad-regex", "unknown-placeholder", "unbalanced-braces", "unknown-condition",
         "blank-keyword", "nameless-rule", "bad-window", "duplicate-names", "bad-sla",
         "future-version"],
)  # fmt: skip
def test_invalid_rules_are_refused_with_the_rule_and_field(
    tmp_path: Path, data: Any, message: str
) -> None:
    with pytest.raises(RulesError, match=message):
        load_rules(_write(tmp_path, data))


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: a\n    set: {team: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"cannot read rules file .*: line 4, column 1: expected"):
        load_rules(path)


def test_unreadable_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml")


def test_empty_rules_file_routes_everything_to_the_default(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("", encoding="utf-8")
    decision = load_rules(path).decide(_message("배송"))
    assert (decision.team, decision.priority) == ("general", Priority.NORMAL)
    assert decision.sla.first_response_minutes == 8 * 60


def test_coupang_call_center_deadline_is_explained_in_the_reasons() -> None:
    friday_1730 = datetime(2025, 9, 26, 8, 30, tzinfo=UTC)
    message = _message(
        "문의드립니다", channel="coupang", at=friday_1730, context={"board": "callcenter"}
    )
    decision = DEFAULT.decide(message)
    assert decision.sla.first_response_due == friday_1730 + timedelta(hours=24)
    assert any("coupang-call-center" in r and "24시간" in r for r in decision.reasons)


def test_category_table_of_the_shipped_rules_names_each_teams_categories() -> None:
    from inbox_router.category_table import category_table

    table = category_table(DEFAULT)
    assert table["teams"]["product"] == ["restock", "product"]
    assert table["teams"]["claims"] == ["defect_missing_wrong"]
    assert table["teams"]["general"] == ["general"]
    assert table["tags"]["재입고"] == "restock" and table["tags"]["배송"] == "shipping"
    assert set(table["categories"]) == {
        "shipping", "refund_return_exchange", "restock", "product", "defect_missing_wrong",
        "identity", "app", "general",
    }  # fmt: skip


def test_notifiers_fallback_category_table_matches_the_shipped_rules() -> None:
    """The notifier uses its built-in table until a router has published one."""
    from inbox_notifier.corrections import DEFAULT_TABLE
    from inbox_router.category_table import category_table

    table = category_table(DEFAULT)
    assert set(table["categories"]) == set(DEFAULT_TABLE["categories"])
    assert {k: set(v) for k, v in table["teams"].items()} == {
        k: set(v) for k, v in DEFAULT_TABLE["teams"].items()
    }
    assert table["tags"] == DEFAULT_TABLE["tags"]
