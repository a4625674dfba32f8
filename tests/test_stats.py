"""The course's one statistics protocol: paired intervals against SciPy, hand cases, verdicts and their sentences."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pretext_lessons import compare, paired_interval, verdict
from pretext_lessons.core.stats import Comparison, is_verdict_sentence


def test_interval_over_units_matches_scipy_t():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.7, 0.02, 8), rng.normal(0.68, 0.02, 8)
    c = paired_interval(a, b)
    d = a - b
    low, high = scipy_stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    assert math.isclose(c.mean, d.mean()) and math.isclose(c.low, low) and math.isclose(c.high, high)
    assert (c.n_units, c.n_seeds, c.n_splits, c.over) == (8, 8, 1, "seeds")
    # the interval excludes 0 exactly when the paired t test rejects at 5%
    p = scipy_stats.ttest_rel(a, b).pvalue
    assert (p < 0.05) == (low > 0 or high < 0)


def test_splits_are_averaged_per_seed_before_the_t_interval():
    rng = np.random.default_rng(1)
    seeds, splits = [s for s in range(3) for _ in range(4)], [j for _ in range(3) for j in range(4)]
    a, b = rng.normal(0.6, 0.03, 12), rng.normal(0.58, 0.03, 12)
    c = paired_interval(a, b, seeds=seeds, splits=splits, confidence=0.9)
    means = (a - b).reshape(3, 4).mean(1)
    low, high = scipy_stats.t.interval(0.9, 2, loc=means.mean(), scale=scipy_stats.sem(means))
    assert math.isclose(c.low, low) and math.isclose(c.high, high) and math.isclose(c.mean, means.mean())
    assert (c.n_units, c.n_seeds, c.n_splits, c.over, c.confidence) == (12, 3, 4, "seeds", 0.9)


def test_one_seed_interval_runs_over_splits_and_says_so():
    c = paired_interval([0.5, 0.6, 0.7], [0.4, 0.4, 0.4], seeds=[0, 0, 0], splits=[0, 1, 2])
    # differences 0.1, 0.2, 0.3: mean 0.2, sem 0.1/sqrt(3), t(0.975, 2) = 4.302653
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert math.isclose(c.mean, 0.2) and math.isclose(c.low, 0.2 - half) and math.isclose(c.high, 0.2 + half)
    assert c.over == "splits" and (c.n_seeds, c.n_splits) == (1, 3)
    v = verdict(c, "hand case")
    assert "pretraining noise not measured" in v.sentence and "1 seed x 3 splits" in v.sentence


def test_identical_differences_give_a_point_interval():
    c = paired_interval([0.5, 0.6], [0.4, 0.5])
    assert math.isclose(c.low, 0.1) and math.isclose(c.high, 0.1)
    assert verdict(c, "constant").outcome == "better"


@pytest.mark.parametrize("a, b, outcome", [([0.8, 0.81, 0.82], [0.7, 0.7, 0.71], "better"),
                                           ([0.6, 0.61, 0.6], [0.7, 0.7, 0.71], "worse"),
                                           ([0.7, 0.6, 0.8], [0.7, 0.7, 0.7], "not shown")])
def test_verdict_outcome_and_sentence(a, b, outcome):
    v = compare(a, b, "x vs y, k=10", better_word="higher", worse_word="lower")
    assert v.outcome == outcome
    c = v.comparison
    assert f"95% CI {100 * c.low:+.1f} to {100 * c.high:+.1f}" in v.sentence
    assert "3 seeds x 1 split" in v.sentence and v.sentence.startswith("Verdict [x vs y, k=10]: ")
    said = {"better": "higher,", "worse": "lower,", "not shown": "no difference shown,"}[outcome]
    assert said in v.sentence and str(v) == v.sentence
    assert is_verdict_sentence(v.sentence)


def test_a_measure_other_than_a_difference_is_named_and_still_a_verdict():
    # (3 seeds with one correlation of exactly 1 decide nothing on Fisher's z scale: 5 seeds here)
    v = compare([0.5, 0.9, 0.8, 0.7, 0.8], [0.0] * 5, "rank correlation across widths", "agree", "disagree", scale=1.0,
                unit="", measure="mean rank correlation")
    assert "agree, mean rank correlation +0.7 (95% CI" in v.sentence and is_verdict_sentence(v.sentence)
    flat = compare([0.5, -0.5, 0.1], [0.0, 0.0, 0.0], "x", scale=1.0, unit="", measure="mean rank correlation")
    assert "no mean rank correlation shown" in flat.sentence and flat.outcome == "not shown"


def test_hand_written_sentences_are_not_verdicts():
    assert not is_verdict_sentence("Verdict [rotation, cnn, k=10]: best layer conv3 72.0%, clearly better.")
    assert not is_verdict_sentence("the pretext network is better by 3 points")


@pytest.mark.parametrize("kwargs, match", [
    (dict(a=[0.1, 0.2], b=[0.1]), "a and b must be paired"),
    (dict(a=[0.1], b=[0.1]), "at least 2"),
    (dict(a=[0.1, float("nan")], b=[0.1, 0.2]), "a must hold finite"),
    (dict(a=[0.1, 0.2], b=[0.1, float("inf")]), "b must hold finite"),
    (dict(a=[0.1, 0.2], b=[0.1, 0.2], confidence=95), "confidence must be"),
    (dict(a=[0.1, 0.2], b=[0.1, 0.2], seeds=[0]), "seeds must name one label per unit"),
    (dict(a=[0.1, 0.2], b=[0.1, 0.2], seeds=[0, 0], splits=[1, 1]), "appear once"),
])
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_interval(**kwargs)


def test_bad_types_name_the_argument():
    with pytest.raises(TypeError, match="a must be a sequence"):
        paired_interval("0.1 0.2", [0.1, 0.2])
    with pytest.raises(TypeError, match="comparison must be a Comparison"):
        verdict((0.1, 0.0, 0.2), "x")
    with pytest.raises(ValueError, match="what must name"):
        verdict(paired_interval([0.1, 0.2], [0.0, 0.0]), "")
    assert isinstance(paired_interval([0.1, 0.2], [0.0, 0.0]), Comparison)
