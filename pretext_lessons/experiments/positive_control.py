"""Lesson 5: a positive control for "alignment is a relation": a downstream task whose aligned pretext task is known.

The downstream task `orientation` asks which of four quarter turns (0, 90, 180, 270 degrees) was
applied to an upright image: rotation prediction's own question, asked with labelled images. By
construction the rotation network's last layers were trained for it, so on `orientation` the method
must find (a) the rotation network ahead of the others and of random weights, and (b) its chosen
layer moving deeper than the layer chosen for the dataset's classes. If the grid's method cannot
show these moves here, "no move shown" on the real tasks would mean nothing; shown first, it does.

Its test set is large (`NUM_TEST` images) so that test-set sampling adds little to the intervals:
`variance_sources` states both sources, the binomial standard error of one seed's accuracy from
its test images and the spread between pretraining seeds.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict

import torch

from ..core.data import resolve_dataset
from ..core.validate import check_int
from . import probing
from . import table as results_table
from .references import NO_SIGNAL
from .summary import finding

NAME = "orientation"
K = 10  # labelled images per turn
NUM_TEST = 2000  # test images (each turned once)
STRIDE = 1000  # labelled split j of seed s draws its images with seed s + STRIDE * j, as alignment's splits


def turn(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each image X[i] turned by y[i] quarter turns counter-clockwise."""
    out = X.clone()
    for q in range(4):
        sel = y == q
        if sel.any():
            out[sel] = torch.rot90(X[sel], q, dims=(-2, -1))
    return out


def orientation_split(seed: int = 0, split: int = 0, k: int = K, num_test: int | None = NUM_TEST):
    """(X_train, y_train, X_test, y_test) of the `orientation` task: k labelled images per turn.

    Labelled images come from the training split (drawn with seed + STRIDE * split), test images from
    the test split (drawn with the seed alone, so the splits of a seed share them); each image gets
    one turn, balanced over the four. `num_test` test images, or all of them where the dataset has
    fewer (or with None), as `core.data.fewshot_split` does.
    """
    source = resolve_dataset()
    X_pool, _ = source.load("train")
    X_held, _ = source.load("test")
    if num_test is not None:
        check_int("num_test", num_test, lowest=1)
    num_test = len(X_held) if num_test is None else min(num_test, len(X_held))
    g_train = torch.Generator().manual_seed(7_000_003 + seed + STRIDE * split)
    g_test = torch.Generator().manual_seed(7_000_019 + seed)
    n_train = 4 * k
    X_train = X_pool[torch.randperm(len(X_pool), generator=g_train)[:n_train]]
    y_train = torch.arange(4).repeat(k)[torch.randperm(n_train, generator=g_train)]
    X_test = X_held[torch.randperm(len(X_held), generator=g_test)[:num_test]]
    y_test = torch.arange(4).repeat(math.ceil(num_test / 4))[:num_test][torch.randperm(num_test, generator=g_test)]
    return turn(X_train, y_train), y_train, turn(X_test, y_test), y_test


def probe_orientation(networks, splits=(0,), k: int = K, num_test: int | None = NUM_TEST) -> list[dict]:
    """Lesson 4's rows (every layer, C and layer chosen on the labelled images) of each network on `orientation`.

    `networks` as `budgets.train_networks` returns them; rows carry probed_on=NAME (lesson 4's row format: a `downstream` key would make them suite rows).
    """
    rows = []
    for task, arch, seed, net in networks:
        cache = {}
        for j in splits:
            data = orientation_split(seed, j, k, num_test)
            for r in probing.probe_network(net, task, arch, seed, (k,), data, split_index=j, feature_cache=cache):
                rows.append(dict(r, probed_on=NAME))
    return rows


def _curves(table, arch):
    return {c.task: c for c in results_table.best_layers(table, arch=arch)}


def _pretext(curves):
    return [t for t in curves if isinstance(t, str) and t not in results_table.BASELINES and "-" not in t]


def _chosen_task(curves, table, arch):
    def val(c):
        rows = results_table.select(table, task=c.task, arch=arch, layer=c.best.layer)
        return statistics.fmean(r["val_accuracy"] for r in rows)
    return max(sorted(_pretext(curves)), key=lambda t: val(curves[t]))


