"""Lesson 5: alignment as a relation between a pretext task and a downstream task: the suite's table and verdicts.

Every network is probed, frozen, layer by layer, on each downstream task of `downstream`'s suite.

Features on canvases: the networks were trained on the dataset's images (28 px on Fashion-MNIST), but
their convolutional layers run on any size; each layer is then average-pooled to about
`probe.DEFAULT_POOLED_SIZE` features exactly as on the images, so the probe's width per layer is the
same on every task. The plain CNN's `fc1` starts with an adaptive 2 x 2 pooling, so on a canvas each
of its four cells averages a square the size of a whole image instead of one of half that side; the
ResNet's `pool` is global at any size. The networks never saw a canvas: what the probe measures is
how far their features carry to a larger, busier image.

Probes (the course's protocol, choices on the labelled images only): single-label tasks fit the
course's multinomial logistic regression (`probe.fit_linear`), C and the layer from
`probe.cross_validate`; the multi-label task fits one binary logistic regression per class
(`multilabel.fit_multilabel`), C chosen per layer by the mAP of one round of 2-fold
cross-validation, and is scored by mAP. Goyal et al. (and VISSL's VOC07 benchmark,
`eval_resnet_8gpu_transfer_voc07_svm.yaml`) fit one linear SVM per class with the cost chosen by
cross-validation; we fit logistic regressions instead: the same kind of linear classifier, the
same loss family as the rest of the course's probes, and the same solver, and AP only reads the
ranking of the scores. Rows of the results table: `table.SUITE_ROW_KEYS`.
"""
from __future__ import annotations

import statistics
import sys
from collections import defaultdict

import torch
from torch import nn

from ..core.models import evaluating, trunk_of
from ..core.probe import C_GRID, DEFAULT_POOLED_SIZE, layer_features
from ..core import multilabel as multilabel_module
from ..core import probe as probe_module
from ..core.data import to_float
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.training import fingerprint
from ..core.validate import check_int
from ..notebook.plotting import figure_axes
from ..notebook.seed_plots import mean_interval
from ..notebook.widgets import explorer
from . import probing as probing_module
from .downstream import TASKS, suite_data
from .probing import network_name_and_preprocess, preprocess_key, probe_multilabel, probe_single
from .table import RANDOM, SUPERVISED, best_layers, check_rows, decide, select, task_order


def _features(trunk, X, layers, target, preprocess, cache, key):
    if cache is not None and key in cache and cache[key][0] is X:
        return cache[key][1]
    feats = layer_features(trunk, to_float(X), layers, target, preprocess)
    if cache is not None:
        cache[key] = (X, feats)  # X kept alive: its id stays its own
    return feats


def probe_suite(net: nn.Module, task, arch: str, seed: int = 0, split: int = 0, data: dict | None = None,
                layers=None, target: int = DEFAULT_POOLED_SIZE, C_grid=C_GRID, sizes: dict | None = None,
                feature_cache: dict | None = None) -> list[dict]:
    """Every layer of one frozen network on every downstream task of `data` (default: the whole suite).

    `task` is a PretextTask (its name labels the rows, its `preprocess` shows images to the trunk)
    or a name. Features of an image set are computed once (`feature_cache` keeps them between
    calls: the splits of a seed share their test images). Returns rows with the keys `table.SUITE_ROW_KEYS`.
    """
    name, preprocess = network_name_and_preprocess(task, preprocess=None)
    data = suite_data(seed, split, sizes=sizes) if data is None else data
    trunk = trunk_of(net)
    layers = list(layers or trunk.layer_names)

    def measure():
        return _probe_suite(net, trunk, name, preprocess, arch, seed, split, data, layers, target, C_grid, feature_cache)

    shown = preprocess_key(preprocess)
    if shown is False:  # a preprocess nobody can name: measured every time
        return measure()
    key = dict(net=state_fingerprint(trunk), task=name, preprocess=shown, arch=arch, seed=seed, split=split,
               layers=layers, target=target, C_grid=list(C_grid),
               data={d.task.name: [d.task.metric] + [fingerprint(t) for t in (d.X_train, d.y_train, d.X_test, d.y_test)]
                     for d in data.values()},
               code=source_fingerprint(probe_module, multilabel_module, probing_module, sys.modules[__name__]))
    return load_or_measure("suite", key, measure)


