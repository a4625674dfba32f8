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

Intervals that stay in their quantity's range. A difference of two accuracies lies in [-1, 1] (points:
[-100, 100]), a rank correlation in [-1, 1], one accuracy in [0, 1]; a t interval on 3 to 5 seed means
can leave those ranges (a correlation of -0.7 with 2 degrees of freedom gives -1.2). `compare` therefore
computes the t interval on a scale where the range is the whole real line and maps its ends back:
Fisher's z (atanh) for quantities in [-1, 1], the logit for accuracies in [0, 1] (`accuracy_interval`).
Why a transformed t interval and not a bootstrap: with 3 to 5 seeds a percentile bootstrap has at most
35 distinct resampled means and is known to cover too little at such sizes, while t keeps its small-sample
width and the transform keeps the range; near 0 (every difference the course measures is within about
±0.2) atanh is almost the identity, so the interval is almost the plain t interval (under 2% wider at
±0.2). Values on the edge (a correlation of exactly 1, an accuracy of 0) are pulled in by `EDGE` first.
The estimate printed stays the plain mean of the seed means.

Above chance, per seed: `above_chance` runs SciPy's exact binomial test on each seed's correct count
(the test images are the trials), Holm-corrected over the seeds. Many questions in one lesson:
`summary` marks one primary comparison, Holm-corrects the rest on their t-test p-values (or labels them
secondary) and prints one table (question, estimate, interval, seeds, verdict).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections import defaultdict

from .profile import phase

