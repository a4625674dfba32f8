"""How the course decides: paired comparisons over pretraining seeds and labelled splits, a 95% interval, a verdict.

Every effect a lesson states ("the pretext network beats random weights", "the last layer is
worse than the best") is a difference between two accuracies measured on the same units: the same
pretraining seed and the same labelled split. `paired_interval` turns the per-unit differences into
a confidence interval with Student's t distribution, and `verdict` turns the interval into one of
three outcomes, better / worse / not shown, and a sentence that carries the interval and the
number of seeds and splits it rests on.

Why t over seeds, not over every (seed, split) unit: the splits of one seed share its pretrained
network, so they are not independent draws of the thing we compare. With at least two seeds the
differences are first averaged over the splits of each seed, and the interval is a t interval over
those seed means (n_seeds - 1 degrees of freedom): it covers pretraining noise and split noise
together. With a single seed there is no pretraining noise to measure: the interval is a t interval
over the splits, and the sentence says that it covers the labelled splits only.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections import defaultdict

from .profile import phase

CONFIDENCE = 0.95
OUTCOMES = ("better", "worse", "not shown")
# every verdict sentence the course prints matches this: it states the interval and its seeds and splits
VERDICT_PATTERN = re.compile(r"Verdict \[[^\]]*\]: .*\(\d+% CI [+-]?\d+\.\d+ to [+-]?\d+\.\d+[^;)]*; "
                             r"\d+ seeds? x \d+ splits?")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Lesson 0: a paired difference a - b over matched units: its mean, confidence interval and what it rests on.

    `over` says what the t interval ran over: "seeds" (split differences averaged per seed first)
    or "splits" (one seed: the interval covers the labelled splits only).
    """

    mean: float
    low: float
    high: float
    n_units: int
    n_seeds: int
    n_splits: int
    confidence: float
    over: str
    differences: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Lesson 0: the outcome of a comparison ("better", "worse" or "not shown") and the sentence that says it."""

    outcome: str
    sentence: str
    comparison: Comparison

    def __str__(self) -> str:
        return self.sentence


def _values(name: str, values) -> list[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {list(values)[:5]!r}") from None
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"{name} must hold finite numbers; positions {bad[:5]} hold {[out[i] for i in bad[:5]]}")
    return out


@phase("statistics")
def paired_interval(a, b, seeds=None, splits=None, confidence: float = CONFIDENCE) -> Comparison:
    """Lesson 0: the mean of a - b over matched units and its t confidence interval (see the module's docstring).

    a[i] and b[i] are measured on the same unit i; `seeds[i]` and `splits[i]` name that unit's
    pretraining seed and labelled split (default: every unit its own seed, one split each).
    """
    from scipy import stats

    a, b = _values("a", a), _values("b", b)
    if len(a) != len(b):
        raise ValueError(f"a and b must be paired, one value per unit each; got {len(a)} and {len(b)} values")
    if len(a) < 2:
        raise ValueError(f"a and b must hold at least 2 paired units to estimate the noise, got {len(a)}")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number between 0 and 1 (e.g. 0.95), got {confidence!r}")
    seeds = list(range(len(a))) if seeds is None else list(seeds)
    splits = [0] * len(a) if splits is None else list(splits)
    for name, labels in (("seeds", seeds), ("splits", splits)):
        if len(labels) != len(a):
            raise ValueError(f"{name} must name one label per unit ({len(a)}), got {len(labels)}")
    units = list(zip(seeds, splits))
    if len(set(units)) != len(units):
        twice = sorted({u for u in units if units.count(u) > 1}, key=str)
        raise ValueError(f"each (seed, split) unit must appear once; these appear more often: {twice[:5]}")
    differences = [x - y for x, y in zip(a, b)]
    per_seed = defaultdict(list)
    for seed, d in zip(seeds, differences):
        per_seed[seed].append(d)
    n_seeds, n_splits = len(per_seed), len(set(splits))
    if n_seeds >= 2:
        over, sample = "seeds", [sum(ds) / len(ds) for ds in per_seed.values()]
    else:
        over, sample = "splits", differences
    mean = sum(sample) / len(sample)
    sem = float(stats.sem(sample))
    if sem == 0:
        low = high = mean  # every unit moved by exactly the same amount: no noise to widen the interval
    else:
        low, high = (float(v) for v in stats.t.interval(confidence, len(sample) - 1, loc=mean, scale=sem))
    return Comparison(mean, low, high, len(differences), n_seeds, n_splits, float(confidence), over,
                      tuple(differences))


@phase("statistics")
def verdict(comparison: Comparison, what: str, better_word: str = "better", worse_word: str = "worse",
            scale: float = 100.0, unit: str = "points", measure: str = "difference") -> Verdict:
    """Lesson 0: "better" if the whole interval is above 0, "worse" if below, else "not shown", with its sentence.

    `what` names the comparison ("rotation vs random, best layer, k=10"); the sentence reads
    "Verdict [what]: <better_word | worse_word | no difference shown>, difference <mean> points
    (95% CI <low> to <high>; <n> seeds x <m> splits, ...)". `scale` turns fractions into the `unit` printed (100: points);
    `measure` names what the per-unit numbers are when they are not differences (e.g. "rank correlation").
    """
    if not isinstance(comparison, Comparison):
        raise TypeError(f"comparison must be a Comparison from paired_interval(a, b, ...), "
                        f"got {type(comparison).__name__}")
    if not isinstance(what, str) or not what.strip():
        raise ValueError(f"what must name the comparison (a non-empty string), got {what!r}")
    for name, word in (("better_word", better_word), ("worse_word", worse_word), ("measure", measure)):
        if not isinstance(word, str) or not word.strip():
            raise ValueError(f"{name} must be a non-empty string, got {word!r}")
    c = comparison
    if c.low > 0:
        outcome, said = "better", better_word
    elif c.high < 0:
        outcome, said = "worse", worse_word
    else:
        outcome, said = "not shown", f"no {measure} shown"
    s = lambda v: f"{scale * v:+.1f}"  # noqa: E731
    rests = (f"{c.n_seeds} seed{'s' if c.n_seeds != 1 else ''} x {c.n_splits} split{'s' if c.n_splits != 1 else ''}"
             + (", t over seeds" if c.over == "seeds" else ", t over splits: pretraining noise not measured"))
    sentence = (f"Verdict [{what}]: {said}, {measure} {s(c.mean)}{' ' + unit if unit else ''} "
                f"({100 * c.confidence:.0f}% CI {s(c.low)} to {s(c.high)}; {rests}).")
    return Verdict(outcome, sentence, c)


@phase("statistics")
def compare(a, b, what: str, better_word: str = "better", worse_word: str = "worse", seeds=None, splits=None,
            confidence: float = CONFIDENCE, scale: float = 100.0, unit: str = "points",
            measure: str = "difference") -> Verdict:
    """Lesson 0: `verdict(paired_interval(a, b, seeds, splits, confidence), what, ...)` in one call."""
    return verdict(paired_interval(a, b, seeds, splits, confidence), what, better_word, worse_word, scale, unit,
                   measure)


def is_verdict_sentence(text: str) -> bool:
    """Lesson 0: whether `text` is a sentence made by `verdict` (it states its interval, seeds and splits)."""
    return bool(VERDICT_PATTERN.search(text))
