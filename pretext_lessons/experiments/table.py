"""The results table every probing lesson shares: its rows, its checks, its curves, its paired decisions.

A table is a list of dicts, one row per (task, arch, seed, split, layer) and label budget. Two row formats
share every key but the score's:

- lesson 4's layer-alignment rows (`ROW_KEYS` + `PROBE_KEYS`): the probe's test `accuracy` on the
  dataset's classes at a label budget `k`, and its cross-validated `val_accuracy`;
- lesson 5's suite rows (`SUITE_ROW_KEYS`): a `downstream` task, its `metric` (accuracy or mAP), the test
  `score` and the cross-validated `val_score` (`suite.curves` turns them into lesson 4's rows).

`check_rows` checks either (a row with `downstream` is a suite row); `select` picks rows by their
columns; `best_layers` makes one `Curve` per (task, arch, k), its layers chosen on the labelled images;
`decide` is the one paired verdict on (seed, split) units that every lesson prints, through `core.stats`.
The rows' names for the reference networks (`SUPERVISED`, `RANDOM`, `PIXELS`) live here too, and
`task_order` sorts tasks as the registry lists them, references last.
"""
from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict

from ..core.stats import compare
from ..tasks.registry import registered_tasks

ROW_KEYS = ("task", "arch", "seed", "layer", "depth", "accuracy", "k")
# what the probe adds to every row: the labelled split (with the seed, the unit of every comparison),
# the cross-validated accuracy on the labelled images (what choices are made on) and the C it chose
PROBE_KEYS = ("split", "val_accuracy", "C")
SUITE_ROW_KEYS = ("task", "arch", "seed", "split", "downstream", "metric", "layer", "depth", "score", "val_score", "C")
PIXELS = "pixels"  # the raw-pixel baseline: task "pixels", a single layer "pixels" at depth 0
RANDOM = "random"  # the same architecture with random weights
SUPERVISED = "supervised"  # the same architecture trained with the labels: the "aligned" reference
BASELINES = (SUPERVISED, RANDOM, PIXELS)


def task_order(task: str):
    """A sort key for task names: the registered tasks in registration order, then the references, then the rest."""
    order = list(registered_tasks()) + list(BASELINES)
    return (order.index(task) if task in order else len(order), task)


def _keys_of(row: dict) -> tuple:
    return SUITE_ROW_KEYS if "downstream" in row else ROW_KEYS


def check_rows(table, keys=None) -> list[dict]:
    """Check that `table` is a list of dicts holding `keys`, and say what is wrong.

    `keys` defaults to each row's format: `SUITE_ROW_KEYS` for a row with `downstream`, else `ROW_KEYS`.
    """
    if not isinstance(table, (list, tuple)):
        raise TypeError(f"table must be a list of dicts with keys {keys or ROW_KEYS}, got {type(table).__name__}")
    for i, row in enumerate(table):
        if not isinstance(row, dict):
            raise TypeError(f"table[{i}] must be a dict with keys {keys or ROW_KEYS}, got {type(row).__name__}")
        wanted = keys if keys is not None else _keys_of(row)
        missing = [key for key in wanted if key not in row]
        if missing:
            raise ValueError(f"table[{i}] must have the keys {wanted}; missing {missing}")
    return list(table)


def check_table(table) -> list[dict]:
    """`check_rows`, and every accuracy or score a fraction in [0, 1]."""
    for i, row in enumerate(check_rows(table)):
        score = "score" if "downstream" in row else "accuracy"
        if not 0 <= row[score] <= 1:
            raise ValueError(f"table[{i}][{score!r}] must be a fraction in [0, 1], got {row[score]!r}")
    return list(table)


def select(table, **where) -> list[dict]:
    """The rows whose columns equal the given values, e.g. select(table, arch="cnn", k=10)."""
    columns = ROW_KEYS + PROBE_KEYS + tuple(k for k in SUITE_ROW_KEYS if k not in ROW_KEYS + PROBE_KEYS)
    unknown = set(where) - set(columns)
    if unknown:
        raise ValueError(f"columns must be among {columns}, got {sorted(unknown)}")
    return [row for row in check_table(table) if all(row.get(key) == value for key, value in where.items())]


@dataclasses.dataclass(frozen=True)
class LayerStats:
    """One layer's test accuracy over units (seed, split): mean, standard deviation, worst, best, number."""

    layer: str
    depth: int
    mean: float
    std: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, layer: str, depth: int, values) -> LayerStats:
        values = list(values)
        return cls(layer, depth, statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0,
                   min(values), max(values), len(values))


