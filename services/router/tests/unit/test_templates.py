"""Placeholders in notes and auto-replies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox_router.facts import DEFAULT_CALENDAR
from inbox_router.templates import DEFERRED_NUMBER, check_template, format_local, render


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{{customer.name}}님", {"customer.name": "김민수"}, "김민수님"),
        ("{{ customer.name | 고객 }}님", {"customer.name": None}, "고객님"),
        ("{{customer.name}}님", {}, "님"),
        ("#{{conversation.number}}", {"conversation.number": "12"}, "#12"),
        ("#{{conversation.number|?}}", {"conversation.number": None}, "#" + DEFERRED_NUMBER),
        ("{{product.name|상품}} 문의", {"product.name": "니트"}, "니트 문의"),
    ],
    ids=["value", "fallback-with-spaces", "missing-is-empty", "number-known",
         "number-deferred-to-notifier", "product"],
)  # fmt: skip
def test_placeholders_render(template: str, values: dict[str, str | None], expected: str) -> None:
    assert render(check_template(template), values) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{customer.nmae}}", "unknown placeholder {{customer.nmae}}"),
        ("{{customer.name}", "unbalanced"),
        ("안녕하세요 }}", "unbalanced"),
    ],
    ids=["typo", "unclosed", "stray-close"],
)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        check_template(template)


def test_due_times_are_shown_in_the_calendar_time_zone() -> None:
    at = datetime(2025, 10, 10, 1, 0, tzinfo=UTC)
    assert format_local(at, DEFAULT_CALENDAR) == "10월 10일(금) 10:00"
    assert format_local(None, DEFAULT_CALENDAR) is None