CONFIDENCE = 0.95
EDGE = 1e-3  # a value on its range's edge is pulled this far inside before the atanh or logit transform
ALPHA = 1 - CONFIDENCE
OUTCOMES = ("better", "worse", "not shown")
# every verdict sentence the course prints matches this: it states the interval and its seeds and splits
VERDICT_PATTERN = re.compile(r"Verdict \[[^\]]*\]: .*\(\d+% CI [+-]?\d+\.\d+ to [+-]?\d+\.\d+[^;)]*; "
                             r"\d+ seeds? x \d+ splits?")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A paired difference a - b over matched units: its mean, confidence interval and what it rests on.

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
    bounds: tuple[float, float] | None = None  # the range the interval was kept in (None: plain t)
    p_value: float = float("nan")  # two-sided t test of "mean 0" on the interval's scale


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of a comparison ("better", "worse" or "not shown") and the sentence that says it."""

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
def paired_interval(a, b, seeds=None, splits=None, confidence: float = CONFIDENCE, bounds=None) -> Comparison:
    """The mean of a - b over matched units and its t confidence interval (see the module's docstring).

    a[i] and b[i] are measured on the same unit i; `seeds[i]` and `splits[i]` name that unit's
    pretraining seed and labelled split (default: every unit its own seed, one split each).
    `bounds` (lo, hi): the range of a - b; the t interval is then computed on the atanh scale of
    the range mapped onto [-1, 1] (Fisher's z for correlations) and stays inside it. None: plain t.
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
    bounds = _check_bounds(bounds)
    to_scale, from_scale = _fisher(bounds) if bounds else (lambda v: v, lambda v: v)
    z = [to_scale(v) for v in sample]
    z_mean = sum(z) / len(z)
    sem = float(stats.sem(z))
    if sem == 0:
        # every unit moved by exactly the same amount: no noise to widen the interval
        low = high = mean
        p_value = 1.0 if z_mean == 0 else 0.0
    else:
        z_low, z_high = stats.t.interval(confidence, len(z) - 1, loc=z_mean, scale=sem)
        low, high = float(from_scale(z_low)), float(from_scale(z_high))
        p_value = float(2 * stats.t.sf(abs(z_mean) / sem, len(z) - 1))
    return Comparison(mean, low, high, len(differences), n_seeds, n_splits, float(confidence), over,
                      tuple(differences), bounds, p_value)


def _check_bounds(bounds):
    if bounds is None:
        return None
    try:
        lo, hi = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be None or a pair (low, high) of numbers, got {bounds!r}") from None
    if not lo < hi:
        raise ValueError(f"bounds must be a pair (low, high) with low < high, got {bounds!r}")
    return lo, hi


def _fisher(bounds):
    """The maps to and from the atanh scale of a range (Fisher's z on [-1, 1]), edges pulled in by EDGE."""
    lo, hi = bounds
    centre, half = (lo + hi) / 2, (hi - lo) / 2

    def to_scale(v):
        u = min(1 - EDGE, max(-1 + EDGE, (v - centre) / half))
        return math.atanh(u)

    def from_scale(z):
        return centre + half * math.tanh(z)
    return to_scale, from_scale


def _auto_bounds(a, b):
    """The range of a - b when it is known from the values: accuracies (fractions) or correlations against 0."""
    a, b = list(a), list(b)
    if all(0 <= v <= 1 for v in a + b):
        return (-1.0, 1.0)  # a difference of two fractions
    if all(v == 0 for v in b) and all(-1 <= v <= 1 for v in a):
        return (-1.0, 1.0)  # a correlation (or a difference) against 0
    return None


@phase("statistics")
def verdict(comparison: Comparison, what: str, better_word: str = "better", worse_word: str = "worse",
            scale: float = 100.0, unit: str = "points", measure: str = "difference") -> Verdict:
    """"better" if the whole interval is above 0, "worse" if below, else "not shown", with its sentence.

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
             + (", t over seeds" if c.over == "seeds" else ", t over splits: pretraining noise not measured")
             + (", on Fisher's z scale" if c.bounds else ""))
    sentence = (f"Verdict [{what}]: {said}, {measure} {s(c.mean)}{' ' + unit if unit else ''} "
                f"({100 * c.confidence:.0f}% CI {s(c.low)} to {s(c.high)}; {rests}).")
    return Verdict(outcome, sentence, c)


@phase("statistics")
def compare(a, b, what: str, better_word: str = "better", worse_word: str = "worse", seeds=None, splits=None,
            confidence: float = CONFIDENCE, scale: float = 100.0, unit: str = "points",
            measure: str = "difference", bounds="auto") -> Verdict:
    """`verdict(paired_interval(a, b, seeds, splits, confidence, bounds), what, ...)` in one call.

    bounds="auto" keeps the interval in [-1, 1] when a and b are fractions (accuracies) or when b is 0
    and a in [-1, 1] (a correlation); pass a pair for another range, or None for a plain t interval.
    """
    if isinstance(bounds, str):
        if bounds != "auto":
            raise ValueError(f"bounds must be 'auto', None or a pair (low, high), got {bounds!r}")
        bounds = _auto_bounds(_values("a", a), _values("b", b))
    return verdict(paired_interval(a, b, seeds, splits, confidence, bounds), what, better_word, worse_word, scale,
                   unit, measure)


def is_verdict_sentence(text: str) -> bool:
    """Whether `text` is a sentence made by `verdict` (it states its interval, seeds and splits)."""
    return bool(VERDICT_PATTERN.search(text))


# one accuracy, above chance, many questions ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Estimate:
    """One quantity's mean over seeds (splits averaged within a seed) and its interval, kept in `bounds`."""

    mean: float
    low: float
    high: float
    n_seeds: int
    n_splits: int
    confidence: float
    bounds: tuple[float, float]
    seed_means: tuple[float, ...]


def _seed_means(values, seeds, splits) -> tuple[list[float], int]:
    values = _values("values", values)
    seeds = list(range(len(values))) if seeds is None else list(seeds)
    splits = [0] * len(values) if splits is None else list(splits)
    for name, labels in (("seeds", seeds), ("splits", splits)):
        if len(labels) != len(values):
            raise ValueError(f"{name} must name one label per value ({len(values)}), got {len(labels)}")
    per_seed = defaultdict(list)
    for seed, v in zip(seeds, values):
        per_seed[seed].append(v)
    return [sum(v) / len(v) for v in per_seed.values()], len(set(splits))


def accuracy_interval(values, seeds=None, splits=None, confidence: float = CONFIDENCE) -> Estimate:
    """The mean accuracy (a fraction) over seeds and its t interval on the logit scale, inside [0, 1].

    Splits are averaged within each seed first; the t interval runs over the seed means (n_seeds - 1
    degrees of freedom) of logit(accuracy) and is mapped back with the logistic function, so it never
    leaves [0, 1] (values of exactly 0 or 1 are pulled in by EDGE). Needs at least 2 seeds.
    """
    from scipy import stats

    means, n_splits = _seed_means(values, seeds, splits)
    if any(not 0 <= v <= 1 for v in means):
        raise ValueError(f"values must be accuracies as fractions in [0, 1], got seed means {means[:5]}")
    if len(means) < 2:
        raise ValueError(f"values must come from at least 2 seeds to estimate pretraining noise, got {len(means)}")
    logit = lambda v: math.log(v / (1 - v))  # noqa: E731
    z = [logit(min(1 - EDGE, max(EDGE, v))) for v in means]
    z_mean, sem = sum(z) / len(z), float(stats.sem(z))
    mean = sum(means) / len(means)
    if sem == 0:
        low = high = mean
    else:
        z_low, z_high = stats.t.interval(confidence, len(z) - 1, loc=z_mean, scale=sem)
        low, high = (float(1 / (1 + math.exp(-v))) for v in (z_low, z_high))
    return Estimate(mean, low, high, len(means), n_splits, float(confidence), (0.0, 1.0), tuple(means))


@dataclasses.dataclass(frozen=True)
class ChanceTest:
    """Per seed, SciPy's exact binomial test of "accuracy above chance", and the Holm-corrected outcome."""

    chance: float
    correct: tuple[int, ...]
    total: tuple[int, ...]
    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    intervals: tuple[tuple[float, float], ...]  # exact (Clopper-Pearson) intervals of each seed's accuracy
    outcome: str  # "above chance" (every seed, after Holm), "not shown"
    sentence: str


def above_chance(correct, total, chance: float, what: str = "accuracy", alpha: float = ALPHA) -> ChanceTest:
    """Is each seed's accuracy above `chance`? One exact binomial test per seed (`scipy.stats.binomtest`).

    `correct[i]` of `total[i]` test images right for seed i. Each seed's one-sided p-value is
    Holm-corrected over the seeds; the outcome is "above chance" when every seed's adjusted p-value
    is below `alpha`. The sentence says in how many seeds it held.
    """
    from scipy import stats

    correct, total = list(correct), list(total)
    if len(correct) != len(total) or not correct:
        raise ValueError(f"correct and total must hold one count per seed each, got {len(correct)} and {len(total)}")
    for name, counts in (("correct", correct), ("total", total)):
        if not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise TypeError(f"{name} must hold non-negative integer counts, got {counts[:5]!r}")
    if any(c > n or n == 0 for c, n in zip(correct, total)):
        raise ValueError(f"each total must be positive and at least its correct count, got {list(zip(correct, total))[:5]}")
    if isinstance(chance, bool) or not isinstance(chance, numbers.Real) or not 0 < chance < 1:
        raise ValueError(f"chance must be a probability between 0 and 1 (e.g. 0.25), got {chance!r}")
    tests = [stats.binomtest(int(c), int(n), float(chance), alternative="greater") for c, n in zip(correct, total)]
    p_values = tuple(float(t.pvalue) for t in tests)
    adjusted = tuple(holm(p_values))
    intervals = tuple(tuple(float(v) for v in stats.binomtest(int(c), int(n), float(chance)).proportion_ci(
        1 - alpha, method="exact")) for c, n in zip(correct, total))
    held = sum(p < alpha for p in adjusted)
    outcome = "above chance" if held == len(tests) else "not shown"
    accs = ", ".join(f"{100 * c / n:.1f}%" for c, n in zip(correct, total))
    sentence = (f"Exact binomial test [{what}]: {outcome} in {held} of {len(tests)} seed{'s' if len(tests) != 1 else ''} "
                f"(chance {100 * chance:.1f}%; accuracies {accs}; largest Holm-adjusted p {max(adjusted):.2g}).")
    return ChanceTest(float(chance), tuple(correct), tuple(total), p_values, adjusted, intervals, outcome, sentence)


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values (reject where adjusted < alpha), in the order given."""
    p = _values("p_values", p_values)
    if any(not 0 <= v <= 1 for v in p):
        raise ValueError(f"p_values must lie in [0, 1], got {p[:5]}")
    m, adjusted, running = len(p), [0.0] * len(p), 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


PRIMARY, HOLM, SECONDARY = "primary", "Holm-corrected", "secondary"
ROLES = (PRIMARY, HOLM, SECONDARY)


@dataclasses.dataclass(frozen=True)
class Question:
    """One question a lesson answers: its name, the comparison that answers it and the words for each outcome."""

    question: str
    comparison: Comparison
    better_word: str = "better"
    worse_word: str = "worse"
    scale: float = 100.0
    unit: str = "points"


def summary(questions, primary: int | None = 0, correction: str = HOLM, alpha: float = ALPHA) -> list[dict]:
    """One row per question: question, estimate, interval, seeds, p, role and verdict.

    `questions[primary]` is the lesson's primary comparison, decided by its own interval. The others
    are Holm-corrected over their number (`correction=HOLM`: "better"/"worse" only where the Holm-
    adjusted p-value is below `alpha`; the interval shown is the unadjusted one) or labelled
    secondary (`correction=SECONDARY`: decided by their own interval, to be read as exploratory).
    """
    questions = list(questions)
    if not all(isinstance(q, Question) for q in questions):
        raise TypeError("questions must be Question records (stats.Question(question, comparison, ...))")
    if correction not in (HOLM, SECONDARY):
        raise ValueError(f"correction must be {HOLM!r} or {SECONDARY!r}, got {correction!r}")
    if primary is not None and not (isinstance(primary, int) and 0 <= primary < len(questions)):
        raise ValueError(f"primary must be None or an index into the {len(questions)} questions, got {primary!r}")
    others = [i for i in range(len(questions)) if i != primary]
    adjusted = dict(zip(others, holm([questions[i].comparison.p_value for i in others]))) if others else {}
    rows = []
    for i, q in enumerate(questions):
        c = q.comparison
        role = PRIMARY if i == primary else correction
        if role == HOLM:
            p = adjusted[i]
            decided = p < alpha
        else:
            p = c.p_value
            decided = c.low > 0 or c.high < 0
        if decided and c.mean > 0:
            outcome, said = "better", q.better_word
        elif decided and c.mean < 0:
            outcome, said = "worse", q.worse_word
        else:
            outcome, said = "not shown", "not shown"
        rows.append(dict(question=q.question, estimate=q.scale * c.mean, low=q.scale * c.low, high=q.scale * c.high,
                         unit=q.unit, seeds=c.n_seeds, splits=c.n_splits, p=p, role=role, outcome=outcome,
                         verdict=said, bounded=c.bounds is not None, digits=2 if q.scale == 1 else 1))
    return rows


def summary_text(rows) -> str:
    """`summary`'s rows as a text table, then one sentence on how the verdicts were decided."""
    rows = list(rows)
    width = max([len("question")] + [len(r["question"]) for r in rows])
    lines = [f"{'question':<{width}}  {'estimate':>9}  {'95% interval':<17} {'seeds':>5}  {'p':>7}  {'role':<14} verdict"]
    for r in rows:
        d = r.get("digits", 1)
        lines.append(f"{r['question']:<{width}}  {r['estimate']:>+9.{d}f}  [{r['low']:+6.{d}f}, {r['high']:+6.{d}f}]  "
                     f"{r['seeds']:>5}  {r['p']:>7.2g}  {r['role']:<14} {r['verdict']}")
    roles = {r["role"] for r in rows}
    note = "Intervals: t over seed means (labelled splits averaged within a seed)"
    note += (", on Fisher's z scale, so they stay in range." if all(r.get("bounded") for r in rows) else ".")
    if HOLM in roles:
        note += (f" The {sum(r['role'] == HOLM for r in rows)} non-primary questions are Holm-corrected for their "
                 f"number: their verdicts use adjusted p-values, their intervals are unadjusted.")
    elif SECONDARY in roles:
        note += " Rows marked secondary are not corrected for their number: read them as exploratory."
    return "\n".join(lines + ["", note])