def _probe_suite(net, trunk, name, preprocess, arch, seed, split, data, layers, target, C_grid, feature_cache):
    order = list(getattr(trunk, "layer_names", layers))
    cache = {} if feature_cache is None else feature_cache
    rows = []
    with evaluating(net):
        for d in data.values():
            F_train = _features(trunk, d.X_train, layers, target, preprocess, cache, (id(net), id(d.X_train), target))
            F_test = _features(trunk, d.X_test, layers, target, preprocess, cache, (id(net), id(d.X_test), target))
            probe = probe_multilabel if d.task.metric == "mAP" else probe_single
            result = probe(F_train, d.y_train, F_test, d.y_test, C_grid, seed=seed)
            rows += [dict(task=name, arch=arch, seed=seed, split=split, downstream=d.task.name, metric=d.task.metric,
                          layer=layer, depth=order.index(layer) + 1, **result[layer]) for layer in layers]
    if feature_cache is None:
        cache.clear()
    return rows


def probe_suite_networks(networks, splits=(0,), tasks=tuple(TASKS), sizes: dict | None = None, C_grid=C_GRID,
                   target: int = DEFAULT_POOLED_SIZE, log=None) -> list[dict]:
    """The results table of `probe_suite` for every (task, arch, seed, net) of `networks`, on every split."""
    splits = [check_int("splits", j, lowest=0) for j in splits]
    data = {}
    table = []
    for task, arch, seed, net in networks:
        cache = {}
        for j in splits:
            if (seed, j) not in data:
                data[(seed, j)] = suite_data(seed, j, tasks, sizes)
            table += probe_suite(net, task, arch, seed, j, data[(seed, j)], C_grid=C_grid, target=target,
                                 feature_cache=cache)
        if log:
            log(f"probed {table[-1]['task']:<18} {arch:<6} seed {seed}")
    return table


def curves(table, downstream: str, **where):
    """`table.Curve`s (layers chosen on the labelled images) of one downstream task, per (task, arch)."""
    rows = select(table, downstream=downstream, **where)
    if not rows:
        raise ValueError(f"the table holds no rows for downstream={downstream!r} and {where}; it holds "
                         f"{sorted({r['downstream'] for r in table})}")
    # lesson 4's rows speak of 'accuracy': here it is the task's score (accuracy or mAP); k is not varied
    return best_layers([dict(task=r["task"], arch=r["arch"], seed=r["seed"], split=r["split"], layer=r["layer"],
                             depth=r["depth"], accuracy=r["score"], val_accuracy=r["val_score"], k=None)
                        for r in rows])


def curve(table, task, downstream, arch):
    found = [c for c in curves(table, downstream, arch=arch) if c.task == task]
    if not found:
        raise ValueError(f"the table holds no curve for task {task!r}, downstream {downstream!r}, arch {arch!r}")
    return found[0]


def _values_at(table, task, downstream, arch, layer) -> dict:
    return {(r["seed"], r["split"]): r["score"] for r in select(table, task=task, downstream=downstream, arch=arch,
                                                                  layer=layer)}


def grid(table, arch: str) -> list[dict]:
    """Per (pretext or reference network, downstream task): the layer chosen on the labelled images and its score.

    Each cell: task, downstream, metric, layer, score (mean test score at that layer over units), n (units).
    """
    out = []
    for d in TASKS:
        if not select(table, downstream=d, arch=arch):
            continue
        for c in curves(table, d, arch=arch):
            out.append(dict(task=c.task, downstream=d, metric=TASKS[d].metric, layer=c.best.layer, score=c.best.mean,
                            n=c.best.n))
    if not out:
        raise ValueError(f"the table holds no rows for arch {arch!r}; it holds {sorted({r['arch'] for r in table})}")
    return out


def layer_moves(table, arch: str, reference: str = "classes") -> list[str]:
    """Does the best layer move with the downstream task? Per pretext task and downstream task d:
    on d, the layer chosen for d against the layer chosen for `reference`, paired on (seed, split) units."""
    lines = []
    for task in _pretext_tasks(table, arch):
        ref_layer = curve(table, task, reference, arch).best.layer
        for d in TASKS:
            if d == reference or not select(table, task=task, downstream=d, arch=arch):
                continue
            own = curve(table, task, d, arch).best.layer
            what = f"{task}, {arch}, on {d}: its own chosen layer {own} vs {ref_layer}, the layer chosen for {reference}"
            if own == ref_layer:
                lines.append(f"Described, not decided [{what}]: the same layer is chosen for both; the best layer does not move.")
                continue
            lines.append(decide(_values_at(table, task, d, arch, own), _values_at(table, task, d, arch, ref_layer),
                                what, "the layer moved, and the move pays", "the layer moved, and the move costs"))
    return lines


