"""Intervals that stay in their range, the exact binomial test, Holm, and the summary table (core.stats)."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pretext_lessons.core.stats import (HOLM, PRIMARY, SECONDARY, Question, above_chance, accuracy_interval, compare,
                                        holm, paired_interval, summary, summary_text)


def test_bounded_difference_matches_scipy_t_on_the_atanh_scale():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.6, 0.8, 5), rng.uniform(0.55, 0.75, 5)
    c = paired_interval(a, b, bounds=(-1, 1))
    z = np.arctanh(a - b)
    low, high = np.tanh(scipy_stats.t.interval(0.95, 4, loc=z.mean(), scale=scipy_stats.sem(z)))
    assert math.isclose(c.low, low) and math.isclose(c.high, high) and math.isclose(c.mean, (a - b).mean())
    assert math.isclose(c.p_value, scipy_stats.ttest_1samp(z, 0).pvalue)


def test_rank_correlations_stay_in_minus_one_to_one():
    # a t interval over these three gives a lower end below -1 (the issue's -0.7 [-1.2, -0.1])
    rhos = [-1.0, -0.5, -0.6]
    plain = paired_interval(rhos, [0, 0, 0])
    assert plain.low < -1
    v = compare(rhos, [0, 0, 0], "rank correlation", scale=1.0, unit="", measure="mean rank correlation")
    assert -1 <= v.comparison.low <= v.comparison.high <= 1
    assert "Fisher's z" in v.sentence


@pytest.mark.parametrize("seed", range(20))
def test_differences_of_accuracies_stay_in_range_whatever_the_spread(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    c = compare(a, b, "wild").comparison
    assert -1 <= c.low <= c.high <= 1


def test_accuracy_interval_is_a_logit_t_interval_inside_zero_one():
    values = [0.97, 0.99, 0.999, 0.98, 0.995, 0.99]
    seeds, splits = [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1]
    e = accuracy_interval(values, seeds, splits)
    means = np.array(values).reshape(3, 2).mean(1)
    z = np.log(means / (1 - means))
    low, high = 1 / (1 + np.exp(-np.array(scipy_stats.t.interval(0.95, 2, loc=z.mean(), scale=scipy_stats.sem(z)))))
    assert math.isclose(e.low, low) and math.isclose(e.high, high) and math.isclose(e.mean, means.mean())
    assert 0 <= e.low <= e.mean <= e.high <= 1 and (e.n_seeds, e.n_splits) == (3, 2)
    # a plain t interval over the same seed means leaves [0, 1]
    assert scipy_stats.t.interval(0.95, 2, loc=means.mean(), scale=scipy_stats.sem(means))[1] > 1


def test_accuracy_interval_asks_for_fractions_and_two_seeds():
    with pytest.raises(ValueError, match="fractions"):
        accuracy_interval([70.0, 72.0])
    with pytest.raises(ValueError, match="2 seeds"):
        accuracy_interval([0.7, 0.72], seeds=[0, 0], splits=[0, 1])


def test_above_chance_matches_scipy_binomtest_and_holm():
    correct, total = [2600, 2540, 2570], [10000, 10000, 10000]
    t = above_chance(correct, total, 0.25, "rotation")
    expected = [scipy_stats.binomtest(c, n, 0.25, alternative="greater").pvalue for c, n in zip(correct, total)]
    assert np.allclose(t.p_values, expected)
    assert np.allclose(t.adjusted, holm(expected))
    for (lo, hi), c, n in zip(t.intervals, correct, total):
        ci = scipy_stats.binomtest(c, n, 0.25).proportion_ci(0.95, method="exact")
        assert math.isclose(lo, ci.low) and math.isclose(hi, ci.high) and 0 <= lo <= hi <= 1
    assert t.outcome == ("above chance" if max(holm(expected)) < 0.05 else "not shown")
    at_chance = above_chance([2500, 2490, 2510], total, 0.25)
    assert at_chance.outcome == "not shown" and "0 of 3" in at_chance.sentence or "1 of 3" in at_chance.sentence


def test_above_chance_rejects_bad_counts():
    with pytest.raises(ValueError, match="correct and total"):
        above_chance([1, 2], [10], 0.5)
    with pytest.raises(ValueError, match="chance"):
        above_chance([5], [10], 1.5)
    with pytest.raises(ValueError, match="at least its correct"):
        above_chance([11], [10], 0.5)


def test_holm_by_hand():
    # sorted p 0.01, 0.02, 0.04 with m = 3: 0.03, max(0.03, 0.04), max(0.04, 0.04)
    assert np.allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def _questions(sign):
    rng = np.random.default_rng(3)
    base = rng.uniform(0.6, 0.7, 5)
    qs = []
    for name, gap in (("primary gain", 0.04), ("secondary gain", 0.03), ("no gain", 0.0)):
        a = base + sign * gap + rng.normal(0, 0.005, 5)
        qs.append(Question(name, paired_interval(a, base, bounds=(-1, 1)), "pretext better", "pretext worse"))
    return qs


@pytest.mark.parametrize("correction", [HOLM, SECONDARY])
def test_summary_fed_the_opposite_outcome_prints_the_opposite_verdict(correction):
    up, down = summary(_questions(+1), correction=correction), summary(_questions(-1), correction=correction)
    assert [r["role"] for r in up] == [PRIMARY, correction, correction]
    assert [r["outcome"] for r in up][:2] == ["better", "better"]
    assert [r["outcome"] for r in down][:2] == ["worse", "worse"]
    text_up, text_down = summary_text(up), summary_text(down)
    assert "pretext better" in text_up and "pretext better" not in text_down and "pretext worse" in text_down
    for r in up + down:
        assert -100 <= r["low"] <= r["high"] <= 100


def test_holm_can_withhold_a_verdict_the_own_interval_would_give():
    # three comparisons each with p just under 0.05: alone each is decided, Holm over two is not
    qs = []
    for _ in range(3):
        c = paired_interval([0.62, 0.60, 0.64, 0.59], [0.6, 0.6, 0.6, 0.6], bounds=(-1, 1))
        qs.append(Question("q", c))
    p = qs[0].comparison.p_value
    assert p > 0.025  # so that Holm over two withholds it
    held = summary(qs, correction=SECONDARY)
    corrected = summary(qs, correction=HOLM)
    assert [r["outcome"] for r in held] == [("better" if p < 0.05 else "not shown")] * 3
    assert all(r["outcome"] == "not shown" for r in corrected[1:])
