"""The routing model: probabilities, determinism, and the numpy scorer the router serves
(the same probabilities as the scikit-learn pipeline that trained it)."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from inbox_core.korean_text import DEFAULT_NORMALISER
from inbox_router.labelled import Example, describe, training_examples
from inbox_router.model import RoutingModel
from inbox_router.scorer import Scorer, char_ngrams, char_wb_ngrams
from inbox_router.trainer import train_model

ODD = [
    Example(text="", label=""),
    Example(text="   ", label="", subject="  배송  문의\n\n받은 게 없어요", channel="unknown"),
    Example(text="Hello THERE 😀😀 재입고!!", label="", channel="kakao"),
    Example(text="ㅋ", label="", subject="a"),
    Example(text="환불환불환불 환불 해주세요\t\t지금", label="", channel="coupang"),
]


@pytest.fixture(scope="module")
def model() -> RoutingModel:
    return train_model([])


@pytest.fixture(scope="module")
def scorer(model: RoutingModel) -> Scorer:
    return Scorer.from_bytes(Scorer.to_bytes(model.arrays()))


def test_scorer_gives_the_probabilities_of_the_scikit_learn_pipeline(
    model: RoutingModel, scorer: Scorer
) -> None:
    examples = training_examples()[::7] + ODD
    expected = model.classifier.predict_proba(model.featurizer.transform(examples))
    got = np.array([scorer.probabilities(e) for e in examples])
    assert scorer.labels == model.labels
    assert np.allclose(got, expected, atol=1e-6)
    assert [g[0][0] for g in scorer.predict_many(examples)] == [
        model.labels[i] for i in expected.argmax(axis=1)
    ]


@pytest.mark.parametrize("analyzer", ["char_wb", "char"], ids=["within-words", "across-spaces"])
def test_scorer_ngrams_are_scikit_learns(analyzer: str) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = "배송  언제\n와요 ok   a 환불해주세요"
    ours = (char_wb_ngrams if analyzer == "char_wb" else char_ngrams)(text, 4)
    theirs = TfidfVectorizer(analyzer=analyzer, ngram_range=(1, 4)).build_analyzer()(text)
    assert sorted(ours) == sorted(theirs)


def test_fast_probabilities_equal_scikit_learns(model: RoutingModel) -> None:
    x = model.featurizer.transform(training_examples()[::5])
    assert np.allclose(model.probabilities(x), model.classifier.predict_proba(x), atol=1e-9)


def _plain_probabilities(scorer: Scorer, e: Example) -> np.ndarray:
    """The scorer's sums written plainly, term by term (what its cached, batched code does)."""
    cols: list[int] = []
    values: list[float] = []
    for field, text in ((scorer.body, e.text), (scorer.subject, e.subject)):
        grams = char_wb_ngrams(DEFAULT_NORMALISER.spaced(text or "").lower(), scorer.n_max)
        counts = Counter(g for g in grams if g in field.columns)
        if not counts:
            continue
        field_cols = [field.columns[g] for g in counts]
        tf = np.array([1.0 + math.log(n) for n in counts.values()], dtype=np.float32)
        tf *= field.idf[[c - field.offset for c in field_cols]]
        tf /= np.float32(float(np.sqrt(np.dot(tf, tf))))
        cols += field_cols
        values += [float(v) * field.weight for v in tf]
    if e.channel in scorer.channels:
        cols.append(scorer.channels[e.channel])
        values.append(scorer.channel_weight)
    folds, classes = scorer._intercept.shape
    scores = np.asarray(values, dtype=np.float64) @ scorer._coef[cols]
    scores = scores.reshape(folds, classes) + scorer._intercept
    proba = 1.0 / (1.0 + np.exp(scorer._a * scores + scorer._b))
    total = proba.sum(axis=1, keepdims=True)
    proba = np.divide(proba, total, out=np.full_like(proba, 1 / classes), where=total != 0)
    return np.asarray(proba.mean(axis=0))


def test_scorer_gives_exactly_the_plain_sums_whatever_it_saw_before(scorer: Scorer) -> None:
    """Bit for bit (a routing decision compares probabilities with thresholds), on the
    shipped messages, the odd ones, long ones with repeated words, twice (the second time
    from the scorer's word cache)."""
    shipped = training_examples()
    long = [
        Example(text=(a.text + "  \n ") * 5 + b.text, label="", subject=a.text, channel="kakao")
        for a, b in zip(shipped[::11], shipped[5::11], strict=False)
    ]
    for e in shipped + ODD + long + shipped[::3]:
        assert np.array_equal(scorer.probabilities(e), _plain_probabilities(scorer, e)), e


def test_guesses_are_probabilities_best_first(scorer: Scorer) -> None:
    guesses = scorer.predict("재입고 언제 되나요 블랙 M", channel="naver_commerce")
    assert guesses[0][0] == "restock"
    assert [p for _, p in guesses] == sorted((p for _, p in guesses), reverse=True)
    assert sum(p for _, p in guesses) == pytest.approx(1.0)
    assert describe(guesses).startswith("restock 0.")


def test_the_router_scores_without_importing_scikit_learn() -> None:
    """The router trains in a child process and keeps a numpy scorer: scikit-learn and scipy
    (about 60 MB) are never imported by the long-running process."""
    code = (
        "import asyncio, sys\n"
        "import inbox_router.app\n"
        "from inbox_router.learning import train\n"
        "scorer = asyncio.run(train([]))\n"
        "assert scorer.predict('송장번호 알려주세요')[0][0] == 'shipping'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


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
