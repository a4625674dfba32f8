"""Lesson 4: the layer-alignment experiment: which layer of a pretext-trained network transfers best, and why.

Protocol (after Goyal et al. 2019, at laptop scale): freeze a network; take each named layer of
its trunk on the downstream images; average-pool every layer to about the same number of features
(`probe.DEFAULT_POOLED_SIZE`, 2048, for VISSL's ~9k at 224 px); standardise; fit a multinomial
linear classifier (logistic regression) per layer on k labelled images per class, its cost C chosen
from `probe.C_GRID` on a validation half of those labelled images; report the test accuracy once.
The layer to transfer from is chosen the same way, on validation accuracy, never on the test set.
VISSL's VOC07 benchmark differs: one linear SVM per class, its cost chosen by cross-validation,
scored by mAP.

Budgets (`training_plan`): by default every network of a comparison trains on the same images for
the same number of passes (`matched_budget`: the smallest recipe among the tasks); `widths` adds
one task at other widths, for Kolesnikov et al.'s question (`width_study_verdict`).

Features per image after pooling, width 16, 28 px Fashion-MNIST (`pooled_sizes` computes them):

=========  ==============  ========  ===========  ==============  ========
PlainCNN   activation      features  SmallResNet  activation      features
=========  ==============  ========  ===========  ==============  ========
conv1      16 x 14 x 14    1936      stem         16 x 14 x 14    1936
conv2      32 x 7 x 7      1568      res2         16 x 14 x 14    1936
conv3      64 x 7 x 7      2304      res3         32 x 7 x 7      1568
conv4      64 x 7 x 7      2304      res4         64 x 4 x 4      1024
fc1        128             128       res5         128 x 2 x 2     512
fc2        128             128       pool         128             128
=========  ==============  ========  ===========  ==============  ========

The ResNet's deeper blocks hold fewer features than the target (pooling cannot add any): the width
control (`width_control`, which lesson 4 runs on the CNN) pools every layer to the fc layers' width.

Raw pixels (784 features) are the zeroth "layer". The results are a tidy table: a list of dicts
with the keys `ROW_KEYS` (and `PROBE_KEYS`, from the probe), one row per (task, arch, seed, split,
layer, k); everything else (chosen layers, verdicts, plots) is computed from that table, and every
verdict is a `core.stats` comparison paired on (seed, split) units.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from collections import defaultdict

import torch

from scipy.stats import spearmanr

from ..core.data import fewshot_split, resolve_dataset, to_float
from ..core.models import activations, evaluating, make_backbone, trunk_of
from ..core.probe import (C_GRID, CV_FOLDS, CV_ROUNDS, DEFAULT_POOLED_SIZE, choose, cross_validate, fit_linear, layer_features,
                          pool_features)
from ..core import probe as probe_module
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.stats import compare
from ..core.task import PretextTask, SupervisedTask
from ..core.training import fingerprint, resolve_preset, set_seed, train_or_load
from ..core.validate import check_int
from ..notebook.widgets import explorer
from ..tasks.registry import course_tasks, registered_tasks
from .references import calibrated_random

ROW_KEYS = ("task", "arch", "seed", "layer", "depth", "accuracy", "k")
# what the probe adds to every row: the labelled split (with the seed, the unit of every comparison),
# the cross-validated accuracy on the labelled images (what choices are made on) and the C it chose
PROBE_KEYS = ("split", "val_accuracy", "C")
SPLIT_STRIDE = 1000  # labelled split j of seed s is fewshot_split(seed=s + SPLIT_STRIDE * j): split 0 is the seed's own
PIXELS = "pixels"  # the raw-pixel baseline: task "pixels", a single layer "pixels" at depth 0
RANDOM = "random"  # the same architecture with random weights
SUPERVISED = "supervised"  # the same architecture trained with the labels: the "aligned" reference
BASELINES = (SUPERVISED, RANDOM, PIXELS)
PROBE_TOL = 1e-4  # scikit-learn's stopping rule for the linear probe (see benchmarks/bench_probe.py)
JSON_MIME = "application/vnd.pretext-lessons.alignment+json"

# Published per-layer figures, for context only (each row names its source): not comparable in scale with ours.
PUBLISHED = (
    dict(task="rotation", arch="ResNet-50", setting="ImageNet linear probe, top-1 %",
         source="mmselfsup, rotation_pred README", layers=("stem", "res2", "res3", "res4", "res5"),
         accuracy=(12.15, 31.99, 44.57, 54.20, 45.94)),
    dict(task="relative_position", arch="ResNet-50", setting="ImageNet linear probe, top-1 %",
         source="mmselfsup, relative_loc README", layers=("stem", "res2", "res3", "res4", "res5"),
         accuracy=(15.11, 30.47, 42.83, 51.20, 40.96)),
    dict(task="rotation", arch="RotNet, 4 NIN blocks", setting="CIFAR-10, classifier on each frozen block, %",
         source="Gidaris et al. 2018, Table 1", layers=("block1", "block2", "block3", "block4"),
         accuracy=(85.07, 89.06, 86.21, 61.73)),
)


# 1. networks and features -------------------------------------------------------------------------

def random_net(arch: str = "cnn", seed: int = 0, preset: str = "quick") -> torch.nn.Module:
    """Lesson 4: the baseline 'random': the architecture with random weights (the preset's width), frozen."""
    set_seed(seed)
    return make_backbone(arch, resolve_dataset().channels, resolve_preset(preset, arch=arch)["width"]).eval()


def labelled_subset(num_images: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Lesson 4: the images of `data.pretrain_split(num_images, seed)` with their true labels."""
    X, y = resolve_dataset().load("train")
    if not isinstance(num_images, int) or not 0 < num_images <= len(X):
        raise ValueError(f"num_images must be an integer between 1 and {len(X)}, got {num_images!r}")
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:num_images]  # as pretrain_split
    return X[idx], y[idx]


def supervised_net(arch: str = "cnn", seed: int = 0, preset: str = "quick", num_images: int | None = None,
                   progress: bool = True, **overrides):
    """Lesson 4: the baseline 'supervised' (trained with the true labels), cached by train_or_load; (net, history).

    Without `num_images` and `num_epochs` it trains on the course's `matched_budget`, the budget of
    the pretext networks it is compared with, so lessons 1 to 5 share one supervised network per seed.
    """
    task = SupervisedTask(num_classes=resolve_dataset().num_classes)
    if num_images is None and overrides.get("num_epochs") is None:
        budget = matched_budget(preset=preset, arch=arch)
        num_images, overrides = budget["num_images"], {**overrides, "num_epochs": budget["num_epochs"]}
    num_images = num_images or resolve_preset(preset, task)["num_images"]
    X, y = labelled_subset(num_images, seed)
    return train_or_load(task, arch=arch, preset=preset, seed=seed, X=X, y=y, progress=progress, **overrides)


MATCHED = "matched"  # every network of a comparison on the same images, for the same number of passes
OWN = "own"  # each task with the recipe of its own lesson (as lessons 1 to 3 trained them)
BUDGETS = (MATCHED, OWN)
WIDTH_STUDY = "one task, several widths"  # the group of the pretext rows of Kolesnikov et al.'s question


def _check_budget(budget) -> str:
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    return budget


def matched_budget(tasks=None, preset: str = "quick", arch: str | None = None) -> dict:
    """Lesson 4: the one budget a comparison trains every network on: the fewest images and epochs of any recipe.

    The recipes are the tasks' (default: `course_tasks()`) and the supervised reference's, in
    `preset` for `arch`. Taking the smallest keeps every network at or below what its own lesson
    trained, and the task with the smallest recipe is reused from its lesson's cache.
    """
    tasks = course_tasks() if tasks is None else dict(tasks)
    recipes = [resolve_preset(preset, task, arch=arch) for task in [*tasks.values(), SupervisedTask(num_classes=resolve_dataset().num_classes)]]
    return dict(num_images=min(r["num_images"] for r in recipes), num_epochs=min(r["num_epochs"] for r in recipes))


def training_plan(tasks=None, seeds=None, preset: str = "quick", budget: str = MATCHED, widths=None) -> list[dict]:
    """Lesson 4: every network `train_networks` trains, one row each: name, task, arch, seed, width and its budget.

    `tasks` defaults to `course_tasks()`, `seeds` to {"cnn": (0,)} (arch -> seeds). `budget`:
    MATCHED trains every network, the supervised reference included, on the same images (the
    first `num_images` of `pretrain_split` for the seed) for the same number of epochs
    (`matched_budget`); OWN keeps each task's own recipe. `widths` (e.g. {"rotation": (4, 8)})
    adds networks of one task at other widths of the first arch, for Kolesnikov et al.'s question
    (their arch label is f"{arch}-w{width}"). Each row holds what its training used: images,
    epochs, image passes (one per image per epoch, whatever the task shows per image), batch
    size, optimiser steps.
    """
    tasks = course_tasks() if tasks is None else dict(tasks)
    seeds = {"cnn": (0,)} if seeds is None else dict(seeds)
    _check_budget(budget)
    widths = dict(widths or {})
    unknown = sorted(set(widths) - set(tasks))
    if unknown:
        raise ValueError(f"widths must name tasks among {sorted(tasks)}, got {unknown}")
    rows = []

    def add(name, task, arch, label, seed, **overrides):
        if budget == MATCHED:  # the course's budget, whichever subset of tasks is trained here
            overrides.update(matched_budget({**course_tasks(), **tasks}, preset, arch))
        s = resolve_preset(preset, task, arch=arch, **overrides)
        rows.append(dict(network=name, task=task, arch=label, backbone=arch, seed=seed, width=s["width"],
                         images=s["num_images"], epochs=s["num_epochs"], image_passes=s["num_images"] * s["num_epochs"],
                         batch_size=s["batch_size"], steps=max(1, s["num_images"] // s["batch_size"]) * s["num_epochs"],  # as `fit` steps
                         overrides=overrides))

    for arch, arch_seeds in seeds.items():
        for seed in arch_seeds:
            for name, task in tasks.items():
                add(name, task, arch, arch, seed)
            add(SUPERVISED, SupervisedTask(num_classes=resolve_dataset().num_classes), arch, arch, seed)
    if widths and seeds:
        arch = next(iter(seeds))
        for name, ws in widths.items():
            for width in ws:
                for seed in seeds[arch]:
                    add(name, tasks[name], arch, f"{arch}-w{width}", seed, width=check_int("widths", width))
    return rows


def train_networks(tasks=None, seeds=None, preset: str = "quick", device=None, log=print, budget: str = MATCHED,
                   widths=None, seconds: dict | None = None) -> tuple[list, list]:
    """Lesson 4: every network the study compares, per arch and seed: each task, the supervised reference, random weights.

    `tasks`, `seeds`, `budget` and `widths` as in `training_plan`, which says what each network
    trains on. Returns `networks`, a list of (task or baseline name, arch, seed, net), and
    `pretext`, one row (task, arch, seed, pretext_accuracy, group, width) per pretext network
    (group: the arch, or WIDTH_STUDY for the networks `widths` adds). Each network is loaded from
    the checkpoint cache when a lesson already trained it. A dict `seconds` receives, per
    (name, arch, seed), the seconds its training took when it was trained (kept in its checkpoint).
    """
    networks, pretext = [], []
    for plan in training_plan(tasks, seeds, preset, budget, widths):
        name, arch, seed = plan["network"], plan["arch"], plan["seed"]
        if name == SUPERVISED:
            net, history = supervised_net(plan["backbone"], seed, preset, device=device, progress=False,
                                          **plan["overrides"])
            if seconds is not None:
                seconds[(name, arch, seed)] = sum(history.get("seconds", []))
            networks.append((SUPERVISED, arch, seed, net))
            if log:
                log(f"{SUPERVISED:<18} {arch:<8} seed {seed}: training accuracy {history['train_acc'][-1]:.1%}")
            # the random reference: the same starting weights, BatchNorm statistics from the same images
            networks.append((RANDOM, arch, seed, calibrated_random(None, plan["backbone"], seed, preset,
                                                                   **plan["overrides"])))
            continue
        net, history = train_or_load(plan["task"], arch=plan["backbone"], preset=preset, seed=seed, device=device,
                                     progress=False, **plan["overrides"])
        if seconds is not None:
            seconds[(name, arch, seed)] = sum(history.get("seconds", []))
        networks.append((plan["task"], arch, seed, net))
        pretext.append(dict(task=name, arch=arch, seed=seed, pretext_accuracy=history["val_acc"][-1],
                            group=arch if arch == plan["backbone"] else WIDTH_STUDY, width=plan["width"]))
        if log:
            log(f"{name:<18} {arch:<8} seed {seed}: pretext accuracy {history['val_acc'][-1]:.1%}")
    return networks, pretext


def budget_table(tasks=None, seeds=None, preset: str = "quick", budget: str = MATCHED, widths=None) -> list[dict]:
    """Lesson 4: each network's pretraining budget, from `training_plan`: one row per network and arch, seeds counted.

    Keys: network, arch, width, images, epochs, image_passes, batch_size, steps, seeds. Random
    weights have no budget. A pretext task that shows several inputs per image (rotation's four
    turns) still counts one pass per image.
    """
    rows = {}
    for plan in training_plan(tasks, seeds, preset, budget, widths):
        key = (plan["network"], plan["arch"])
        if key not in rows:
            rows[key] = dict({k: plan[k] for k in ("network", "arch", "width", "images", "epochs", "image_passes",
                                                   "batch_size", "steps")}, seeds=0)
        rows[key]["seeds"] += 1
    return list(rows.values())


def budget_table_text(rows) -> str:
    """Lesson 4: `budget_table`'s rows as a text table."""
    lines = [f"{'network':<18} {'arch':<8} {'width':>5} {'images':>7} {'epochs':>6} {'image passes':>12} "
             f"{'batch':>5} {'steps':>6} {'seeds':>5}"]
    lines += [f"{b['network']:<18} {b['arch']:<8} {b['width']:>5} {b['images']:>7} {b['epochs']:>6} "
              f"{b['image_passes']:>12} {b['batch_size']:>5} {b['steps']:>6} {b['seeds']:>5}" for b in rows]
    return "\n".join(lines)


def probe_networks(networks, ks=(10,), num_test: int | None = 2000, C_grid=C_GRID, splits=(0,),
                   target: int = DEFAULT_POOLED_SIZE) -> list[dict]:
    """Lesson 4: the results table: every layer of every network in `networks` (from `train_networks`) and raw pixels.

    Each seed gets the labelled splits numbered in `splits` (`downstream_split(..., split=j)`), shared
    by all the networks of that seed: a (seed, split) pair is the unit every comparison is paired on.
    """
    ks = _check_ks(ks)
    splits = [check_int("splits", j, lowest=0) for j in splits]
    archs_of_seed = defaultdict(list)
    for _, arch, seed, _ in networks:
        if arch not in archs_of_seed[seed]:
            archs_of_seed[seed].append(arch)
    data = {(seed, j): downstream_split(ks, seed, num_test, split=j) for seed in sorted(archs_of_seed) for j in splits}
    table = []
    for task, arch, seed, net in networks:
        # the splits of a seed share its test images: their features are computed once per network,
        # and dropped before the next network (keeping every network's would take gigabytes)
        cache = {}
        for j in splits:
            table += probe_network(net, task, arch, seed, ks=ks, split=data[(seed, j)], C_grid=C_grid, split_index=j,
                                   target=target, feature_cache=cache)
    for (seed, j), split in data.items():
        table += probe_pixels(seed, ks, archs=archs_of_seed[seed], split=split, C_grid=C_grid, split_index=j)
    return table


def width_control(networks, ks=(10,), num_test: int | None = 2000, splits=(0,), arch: str = "cnn",
                  target: int | None = None) -> list[dict]:
    """Lesson 4: the control for width: `arch`'s networks probed with every layer pooled to about the fc width.

    `target` defaults to the width of the arch's last layer (128 for the quick CNN): conv maps are
    average-pooled to the spatial side that brings them closest to it, vectors pass through. The
    rows are labelled arch f"{arch}@{target}", so they form their own curves and verdicts.
    """
    chosen = [n for n in networks if n[1] == arch]
    if not chosen:
        raise ValueError(f"networks must hold at least one {arch!r} network, got archs {sorted({n[1] for n in networks})}")
    if target is None:
        trunk = trunk_of(chosen[0][3])
        with evaluating(trunk):
            side = resolve_dataset().size
            last = activations(trunk, torch.zeros(1, trunk.in_channels, side, side), [trunk.layer_names[-1]])
        target = int(next(iter(last.values()))[0].numel())
    check_int("target", target)
    rows = probe_networks(chosen, ks, num_test, splits=splits, target=target)
    for row in rows:
        row["arch"] = f"{arch}@{target}"
    return rows


def pooled_sizes(arch: str = "cnn", width: int = 16, image_size: int | None = None, in_channels: int | None = None,
                 target: int = DEFAULT_POOLED_SIZE) -> dict[str, tuple[tuple[int, ...], int]]:
    """Lesson 4: per layer of a backbone, the activation shape (C, H, W) or (D,) and the features kept after pooling.

    `image_size` and `in_channels` default to those of the course's dataset (`use_dataset`).
    """
    image_size = resolve_dataset().size if image_size is None else image_size
    in_channels = resolve_dataset().channels if in_channels is None else in_channels
    check_int("image_size", image_size)
    net = make_backbone(arch, in_channels, width)
    acts = activations(net, torch.zeros(1, in_channels, image_size, image_size), net.layer_names)
    return {name: (tuple(a.shape[1:]), pool_features(a, target).shape[1]) for name, a in acts.items()}


def budget_indices(y: torch.Tensor, k: int) -> torch.Tensor:
    """Lesson 4: the positions of the first k images of each class in y (nested: a smaller k takes a prefix)."""
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise TypeError(f"y must be a 1-D tensor of labels, got {type(y).__name__}"
                        f"{' of shape ' + str(tuple(y.shape)) if isinstance(y, torch.Tensor) else ''}")
    check_int("k", k, hint=" (labels per class)")
    picked = []
    for c in torch.unique(y).tolist():
        members = torch.nonzero(y == c).flatten()
        if len(members) < k:
            raise ValueError(f"k={k} labels per class asked, but class {c} holds only {len(members)} images")
        picked.append(members[:k])
    return torch.cat(picked)


def _check_ks(ks) -> tuple[int, ...]:
    if isinstance(ks, int):
        ks = (ks,)
    ks = tuple(ks)
    if not ks or not all(isinstance(k, int) and k >= 1 for k in ks):
        raise ValueError(f"ks must be positive integers (labels per class), got {ks!r}")
    return tuple(sorted(set(ks)))


def downstream_split(ks=(10,), seed: int = 0, num_test: int | None = 2000, split: int = 0):
    """Lesson 4: labelled split number `split` of a seed, for the largest k in `ks` (every smaller k is its first k per class).

    Every split of a seed has its own labelled images and the seed's test images (those of split 0):
    a comparison over splits measures what the choice of labelled images changes.
    """
    # fewshot_split draws one permutation per class whatever k is, so with the same seed the
    # k = 10 split is the first 10 images per class of the k = 100 split, with the same test set.
    check_int("split", split, lowest=0)
    k = max(_check_ks(ks))
    X_train, y_train, X_test, y_test = fewshot_split(k=k, seed=seed, num_test=num_test)
    if split:
        X_train, y_train, _, _ = fewshot_split(k=k, seed=seed + SPLIT_STRIDE * split, num_test=1)
    return X_train, y_train, X_test, y_test


def probe_features(F_train: dict, y_train: torch.Tensor, F_test: dict, y_test: torch.Tensor, ks=(10,),
                   C_grid=C_GRID, tol: float = PROBE_TOL, seed: int = 0) -> dict[int, dict[str, dict]]:
    """Lesson 4: per label budget and layer, C chosen on a validation half of the labelled images, then tested once.

    Returns {k: {layer: dict(accuracy=test accuracy at the chosen C, val_accuracy=its cross-validated
    accuracy, C=the chosen C)}}. The test images and labels are used only for `accuracy`, after every choice.
    """
    ks = _check_ks(ks)
    if set(F_train) != set(F_test):
        raise ValueError(f"F_train and F_test must hold the same layers, got {list(F_train)} and {list(F_test)}")
    out = {}
    for k in ks:
        idx = budget_indices(y_train, k)
        if k < CV_FOLDS:
            raise ValueError(f"ks must be at least {CV_FOLDS} labels per class: C and the layer are chosen by "
                             f"{CV_FOLDS}-fold cross-validation on them; got k={k}")
        scores = cross_validate({name: F_[idx] for name, F_ in F_train.items()}, y_train[idx], C_grid,
                                CV_FOLDS, seed, tol, CV_ROUNDS)
        out[k] = {}
        for name in F_train:
            _, C = choose({name: scores[name]})
            clf = fit_linear(F_train[name][idx], y_train[idx], C, tol=tol)
            out[k][name] = dict(accuracy=clf.score(F_test[name], y_test), val_accuracy=scores[name][C], C=C)
    return out


def probe_network(net: torch.nn.Module, task, arch: str, seed: int = 0, ks=(10,), split=None, layers=None,
                  target: int = DEFAULT_POOLED_SIZE, C_grid=C_GRID, preprocess=None,
                  num_test: int | None = 2000, split_index: int = 0, feature_cache: dict | None = None) -> list[dict]:
    """Lesson 4: probe every layer of one frozen network at each label budget; the rows of the results table.

    `task` is a PretextTask (its name labels the rows, its `preprocess` shows whole images to the
    trunk) or a name. The split defaults to `downstream_split(ks, seed, split=split_index)`; features
    are computed once (a `feature_cache` dict, shared between calls, keeps the test images' features
    for the next split); C is chosen per layer on the labelled images (`probe_features`).
    """
    name, preprocess = _task_name_and_preprocess(task, preprocess)
    ks = _check_ks(ks)
    X_train, y_train, X_test, y_test = (split if split is not None
                                        else downstream_split(ks, seed, num_test, split_index))
    trunk = trunk_of(net)
    layers = list(layers or trunk.layer_names)

    def measure():
        return _probe_network(net, trunk, name, preprocess, arch, seed, ks, (X_train, y_train, X_test, y_test), layers,
                              target, C_grid, split_index, feature_cache)

    shown = preprocess_key(preprocess)
    if shown is False:  # a preprocess nobody can name: measured every time
        return measure()
    key = dict(net=state_fingerprint(trunk), task=name, preprocess=shown, arch=arch, seed=seed, ks=ks,
               split=split_index, data=[fingerprint(t) for t in (X_train, y_train, X_test, y_test)], layers=layers,
               target=target, C_grid=list(C_grid), code=source_fingerprint(probe_module, sys.modules[__name__]))
    return load_or_measure("probe", key, measure)


def preprocess_key(preprocess):
    """Lesson 4: what names a preprocess in a results key: None, a task's method with the task's config, else False."""
    if preprocess is None:
        return None
    owner = getattr(preprocess, "__self__", None)
    if isinstance(owner, PretextTask):
        return dict(task=owner.name, config=owner.config(), method=preprocess.__name__)
    return False


def _probe_network(net, trunk, name, preprocess, arch, seed, ks, split, layers, target, C_grid, split_index,
                   feature_cache):
    X_train, y_train, X_test, y_test = split
    key = (id(net), target, tuple(layers), preprocess)
    cached = feature_cache.get(key) if feature_cache is not None else None
    with evaluating(net):
        if cached is not None and cached[0] is net and torch.equal(cached[2], X_test):
            F_train = layer_features(trunk, to_float(X_train), layers, target, preprocess)
            F_test = cached[1]
        else:
            feats = layer_features(trunk, torch.cat([to_float(X_train), to_float(X_test)]), layers, target, preprocess)
            n = len(X_train)
            F_train, F_test = {l: f[:n] for l, f in feats.items()}, {l: f[n:] for l, f in feats.items()}
            if feature_cache is not None:
                feature_cache[key] = (net, F_test, X_test)  # the net kept alive: its id stays its own
    accs = probe_features(F_train, y_train, F_test, y_test, ks, C_grid, seed=seed)
    order = list(getattr(trunk, "layer_names", layers))  # depth counts from the trunk's first layer, even for a subset
    return [dict(task=name, arch=arch, seed=seed, layer=layer, depth=order.index(layer) + 1 if layer in order else i,
                 accuracy=accs[k][layer]["accuracy"], k=k, split=split_index,
                 val_accuracy=accs[k][layer]["val_accuracy"], C=accs[k][layer]["C"])
            for k in ks for i, layer in enumerate(layers, start=1)]


def probe_pixels(seed: int = 0, ks=(10,), archs=("cnn",), split=None, C_grid=C_GRID,
                 num_test: int | None = 2000, split_index: int = 0) -> list[dict]:
    """Lesson 4: the raw-pixel baseline (one 'layer' at depth 0), one row per arch so every arch's table has it."""
    if isinstance(archs, str):
        archs = (archs,)
    ks = _check_ks(ks)
    X_train, y_train, X_test, y_test = (split if split is not None
                                        else downstream_split(ks, seed, num_test, split_index))
    accs = probe_features({PIXELS: pool_features(to_float(X_train))}, y_train,
                          {PIXELS: pool_features(to_float(X_test))}, y_test, ks, C_grid, seed=seed)
    return [dict(task=PIXELS, arch=arch, seed=seed, layer=PIXELS, depth=0, accuracy=accs[k][PIXELS]["accuracy"], k=k,
                 split=split_index, val_accuracy=accs[k][PIXELS]["val_accuracy"], C=accs[k][PIXELS]["C"])
            for arch in archs for k in ks]


def _task_name_and_preprocess(task, preprocess):
    if isinstance(task, PretextTask):
        return task.name, preprocess if preprocess is not None else task.preprocess
    if isinstance(task, str) and task:
        return task, preprocess
    raise TypeError(f"task must be a PretextTask or a task name, got {type(task).__name__}")


# 2. the table ----------------------------------------------------------------------------------

def check_rows(table, keys=ROW_KEYS) -> list[dict]:
    """Lessons 4 and 5: check that `table` is a list of dicts holding `keys`, and say what is wrong."""
    if not isinstance(table, (list, tuple)):
        raise TypeError(f"table must be a list of dicts with keys {keys}, got {type(table).__name__}")
    for i, row in enumerate(table):
        if not isinstance(row, dict):
            raise TypeError(f"table[{i}] must be a dict with keys {keys}, got {type(row).__name__}")
        missing = [key for key in keys if key not in row]
        if missing:
            raise ValueError(f"table[{i}] must have the keys {keys}; missing {missing}")
    return list(table)


def check_table(table) -> list[dict]:
    """Lesson 4: check that `table` is a list of rows with the keys ROW_KEYS, and say what is wrong."""
    for i, row in enumerate(check_rows(table)):
        if not 0 <= row["accuracy"] <= 1:
            raise ValueError(f"table[{i}]['accuracy'] must be a fraction in [0, 1], got {row['accuracy']!r}")
    return list(table)


def select(table, **where) -> list[dict]:
    """Lesson 4: the rows whose columns equal the given values, e.g. select(table, arch="cnn", k=10)."""
    unknown = set(where) - set(ROW_KEYS)
    if unknown:
        raise ValueError(f"columns must be among {ROW_KEYS}, got {sorted(unknown)}")
    return [row for row in check_table(table) if all(row[key] == value for key, value in where.items())]


@dataclasses.dataclass(frozen=True)
class LayerStats:
    """Lesson 4: one layer's test accuracy over units (seed, split): mean, standard deviation, worst, best, number."""

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
    """Lesson 4: one curve (a task, an arch, a label budget k) over its units (seed, split), with its layers chosen.

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
    """Lesson 4: per (task, arch, k, layer): mean, std, min, max of the test accuracy over units, and n units."""
    groups = defaultdict(list)
    for row in select(table, **where):
        groups[(row["task"], row["arch"], row["k"], row["depth"], row["layer"])].append(row["accuracy"])
    return [dict(task=t, arch=a, k=k, **dataclasses.asdict(LayerStats.of(l, d, accs)))
            for (t, a, k, d, l), accs in groups.items()]


def _unit(row) -> tuple[int, int]:
    return row["seed"], row.get("split", 0)


def best_layers(table, **where) -> list[Curve]:
    """Lesson 4: one `Curve` per (task, arch, k), its layers chosen on the labelled images (see `Curve`).

    Ties go to the shallowest layer. Single-layer entries (raw pixels) are left out; only units
    measured at every layer of a curve count.
    """
    groups = defaultdict(lambda: defaultdict(dict))
    for row in select(table, **where):
        groups[(row["task"], row["arch"], row["k"])][(row["depth"], row["layer"])][_unit(row)] = row
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
    """Lesson 4: the `best_layers` curves as a text table: chosen layer, its test mean and range, the last layer."""
    lines = [f"{'task':<18} {'arch':<6} {'k':>4}  {'chosen layer':<12} {'test mean':>9}  {'range':<11} "
             f"{'units pick it':<13} {'last layer':<10} {'last is lower by':>16}"]
    for c in sorted(best, key=lambda c: (c.arch, c.k, _task_order(c.task))):
        spread = f"{100 * c.best.min:.1f}-{100 * c.best.max:.1f}" if c.best.n > 1 else "1 unit"
        picks = f"{c.seed_best.count(c.best.layer)}/{len(c.seed_best)}"
        lines.append(f"{c.task:<18} {c.arch:<6} {c.k!s:>4}  {c.best.layer:<12} {100 * c.best.mean:>8.1f}%  "
                     f"{spread:<11} {picks:<13} {c.last.layer:<10} {c.drop:>10.1f} points")
    return "\n".join(lines)


# 3. verdicts, computed from the table through core.stats -------------------------------------------
# The unit of every comparison is a (seed, split) pair: the same pretraining seed and the same
# labelled split on both sides. A comparison with fewer than two common units has no interval: it
# is printed as "Not decided [...]", never as a verdict.

def _check_curve(curve, name: str = "best") -> Curve:
    if not isinstance(curve, Curve):
        raise TypeError(f"{name} must be a Curve from best_layers(table), got {type(curve).__name__}")
    return curve


def _decide(a: dict, b: dict, what: str, better_word: str, worse_word: str) -> str:
    """The verdict sentence on a[u] - b[u] over the units both hold, or a 'Not decided' line naming why."""
    units = sorted(set(a) & set(b))
    if len(units) < 2:
        return (f"Not decided [{what}]: {len(units)} common (seed, split) unit, no interval; add seeds or "
                f"labelled splits.")
    return compare([a[u] for u in units], [b[u] for u in units], what, better_word, worse_word,
                   seeds=[u[0] for u in units], splits=[u[1] for u in units]).sentence


def alignment_verdict(best: Curve) -> str:
    """Lesson 4: is the last layer better or worse than the best earlier layer (chosen on the labelled images)?"""
    c = _check_curve(best)
    what = (f"{c.task}, {c.arch}, k={c.k}: last layer {c.last.layer} vs {c.earlier.layer}, the best earlier layer "
            f"on the labelled images")
    return _decide(dict(zip(c.units, c.last_values)), dict(zip(c.units, c.earlier_values)), what,
                   "last layer higher", "last layer lower")


def _drops(c: Curve) -> dict:
    return {u: last - earlier for u, last, earlier in zip(c.units, c.last_values, c.earlier_values)}


def random_verdicts(best, task: str, arch: str, k: int) -> list[str]:
    """Lesson 4: a pretext task against random weights of its arch: the chosen layers, then the last layer's fall.

    First: the pretext network at its chosen layer against random weights at theirs (does pretext
    training add anything?). Second: the last layer's change against the best earlier layer, pretext
    minus random (does the last layer fall beyond what the architecture and the probe alone give?).
    """
    curves = {c.task: c for c in best if c.arch == arch and c.k == k}
    if task not in curves or RANDOM not in curves:
        raise ValueError(f"best must hold the curves of {task!r} and {RANDOM!r} for arch {arch!r} and k={k}")
    p, r = _check_curve(curves[task]), curves[RANDOM]
    gain = _decide(dict(zip(p.units, p.best_values)), dict(zip(r.units, r.best_values)),
                   f"{task} vs random weights, {arch}, k={k}: each at its chosen layer ({p.best.layer} vs "
                   f"{r.best.layer})", "pretext features better", "pretext features worse")
    fall = _decide(_drops(p), _drops(r),
                   f"{task} vs random weights, {arch}, k={k}: last layer minus best earlier layer",
                   "the pretext network's last layer falls less", "the pretext network's last layer falls more")
    return [gain, fall]


def architecture_verdict(best, task: str, k: int, plain: str = "cnn", skip: str = "resnet") -> str:
    """Lesson 4: the last layer's change against the best earlier layer, with (skip) minus without (plain) skips."""
    entries = {c.arch: c for c in best if c.task == task and c.k == k}
    missing = [arch for arch in (plain, skip) if arch not in entries]
    if missing:
        raise ValueError(f"best must hold task {task!r} at k={k} for archs {plain!r} and {skip!r}; missing {missing}")
    p, s = entries[plain], entries[skip]
    return _decide(_drops(s), _drops(p),
                   f"{task}, k={k}: last layer minus best earlier layer, {skip} ({s.last.layer} vs "
                   f"{s.earlier.layer}) minus {plain} ({p.last.layer} vs {p.earlier.layer})",
                   "the last layer keeps more with skip connections",
                   "the last layer keeps less with skip connections")


def pretext_points(table, pretext, k: int, layer: str = "best") -> list[dict]:
    """Lesson 4: per network in `pretext` (rows task, arch, seed, pretext_accuracy, optional run): its downstream accuracy.

    layer="best" takes the layer chosen on the labelled images (cross-validated accuracy; the
    accuracy itself for rows without it), "last" the deepest layer; split 0 of the network's seed.
    """
    if layer not in ("best", "last"):
        raise ValueError(f"layer must be 'best' or 'last', got {layer!r}")
    points = []
    for p in pretext:
        for key in ("task", "arch", "seed", "pretext_accuracy"):
            if key not in p:
                raise ValueError(f"each pretext row must have task, arch, seed, pretext_accuracy; missing {key!r}")
        run = p.get("run", p["task"])
        rows = [r for r in select(table, task=run, arch=p["arch"], seed=p["seed"], k=k) if r.get("split", 0) == 0]
        if not rows:
            raise ValueError(f"the table holds no rows for task {run!r}, arch {p['arch']!r}, seed {p['seed']}, k={k}")
        by = lambda r: r["val_accuracy"] if r.get("val_accuracy") is not None else r["accuracy"]  # noqa: E731
        pick = max(rows, key=by) if layer == "best" else max(rows, key=lambda r: r["depth"])
        points.append(dict(p, run=run, k=k, layer=pick["layer"], downstream_accuracy=pick["accuracy"]))
    return points


def pretext_verdict(points, label: str) -> str:
    """Lesson 4: the rank correlation of pretext and downstream accuracy over `points`, described, not decided.

    Across tasks whose chance levels differ (4 rotations, 100 permutations, 8 positions) this is a
    different question from Kolesnikov et al.'s (one task, a varying network), so no verdict is drawn.
    """
    if len(points) < 3:
        raise ValueError(f"points must hold at least 3 networks to compare rankings, got {len(points)}")
    rho = _rank_correlation([p["pretext_accuracy"] for p in points], [p["downstream_accuracy"] for p in points])
    runs = sorted({p["run"] for p in points}, key=_task_order)
    return (f"Described, not decided [pretext vs downstream, {label}, k={points[0]['k']}]: over {len(points)} networks "
            f"of {len(runs)} task(s) ({', '.join(runs)}), rank correlation {rho:+.2f}. Pretext accuracies of tasks "
            f"with different numbers of classes are not on one scale, so this is not Kolesnikov et al.'s question "
            f"(one task, a varying network).")


def width_study(pretext) -> list[dict]:
    """Lesson 4: the networks of Kolesnikov et al.'s question, from `train_networks`' pretext rows: one task, several networks.

    The rows of group WIDTH_STUDY (one task at other widths) and that task's networks of the
    other archs trained on every seed the study has; all of them labelled WIDTH_STUDY.
    """
    study = [p for p in pretext if p.get("group") == WIDTH_STUDY]
    if not study:
        return []
    tasks = sorted({p["task"] for p in study})
    if len(tasks) > 1:
        raise ValueError(f"the width study must hold one task, got {tasks}")
    seeds = {p["seed"] for p in study}
    others = defaultdict(list)
    for p in pretext:
        if p.get("group") != WIDTH_STUDY and p["task"] == tasks[0]:
            others[p["arch"]].append(p)
    for arch, rows in others.items():
        if {p["seed"] for p in rows} >= seeds:
            study += [dict(p, group=WIDTH_STUDY) for p in rows if p["seed"] in seeds]
    return study


def width_study_points(table, study, k: int) -> list[dict]:
    """Lesson 4: per network of the study and unit (seed, split): its pretext accuracy and the probe's test accuracy.

    The probe's layer is the one chosen for that network's curve on the labelled images
    (`best_layers`), the same layer for all its units.
    """
    curves = {(c.task, c.arch): c for c in best_layers(table, k=k)}
    points = []
    for p in study:
        curve = curves.get((p["task"], p["arch"]))
        if curve is None:
            raise ValueError(f"the table holds no curve for task {p['task']!r}, arch {p['arch']!r} at k={k}")
        for unit, accuracy in zip(curve.units, curve.best_values):
            if unit[0] == p["seed"]:
                points.append(dict(task=p["task"], arch=p["arch"], seed=unit[0], split=unit[1], k=k,
                                   width=p.get("width"), layer=curve.best.layer,
                                   pretext_accuracy=p["pretext_accuracy"], downstream_accuracy=accuracy))
    return points


def _rank_correlation(x, y) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return 0.0  # a constant side ranks nothing: no agreement either way
    return float(spearmanr(x, y).statistic)


def width_study_verdict(table, study, k: int) -> str:
    """Lesson 4: Kolesnikov et al.'s question: within each unit (seed, split), do the study's networks rank alike on both accuracies?

    Per unit, the rank correlation between the networks' pretext accuracies and their probe
    accuracies (`width_study_points`); the helper's interval over seeds decides whether it is
    above 0 (higher pretext accuracy goes with a better probe), below 0, or neither.
    """
    points = width_study_points(table, study, k)
    networks = sorted({p["arch"] for p in points}, key=lambda a: (a.split("-w")[0], len(a), a))
    by_unit = defaultdict(dict)
    for p in points:
        by_unit[(p["seed"], p["split"])][p["arch"]] = (p["pretext_accuracy"], p["downstream_accuracy"])
    units = sorted(u for u, nets in by_unit.items() if len(nets) == len(networks))
    task = points[0]["task"] if points else "?"
    what = (f"{task}, k={k}, {len(networks)} networks ({', '.join(networks)}): rank correlation of pretext accuracy "
            f"with the probe's accuracy at the chosen layer, within each (seed, split)")
    if len(networks) < 3 or len(units) < 2:
        return (f"Not decided [{what}]: {len(networks)} networks on {len(units)} common (seed, split) units; a rank "
                f"correlation needs 3 networks and an interval 2 units.")
    rhos = [_rank_correlation(*zip(*(by_unit[u][a] for a in networks))) for u in units]
    return compare(rhos, [0.0] * len(rhos), what, "higher pretext accuracy goes with a better probe",
                   "higher pretext accuracy goes with a worse probe", seeds=[u[0] for u in units],
                   splits=[u[1] for u in units], scale=1.0, unit="", measure="mean rank correlation").sentence


def plot_width_study(points, ax=None, title=None):
    """Lesson 4: one dot per network and seed (mean over its splits): pretext accuracy against the probe's accuracy."""
    import matplotlib.pyplot as plt

    if not points:
        raise ValueError("points must hold rows from width_study_points(table, study, k); got none")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4))
    else:
        fig = ax.figure
    per_seed = defaultdict(list)
    for p in points:
        per_seed[(p["arch"], p["seed"], p["pretext_accuracy"])].append(p["downstream_accuracy"])
    networks = sorted({p["arch"] for p in points}, key=lambda a: (a.split("-w")[0], len(a), a))
    for i, arch in enumerate(networks):
        xs = [100 * x for (a, _, x) in per_seed if a == arch]
        ys = [100 * statistics.fmean(v) for (a, _, _), v in per_seed.items() if a == arch]
        ax.scatter(xs, ys, s=36, color=f"C{i}", label=f"{arch} ({len(xs)} seed{'s' if len(xs) != 1 else ''})")
        ax.scatter([statistics.fmean(xs)], [statistics.fmean(ys)], s=140, marker="+", color=f"C{i}")
    layers = {p["layer"] for p in points}
    ax.set_xlabel("pretext accuracy (held out), %")
    ax.set_ylabel("probe accuracy at the chosen layer, %" if len(layers) > 1 else f"probe accuracy at {layers.pop()}, %")
    ax.set_title(title or f"{points[0]['task']}: one task, several networks (k={points[0]['k']})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def verdicts(table, pretext=(), plain: str = "cnn", skip: str = "resnet") -> dict[str, list[str]]:
    """Lesson 4: every verdict the lesson prints, recomputed from the table alone (the notebook prints these).

    'alignment': one per curve (task, arch, k); 'random': two per pretext curve with a random-weights
    curve beside it (`random_verdicts`); 'architecture': one per pretext task and k found in both
    archs; 'pretext': per group of `pretext` rows (default one group), chosen and last layer, at the
    smallest label budget (described, not decided); 'width_study': Kolesnikov et al.'s question
    (`width_study_verdict`) per label budget at which every network of the study was probed, when
    `pretext` holds a study (rows of group WIDTH_STUDY, whose extra archs get no other verdict).
    """
    study = width_study(pretext)
    study_only = {p["arch"] for p in pretext if p.get("group") == WIDTH_STUDY}
    every = best_layers(table)
    best = [c for c in every if c.arch not in study_only]
    out = {"alignment": [alignment_verdict(b) for b in best], "random": [], "architecture": [], "pretext": [],
           "width_study": []}
    for b in best:
        if b.task not in BASELINES and any(c.task == RANDOM and c.arch == b.arch and c.k == b.k for c in best):
            out["random"] += random_verdicts(best, b.task, b.arch, b.k)
    for k in sorted({c.k for c in best}):
        for task in sorted({c.task for c in best if c.task not in BASELINES}, key=_task_order):
            archs = {c.arch for c in best if c.task == task and c.k == k}
            if {plain, skip} <= archs:
                out["architecture"].append(architecture_verdict(best, task, k, plain, skip))
    groups = defaultdict(list)
    for p in pretext:
        if p.get("group") != WIDTH_STUDY:
            groups[p.get("group", "all networks")].append(p)
    if best:
        k = min(c.k for c in best)
        for label, rows in groups.items():
            for layer in ("best", "last"):
                points = pretext_points(table, rows, k, layer)
                if len(points) >= 3:
                    out["pretext"].append(pretext_verdict(points, f"{label}, {layer} layer"))
    if study:
        probed = defaultdict(set)
        for c in every:
            probed[c.k].add((c.task, c.arch))
        for k in sorted(probed):
            if all((p["task"], p["arch"]) in probed[k] for p in study):
                out["width_study"].append(width_study_verdict(table, study, k))
    return out


def selection_bias(table, **where) -> list[dict]:
    """Lesson 4: per curve and unit, how much choosing the layer on the test set would have flattered it.

    `bias` is the best test accuracy over the layers minus the test accuracy of the layer chosen on
    validation (never negative): what a report that picks its layer on the test set adds.
    """
    groups = defaultdict(dict)
    for row in select(table, **where):
        if row.get("val_accuracy") is not None and row["task"] != PIXELS:
            groups[(row["task"], row["arch"], row["k"], _unit(row))][row["layer"]] = row
    out = []
    for (task, arch, k, unit), rows in groups.items():
        if len(rows) < 2:
            continue
        by_test = max(rows.values(), key=lambda r: r["accuracy"])
        by_val = max(sorted(rows.values(), key=lambda r: r["depth"]), key=lambda r: r["val_accuracy"])
        out.append(dict(task=task, arch=arch, k=k, seed=unit[0], split=unit[1], test_chosen=by_test["layer"],
                        val_chosen=by_val["layer"], bias=by_test["accuracy"] - by_val["accuracy"]))
    return out


def plot_selection_bias(bias, ax=None, title=None):
    """Lesson 4: one dot per curve and unit: test-chosen minus validation-chosen accuracy, in points."""
    import matplotlib.pyplot as plt

    if not bias:
        raise ValueError("bias must hold rows from selection_bias(table); got none")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    groups = sorted({(b["arch"], b["k"], b["task"]) for b in bias}, key=lambda g: (g[0], g[1], _task_order(g[2])))
    for i, (arch, k, task) in enumerate(groups):
        values = [100 * b["bias"] for b in bias if (b["arch"], b["k"], b["task"]) == (arch, k, task)]
        ax.scatter([i] * len(values), values, s=18, alpha=0.7, color=f"C{i % 10}")
        ax.plot([i - 0.3, i + 0.3], [statistics.fmean(values)] * 2, color="black")
    ax.set_xticks(range(len(groups)), [f"{task}\n{arch}, k={k}" for arch, k, task in groups], fontsize=7,
                  rotation=60, ha="right")
    ax.set_ylabel("test-chosen minus\nvalidation-chosen, points")
    ax.set_title(title or "What choosing the layer on the test set would have added")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def of_arch(lines, arch: str) -> list[str]:
    """Lesson 4: the verdict lines (from `verdicts`) about one arch: those whose bracket names it second."""
    return [line for line in lines if line.split("]")[0].split(", ")[1:2] == [arch]]


def _task_order(task: str):
    order = list(registered_tasks()) + list(BASELINES)
    return (order.index(task) if task in order else len(order), task)


def published_table() -> list[dict]:
    """Lesson 4: the published per-layer figures (PUBLISHED) as table rows (seed 0, k=None), to run best_layers on."""
    return [dict(task=p["task"], arch=p["arch"], seed=0, layer=layer, depth=depth, accuracy=acc / 100, k=None)
            for p in PUBLISHED for depth, (layer, acc) in enumerate(zip(p["layers"], p["accuracy"]), start=1)]


def published_lines() -> list[str]:
    """Lesson 4: the published per-layer figures (context, not this run), each with its best and last layer."""
    best = {(c.task, c.arch): c for c in best_layers(published_table())}
    lines = []
    for p in PUBLISHED:
        b = best[(p["task"], p["arch"])]
        curve = ", ".join(f"{layer} {acc:.2f}" for layer, acc in zip(p["layers"], p["accuracy"]))
        lines.append(f"Published, not this run: {p['task']}, {p['arch']}, {p['setting']} ({p['source']}): {curve}. "
                     f"Best {b.best.layer}; the last layer, {b.last.layer}, is {b.drop:.2f} points lower.")
    return lines


# 4. plots ----------------------------------------------------------------------------------------

STYLES = {SUPERVISED: dict(color="black", linestyle="-"), RANDOM: dict(color="grey", linestyle=":"),
          PIXELS: dict(color="grey", linestyle="--")}


def plot_layers(table, arch: str = "cnn", k: int = 10, tasks=None, spread: str = "range", ax=None, title=None):
    """Lesson 4: accuracy per layer, one line per task (mean over seeds) with a band for the spread over seeds.

    spread="range" shades min to max over seeds, "std" mean +- one standard deviation; raw pixels
    are a horizontal dashed line.
    """
    import matplotlib.pyplot as plt

    if spread not in ("range", "std"):
        raise ValueError(f"spread must be 'range' or 'std', got {spread!r}")
    rows = summarise(table, arch=arch, k=k)
    if not rows:
        raise ValueError(f"the table holds no rows for arch={arch!r}, k={k!r}; it holds archs "
                         f"{sorted({r['arch'] for r in table})} and budgets {sorted({r['k'] for r in table})}")
    available = sorted({r["task"] for r in rows}, key=_task_order)
    tasks = available if tasks is None else [t for t in tasks if t in available]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    ticks = {}
    for task in tasks:
        curve = sorted((r for r in rows if r["task"] == task), key=lambda r: r["depth"])
        style = STYLES.get(task, {})
        n = max(r["n"] for r in curve)
        label = f"{task} ({n} seed{'s' if n > 1 else ''})"
        if task == PIXELS:
            ax.axhline(curve[0]["mean"], label=label, **style)
            continue
        x = [r["depth"] for r in curve]
        mean = [r["mean"] for r in curve]
        lo = [r["min"] if spread == "range" else r["mean"] - r["std"] for r in curve]
        hi = [r["max"] if spread == "range" else r["mean"] + r["std"] for r in curve]
        line, = ax.plot(x, mean, marker="o", label=label, **style)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
        ticks.update({r["depth"]: r["layer"] for r in curve})
    ax.set_xticks(sorted(ticks), [ticks[d] for d in sorted(ticks)])
    ax.set_xlabel("layer (deeper to the right)")
    ax.set_ylabel(f"linear-probe accuracy, k={k} labels/class")
    ax.set_title(title or f"{arch}: accuracy per layer ({'min-max' if spread == 'range' else '±1 std'} over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def layer_explorer(table):
    """Lesson 4: switch architecture, label budget and tasks on the per-layer curves (a widget; a PNG outside Jupyter)."""
    import ipywidgets as widgets

    check_table(table)
    archs = sorted({r["arch"] for r in table})
    ks = sorted({r["k"] for r in table})
    tasks = sorted({r["task"] for r in table}, key=_task_order)
    return explorer(lambda arch, k, tasks: plot_layers(table, arch, k, list(tasks)),
                    arch=widgets.Dropdown(options=archs, value=archs[0], description="arch"),
                    k=widgets.Dropdown(options=ks, value=ks[0], description="labels/class"),
                    tasks=widgets.SelectMultiple(options=tasks, value=tuple(tasks), description="tasks"))


def plot_pretext_vs_downstream(points, ax=None, title=None):
    """Lesson 4: one dot per network: pretext accuracy against downstream accuracy."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    else:
        fig = ax.figure
    for run in sorted({p["run"] for p in points}, key=_task_order):
        mine = [p for p in points if p["run"] == run]
        ax.scatter([100 * p["pretext_accuracy"] for p in mine], [100 * p["downstream_accuracy"] for p in mine],
                   label=run, s=40)
    ax.set_xlabel("pretext accuracy (held out), %")
    layers = {p["layer"] for p in points}
    layer = layers.pop() if len(layers) == 1 else "each network's best"
    ax.set_ylabel(f"downstream accuracy ({layer} layer), %")
    ax.set_title(title or "Does pretext accuracy predict downstream accuracy?")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# 5. the run's record ------------------------------------------------------------------------------

def record(table, pretext=(), **settings) -> None:
    """Lesson 4: show the run's table and pretext accuracies as JSON, so the printed verdicts can be checked later."""
    from IPython.display import display

    payload = dict(table=check_table(table), pretext=list(pretext), settings=settings)
    text = json.dumps(payload, default=str)
    display({JSON_MIME: json.loads(text), "text/plain": f"Recorded {len(table)} table rows and {len(pretext)} "
                                                         f"pretext accuracies (the run's data, as JSON)."}, raw=True)


def read_record(nb) -> dict:
    """Lesson 4: the record an executed lesson notebook displayed (see `record`)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if JSON_MIME in data:
                payload = data[JSON_MIME]
                return json.loads(payload) if isinstance(payload, str) else payload
    raise ValueError("nb holds no alignment record: execute the notebook first (its last cells call record())")