def task_moves(table, arch: str, reference: str = "classes") -> list[str]:
    """Does the best pretext task move with the downstream task? On each downstream task d, the pretext task
    chosen for d (highest mean validation score at its chosen layer) against the one chosen for `reference`."""
    def chosen(d):
        cs = [c for c in curves(table, d, arch=arch) if c.task in _pretext_tasks(table, arch)]
        vals = {c.task: statistics.fmean(r["val_score"] for r in select(table, task=c.task, downstream=d, arch=arch,
                                                                           layer=c.best.layer)) for c in cs}
        return max(sorted(vals, key=task_order), key=vals.get)

    ref = chosen(reference)
    lines = []
    for d in TASKS:
        if d == reference or not select(table, downstream=d, arch=arch):
            continue
        own = chosen(d)
        what = f"{arch}, on {d}: {own}, the pretext task chosen for {d}, vs {ref}, the one chosen for {reference}"
        if own == ref:
            lines.append(f"Described, not decided [{what}]: the same pretext task is chosen for both; it does not move.")
            continue
        a, b = curve(table, own, d, arch), curve(table, ref, d, arch)
        lines.append(decide(dict(zip(a.units, a.best_values)), dict(zip(b.units, b.best_values)), what,
                            "the best task moved, and the move pays", "the best task moved, and the move costs"))
    return lines


def figure_verdicts(table, task: str = "jigsaw", downstream: str = "scenes", archs=("resnet", "cnn")) -> list[str]:
    """The seed figure's verdicts: per arch, the last layer against the best earlier one, and pretext
    against random weights at the layers each chose."""
    lines = []
    for arch in archs:
        c = curve(table, task, downstream, arch)
        lines.append(decide(dict(zip(c.units, c.last_values)), dict(zip(c.units, c.earlier_values)),
                            f"{task}, {arch}, {downstream} ({TASKS[downstream].metric}): last layer {c.last.layer} vs "
                            f"{c.earlier.layer}, the best earlier layer on the labelled images",
                            "last layer higher", "last layer lower"))
        if select(table, task=RANDOM, downstream=downstream, arch=arch):
            r = curve(table, RANDOM, downstream, arch)
            lines.append(decide(dict(zip(c.units, c.best_values)), dict(zip(r.units, r.best_values)),
                                f"{task} vs random weights, {arch}, {downstream}: each at its chosen layer "
                                f"({c.best.layer} vs {r.best.layer})", "pretext features better",
                                "pretext features worse"))
    return lines


def _pretext_tasks(table, arch):
    return sorted({r["task"] for r in table if r["arch"] == arch and r["task"] not in (RANDOM, SUPERVISED)},
                  key=task_order)


# plots ------------------------------------------------------------------------------------------------

REFERENCE_STYLES = {SUPERVISED: dict(color="black", linestyle="-"), RANDOM: dict(color="grey", linestyle=":")}


def layer_intervals(table, task: str, downstream: str, arch: str) -> list[dict]:
    """Per layer of one curve: per-seed scores (splits averaged), their mean and a 95% t interval over seeds
    (`seed_plots.mean_interval`, through `core.stats`)."""
    rows = select(table, task=task, downstream=downstream, arch=arch)
    if not rows:
        raise ValueError(f"the table holds no rows for task {task!r}, downstream {downstream!r}, arch {arch!r}")
    by_layer = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_layer[(r["depth"], r["layer"])][r["seed"]].append(r["score"])
    out = []
    for (depth, layer), per_seed in sorted(by_layer.items()):
        seeds = sorted(per_seed)
        values = [statistics.fmean(per_seed[s]) for s in seeds]
        mean, low, high = mean_interval(values, seeds=seeds)
        out.append(dict(layer=layer, depth=depth, seeds=seeds, values=values, mean=mean, low=low, high=high))
    return out


