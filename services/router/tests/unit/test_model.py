"""The routing model: probabilities, determinism, and the numpy fast path."""

from __future__ import annotations

import numpy as np
import pytest

from inbox_router.learning import train
from inbox_router.model import Example, RoutingModel, describe, heldout_examples


@pytest.fixture(scope="module")
def model() -> RoutingModel:
    return train([])


def test_fast_probabilities_equal_scikit_learns(model: RoutingModel) -> None:
    x = model.featurizer.transform(heldout_examples())
    assert np.allclose(model.probabilities(x), model.classifier.predict_proba(x), atol=1e-9)


def test_guesses_are_probabilities_best_first(model: RoutingModel) -> None:
    guesses = model.predict("재입고 언제 되나요 블랙 M", channel="naver_commerce")
    assert guesses[0][0] == "restock"
    assert [p for _, p in guesses] == sorted((p for _, p in guesses), reverse=True)
    assert sum(p for _, p in guesses) == pytest.approx(1.0)
    assert describe(guesses).startswith("restock 0.")


def test_training_is_deterministic() -> None:
    examples = [
        Example(text=t, label=label)
        for label, texts in {
            "shipping": [
                "배송 언제 와요",
                "택배 어디쯤",
                "출고 됐나요",
                "송장 알려주세요",
                "도착 언제",
            ],
            "app": ["앱이 꺼져요", "로그인 오류", "화면이 하얘요", "버튼이 안 눌려요", "앱 멈춤"],
        }.items()
        for t in texts
    ]
    first, second = RoutingModel.train(examples), RoutingModel.train(examples)
    x = first.featurizer.transform(examples)
    assert np.array_equal(first.probabilities(x), second.probabilities(x))