@dataclasses.dataclass(frozen=True)
class Curve:
    """One curve (a task, an arch, a label budget k) over its units (seed, split), with its layers chosen.

    Layers are chosen on the labelled images only: `best` has the highest mean cross-validated
    accuracy over the units, `earlier` the highest among the layers before the last (`chosen_on`
    says "validation"; rows without `val_accuracy`, such as published figures, are chosen on the
    accuracy itself: "test"). The LayerStats hold test accuracies; `best_values`, `earlier_values`
    and `last_values` are the per-unit test accuracies, in the order of `units`, that verdicts pair.
    `seed_best` lists each unit's own choice.
    """

    task: str
    arch: str
    k: int | None
    best: LayerStats
    earlier: LayerStats
    last: LayerStats
    seed_best: tuple[str, ...]
    units: tuple[tuple[int, int], ...]
    best_values: tuple[float, ...]
    earlier_values: tuple[float, ...]
    last_values: tuple[float, ...]
    chosen_on: str

    @property
    def is_last(self) -> bool:
        return self.best.layer == self.last.layer

    @property
    def drop(self) -> float:
        """How many accuracy points the last layer is below the chosen one (0 when the last layer is chosen)."""
        return 100 * (self.best.mean - self.last.mean)

    @property
    def n_seeds(self) -> int:
        return len({seed for seed, _ in self.units})

    @property
    def n_splits(self) -> int:
        return len({split for _, split in self.units})


def summarise(table, **where) -> list[dict]:
    """Per (task, arch, k, layer): mean, std, min, max of the test accuracy over units, and n units."""
    groups = defaultdict(list)
    for row in select(table, **where):
        groups[(row["task"], row["arch"], row["k"], row["depth"], row["layer"])].append(row["accuracy"])
    return [dict(task=t, arch=a, k=k, **dataclasses.asdict(LayerStats.of(l, d, accs)))
            for (t, a, k, d, l), accs in groups.items()]


def unit(row) -> tuple[int, int]:
    return row["seed"], row.get("split", 0)


def best_layers(table, **where) -> list[Curve]:
    """One `Curve` per (task, arch, k), its layers chosen on the labelled images (see `Curve`).

    Ties go to the shallowest layer. Single-layer entries (raw pixels) are left out; only units
    measured at every layer of a curve count.
    """
    groups = defaultdict(lambda: defaultdict(dict))
    for row in select(table, **where):
        groups[(row["task"], row["arch"], row["k"])][(row["depth"], row["layer"])][unit(row)] = row
    out = []
    for (task, arch, k), layers in groups.items():
        if len(layers) < 2:
            continue
        order = sorted(layers)
        units = sorted(set.intersection(*(set(by_unit) for by_unit in layers.values())))
        if not units:
            continue
        validated = all(row.get("val_accuracy") is not None for by_unit in layers.values() for row in by_unit.values())
        metric = "val_accuracy" if validated else "accuracy"
        score = lambda key: statistics.fmean(layers[key][u][metric] for u in units)  # noqa: E731
        best, earlier, last = max(order, key=score), max(order[:-1], key=score), order[-1]
        values = lambda key: tuple(layers[key][u]["accuracy"] for u in units)  # noqa: E731
        stats = lambda key: LayerStats.of(key[1], key[0], values(key))  # noqa: E731
        seed_best = tuple(max(order, key=lambda key: layers[key][u][metric])[1] for u in units)
        out.append(Curve(task, arch, k, stats(best), stats(earlier), stats(last), seed_best, tuple(units),
                         values(best), values(earlier), values(last), "validation" if validated else "test"))
    return out


def best_table_text(best) -> str:
    """The `best_layers` curves as a text table: chosen layer, its test mean and range, the last layer."""
    lines = [f"{'task':<18} {'arch':<6} {'k':>4}  {'chosen layer':<12} {'test mean':>9}  {'range':<11} "
             f"{'units pick it':<13} {'last layer':<10} {'last is lower by':>16}"]
    for c in sorted(best, key=lambda c: (c.arch, c.k, task_order(c.task))):
        spread = f"{100 * c.best.min:.1f}-{100 * c.best.max:.1f}" if c.best.n > 1 else "1 unit"
        picks = f"{c.seed_best.count(c.best.layer)}/{len(c.seed_best)}"
        lines.append(f"{c.task:<18} {c.arch:<6} {c.k!s:>4}  {c.best.layer:<12} {100 * c.best.mean:>8.1f}%  "
                     f"{spread:<11} {picks:<13} {c.last.layer:<10} {c.drop:>10.1f} points")
    return "\n".join(lines)



# Decisions ---------------------------------------------------------------------------------------
# The unit of every comparison is a (seed, split) pair: the same pretraining seed and the same
# labelled split on both sides. A comparison with fewer than two common units has no interval: it
# is printed as "Not decided [...]", never as a verdict.

def decide(a: dict, b: dict, what: str, better_word: str, worse_word: str) -> str:
    """Lessons 2 to 6: the verdict sentence on a[u] - b[u] over the units both hold, or a 'Not decided' line naming why."""
    units = sorted(set(a) & set(b))
    if len(units) < 2:
        return (f"Not decided [{what}]: {len(units)} common (seed, split) unit, no interval; add seeds or "
                f"labelled splits.")
    return compare([a[u] for u in units], [b[u] for u in units], what, better_word, worse_word,
                   seeds=[u[0] for u in units], splits=[u[1] for u in units]).sentence