def plot_curves(table, task: str, downstream: str, arch: str, references=(SUPERVISED, RANDOM), ax=None, title=None):
    """The score per layer of one pretext network on one downstream task: a dot per seed, the mean and its
    95% interval over seeds, with the reference networks' curves beside it (layers on x, score on y)."""
    fig, ax = figure_axes(ax, figsize=(6, 4))
    shown = [task] + [r for r in references if r != task and select(table, task=r, downstream=downstream, arch=arch)]
    ticks = {}
    for i, name in enumerate(shown):
        points = layer_intervals(table, name, downstream, arch)
        x = [p["depth"] + 0.08 * (i - (len(shown) - 1) / 2) for p in points]
        style = REFERENCE_STYLES.get(name, dict(color="C0", linestyle="-"))
        ax.plot(x, [p["mean"] for p in points], marker="o", label=f"{name} ({len(points[0]['values'])} seeds)",
                **style)
        ax.errorbar(x, [p["mean"] for p in points], yerr=[[p["mean"] - p["low"] for p in points],
                                                           [p["high"] - p["mean"] for p in points]],
                    fmt="none", ecolor=style["color"], capsize=3, alpha=0.7)
        for xi, p in zip(x, points):
            ax.scatter([xi] * len(p["values"]), p["values"], s=10, color=style["color"], alpha=0.5)
        ticks.update({p["depth"]: p["layer"] for p in points})
    ax.set_xticks(sorted(ticks), [ticks[d] for d in sorted(ticks)])
    ax.set_xlabel("layer (deeper to the right)")
    ax.set_ylabel(f"{TASKS[downstream].metric} on {downstream}")
    ax.set_title(title or f"{task}, {arch}: {downstream} per layer (mean, 95% CI over seeds, a dot per seed)",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_grid(table, arch: str, ax=None, title=None):
    """The grid network x downstream task: each cell the chosen layer and its score, coloured by the score
    minus random weights' (at the layer they chose), in points."""
    cells = grid(table, arch)
    tasks = sorted({c["task"] for c in cells if c["task"] != RANDOM}, key=task_order)
    downs = [d for d in TASKS if any(c["downstream"] == d for c in cells)]
    at = {(c["task"], c["downstream"]): c for c in cells}
    gain = torch.full((len(tasks), len(downs)), float("nan"))
    for i, t in enumerate(tasks):
        for j, d in enumerate(downs):
            if (t, d) in at and (RANDOM, d) in at:
                gain[i, j] = 100 * (at[(t, d)]["score"] - at[(RANDOM, d)]["score"])
    fig, ax = figure_axes(ax, figsize=(1.8 * len(downs) + 2, 0.7 * len(tasks) + 1.5))
    bound = float(torch.nan_to_num(gain.abs(), 0).max()) or 1.0
    image = ax.imshow(gain.numpy(), cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
    for i, t in enumerate(tasks):
        for j, d in enumerate(downs):
            if (t, d) in at:
                c = at[(t, d)]
                ax.text(j, i, f"{c['layer']}\n{100 * c['score']:.1f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(downs)), [f"{d}\n({TASKS[d].metric})" for d in downs], fontsize=8)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=8)
    fig.colorbar(image, ax=ax, label="points above random weights")
    ax.set_title(title or f"{arch}: chosen layer and score (%) per network and downstream task", fontsize=9)
    fig.tight_layout()
    return fig


def curve_explorer(table):
    """Choose a pretext task, a downstream task and an arch: the layer curves with their intervals."""
    import ipywidgets as widgets

    check_rows(table)
    archs = sorted({r["arch"] for r in table})
    tasks = sorted({r["task"] for r in table if r["task"] not in (RANDOM, SUPERVISED)}, key=task_order)
    downs = [d for d in TASKS if any(r["downstream"] == d for r in table)]

    def draw(task, downstream, arch):
        if not select(table, task=task, downstream=downstream, arch=arch):
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 1))
            ax.axis("off")
            ax.text(0.5, 0.5, f"no {arch} network of {task} in this run", ha="center")
            return fig
        return plot_curves(table, task, downstream, arch)

    return explorer(draw, task=widgets.Dropdown(options=tasks, value=tasks[0], description="pretext"),
                    downstream=widgets.Dropdown(options=downs, value=downs[0], description="downstream"),
                    arch=widgets.Dropdown(options=archs, value=archs[0], description="arch"))
