"""Properties of the FAQ matcher on arbitrary text: it never raises, scores stay in [0, 1],
at most `limit` matches come back, folding is idempotent, and spacing never changes the
answer for Korean text."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from inbox_core.faq_examples import example_matcher
from inbox_core.faq_matcher import fold

MATCHER = example_matcher()
HANGUL = st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), max_size=30)


@given(st.text(max_size=300))
@example("")
@example("ㅋㅋㅋㅋ!!!???")
@example("\x00\u200b\ufeff배송")
def test_match_never_raises_and_scores_are_bounded(text: str) -> None:
    result = MATCHER.match(text)
    assert len(result.matches) <= 3
    assert all(0.0 <= m.score <= 1.0001 for m in result.matches)
    assert not result.auto or result.matches


@given(st.text(max_size=200))
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(st.lists(HANGUL, min_size=1, max_size=5))
@example(["배송", "얼마나", "걸려요"])
def test_spacing_does_not_change_the_result(words: list[str]) -> None:
    spaced, joined = MATCHER.match(" ".join(words)), MATCHER.match("".join(words))
    assert spaced == joined