def control_findings(orientation_rows, classes_rows, arch: str = "cnn", aligned: str = "rotation") -> list:
    """The positive control's questions, each a `summary.Finding`; the task move first.

    1. On `orientation`: the pretext task chosen there (on validation accuracy) minus the one chosen for
       the classes, each at its own chosen layer (does the best task move?). When both choices agree,
       the aligned task against the next best is asked instead.
    2. On `orientation`: the `aligned` network at the layer chosen there minus at the layer chosen for
       the classes (does its best layer move?).
    3. On `orientation`: the `aligned` network minus random weights, each at its chosen layer.
    4. Where `orientation_rows` hold it, the `aligned` network minus its no-signal control, likewise.
    `classes_rows` are lesson 4's rows (the dataset's classes) of the same networks.
    """
    on_o = _curves(orientation_rows, arch)
    on_c = _curves(classes_rows, arch)
    out = []
    best_o, best_c = _chosen_task(on_o, orientation_rows, arch), _chosen_task(on_c, classes_rows, arch)
    if best_o != best_c:
        a, b = on_o[best_o], on_o[best_c]
        out.append(finding(f"{NAME}: {best_o} (chosen here) - {best_c} (chosen for the classes)",
                           dict(zip(a.units, a.best_values)), dict(zip(b.units, b.best_values)),
                           "the best task moved, and the move pays", "the best task moved, and the move costs"))
    else:
        others = [t for t in _pretext(on_o) if t != best_o]
        if others:
            runner = max(others, key=lambda t: on_o[t].best.mean)
            a, b = on_o[best_o], on_o[runner]
            out.append(finding(f"{NAME}: {best_o} (chosen here and for the classes) - {runner}",
                               dict(zip(a.units, a.best_values)), dict(zip(b.units, b.best_values)),
                               "the chosen task leads", "the chosen task trails"))
    if aligned in on_o and aligned in on_c:
        own, ref_layer = on_o[aligned].best.layer, on_c[aligned].best.layer
        at = lambda layer: {(r["seed"], r.get("split", 0)): r["accuracy"]  # noqa: E731
                            for r in results_table.select(orientation_rows, task=aligned, arch=arch, layer=layer)}
        if own != ref_layer:
            out.append(finding(f"{NAME}: {aligned} at {own} (chosen here) - at {ref_layer} (chosen for the classes)",
                               at(own), at(ref_layer), "the layer moved, and the move pays",
                               "the layer moved, and the move costs"))
    if aligned in on_o and results_table.RANDOM in on_o:
        a, r = on_o[aligned], on_o[results_table.RANDOM]
        out.append(finding(f"{NAME}: {aligned} - random, chosen layers ({a.best.layer} vs {r.best.layer})",
                           dict(zip(a.units, a.best_values)), dict(zip(r.units, r.best_values)),
                           "pretext better", "pretext worse"))
    control = f"{NO_SIGNAL}-{aligned}"
    if aligned in on_o and control in on_o:  # the no-signal control beside random: trained, without the task's signal
        a, c = on_o[aligned], on_o[control]
        out.append(finding(f"{NAME}: {aligned} - {control}, chosen layers ({a.best.layer} vs {c.best.layer})",
                           dict(zip(a.units, a.best_values)), dict(zip(c.units, c.best_values)),
                           "pretext better", "pretext worse"))
    return [f for f in out if f is not None]


def variance_sources(rows, task: str, arch: str = "cnn", num_test: int | None = None) -> dict:
    """The two sources of variance of a network's accuracy at its chosen layer, in points.

    `test_se`: the binomial standard error of one seed's accuracy from its `num_test` test images
    (sqrt(p (1 - p) / n), at the mean accuracy); `seed_sd`: the standard deviation of the per-seed
    accuracies (splits averaged within a seed). When seed_sd is well above test_se, the intervals are
    set by pretraining seeds, not by the size of the test set.
    """
    curve = _curves(rows, arch).get(task)
    if curve is None:
        raise ValueError(f"rows hold no curve of {task!r} for arch {arch!r}")
    per_seed = defaultdict(list)
    for u, v in zip(curve.units, curve.best_values):
        per_seed[u[0]].append(v)
    means = [statistics.fmean(v) for v in per_seed.values()]
    p = statistics.fmean(means)
    n = num_test or NUM_TEST
    return dict(task=task, arch=arch, layer=curve.best.layer, accuracy=100 * p, num_test=n,
                test_se=100 * math.sqrt(p * (1 - p) / n), seed_sd=100 * statistics.stdev(means) if len(means) > 1 else float("nan"),
                seeds=len(means))


def variance_text(sources) -> str:
    """`variance_sources` rows as lines: which source sets the interval."""
    lines = []
    for s in sources:
        lines.append(f"{s['task']:<20} {s['arch']:<6} at {s['layer']:<6}: accuracy {s['accuracy']:.1f}%, test-set "
                     f"standard error {s['test_se']:.2f} points ({s['num_test']} images), spread between "
                     f"{s['seeds']} seeds {s['seed_sd']:.2f} points")
    return "\n".join(lines)


def from_suite(table, downstream_name: str = "classes") -> list[dict]:
    """Lesson 5's suite rows of one downstream task as lesson 4's rows (accuracy, val_accuracy), for `control_findings`."""
    return [dict(task=r["task"], arch=r["arch"], seed=r["seed"], split=r["split"], layer=r["layer"], depth=r["depth"],
                 accuracy=r["score"], val_accuracy=r["val_score"], C=r["C"], k=None)
            for r in table if r["downstream"] == downstream_name]
