"""Lesson 5: alignment as a relation between a pretext task and a downstream task: a suite of downstream tasks.

Every network is probed, frozen, layer by layer, on four downstream tasks, each standing for a kind
of job the papers transfer to. They are built from the course's dataset (`use_dataset`); on the
default, Fashion-MNIST (28 px images, canvases of 56 px):

============  =========  ======================================================  =============================
name          metric     target                                                  stands for
============  =========  ======================================================  =============================
classes       accuracy   the dataset's classes (lesson 4's task)                  image classification
coarse        accuracy   groups of classes (`coarse_groups`): on Fashion-MNIST    a coarser label space
                         tops, footwear, trousers/dresses/bags
scenes        mAP        which classes are present on a canvas (twice the image   multi-label scenes
                         side) holding one to three images at random places and   (PASCAL VOC07 classification)
                         scales
where         accuracy   which of 4 x 4 cells of a canvas holds the centre        detection-like jobs (where,
                         of its one image (10 to 20 px on Fashion-MNIST)          not what)
============  =========  ======================================================  =============================

The geometry follows the image side (`suite_geometry`): a canvas is twice the side, images are
pasted at half to the full side, and `where`'s images are 10/28 to 20/28 of it, so Fashion-MNIST's
numbers are the ones above. Images on a black background (gray datasets: Fashion-MNIST) are combined
keeping the brighter pixel, so overlapping objects both show; colour images fill their square, so a
later one is pasted on top.

Held-out images: every test image (and every image on a test canvas) comes from the dataset's
test split, which no pretraining set draws from (pretraining and the labelled images come from the
training split); `tests/test_downstream.py` checks it image by image. Labelled images and test
images are drawn as in lesson 4 (`alignment.downstream_split`): labelled split j of seed s from
seed s + SPLIT_STRIDE * j, the test set from the seed alone, so a (seed, split) pair is the unit of
every comparison.

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
ranking of the scores. Rows of the results table: `ROW_KEYS`.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
import statistics
import sys
from collections import defaultdict

import torch
from torch import nn
from torch.nn import functional as F

from ..core.data import resolve_dataset, to_float
from ..core.models import evaluating, trunk_of
from ..core.multilabel import fit_multilabel, mean_average_precision
from ..core.profile import phase
from ..core.probe import (C_GRID, CV_FOLDS, CV_ROUNDS, DEFAULT_POOLED_SIZE, _one_thread, choose, cross_validate,
                          fit_linear, layer_features)
from ..core import multilabel as multilabel_module
from ..core import probe as probe_module
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.training import fingerprint, set_seed
from ..core.validate import check_int
from ..notebook.plotting import imshow
from ..notebook.widgets import explorer
from . import alignment as alignment_module
from .alignment import check_rows as alignment_check_rows
from .alignment import (PROBE_TOL, RANDOM, SPLIT_STRIDE, SUPERVISED, _decide, _task_name_and_preprocess, _task_order,
                        best_layers, downstream_split, preprocess_key, random_net)


@dataclasses.dataclass(frozen=True)
class DownstreamTask:
    """Lesson 5: one downstream task of the suite: its name, metric, image size, target and what it stands for."""

    name: str
    metric: str
    image_size: int
    target: str
    stands_for: str


TASKS = {t.name: t for t in (
    DownstreamTask("classes", "accuracy", 28, "the ten Fashion-MNIST classes", "image classification"),
    DownstreamTask("coarse", "accuracy", 28, "three groups: tops, footwear, trousers/dresses/bags",
                   "a coarser label space"),
    DownstreamTask("scenes", "mAP", 56, "the classes present on a canvas of one to three images",
                   "multi-label scene classification (PASCAL VOC07)"),
    DownstreamTask("where", "accuracy", 56, "which of 4 x 4 cells holds the centre of the one image on a canvas",
                   "detection-like jobs: where, not what"),
)}  # on the default dataset, Fashion-MNIST; `suite_tasks(dataset)` describes the suite on any dataset
COARSE_GROUPS = (("tops", (0, 2, 4, 6)), ("footwear", (5, 7, 9)), ("trousers, dresses, bags", (1, 3, 8)))
# The named datasets' coarse groups (the class indices of each); an image folder's are made by `coarse_groups`.
NAMED_COARSE_GROUPS = {
    "fashion_mnist": COARSE_GROUPS,
    "cifar10": (("vehicles", (0, 1, 8, 9)), ("animals", (2, 3, 4, 5, 6, 7))),
    "stl10": (("vehicles", (0, 2, 8, 9)), ("animals", (1, 3, 4, 5, 6, 7))),
}
# The suite's geometry at Fashion-MNIST's 28 px; `suite_geometry` scales it with the image side.
CANVAS_SIZE = 56
OBJECT_SIDES = (14, 28)  # an image is resized to a side drawn in this range (pixels, inclusive)
MAX_OBJECTS = 3
GRID = 4  # `where`: the canvas is cut into GRID x GRID cells of 14 px
WHERE_SIDES = (10, 20)  # `where`: an image's side in pixels
# How many images each task gets (the lesson's sizes; the benchmark and the tests use these or smaller ones):
# k labelled images per class (classes, coarse), labelled canvases, labelled canvases per cell (where), test images.
SIZES = dict(k=10, num_test=500, scenes_train=200, scenes_test=300, where_per_cell=8, where_test=320)
ROW_KEYS = ("task", "arch", "seed", "split", "downstream", "metric", "layer", "depth", "score", "val_score", "C")
# Fine-tuning recipe (fixed, not searched: nothing is chosen on the test set, and the labelled images are too
# few to search it): SGD with Nesterov momentum, every weight trained, on the k labelled images per class.
FINE_TUNE = dict(num_epochs=20, batch_size=50, lr=0.01, weight_decay=5e-4)
SHORT_FIT_ITER = 5  # the "short" probe fit of the protocol comparison: L-BFGS steps (the long fit runs to convergence)


# 1. the data ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class DownstreamData:
    """Lesson 5: one downstream task's labelled and test images and targets, and where the test images came from.

    `y_*` are class indices (N,), or 0/1 presence (N, number of classes) for `scenes`. `test_sources`
    are the indices, in the dataset's test split, of every image shown in the test set (all images of a canvas).
    `label_names` name the targets' classes or groups (empty for `where`, whose targets are cells).
    """

    task: DownstreamTask
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    test_sources: torch.Tensor
    label_names: tuple = ()


def suite_geometry(dataset=None) -> dict:
    """Lesson 5: the canvases' sizes for the dataset's image side: canvas, object sides, `where`'s sides, how to overlay.

    At 28 px (Fashion-MNIST) these are CANVAS_SIZE, OBJECT_SIDES and WHERE_SIDES; other sides scale them.
    Gray images (objects on black) overlay keeping the brighter pixel; colour images are pasted on top.
    """
    source = resolve_dataset(dataset)
    side = source.size
    where = tuple(max(1, round(v * side / 28)) for v in WHERE_SIDES)
    return dict(canvas=2 * side, sides=(side // 2, side), where_sides=where,
                overlay="paste" if source.colour else "brighter")


def coarse_groups(dataset=None) -> tuple:
    """Lesson 5: the dataset's coarse groups ((name, class indices), ...): named ones, or a folder's classes by brightness.

    Fashion-MNIST: tops, footwear, trousers/dresses/bags; CIFAR-10 and STL-10: vehicles, animals. An
    image folder has no known groups: its classes are sorted by the mean brightness of their training
    images and cut into three groups, "darker", "middle" and "brighter" (two with fewer than six classes).
    """
    source = resolve_dataset(dataset)
    if source.name in NAMED_COARSE_GROUPS:
        return NAMED_COARSE_GROUPS[source.name]
    return _brightness_groups(source)


@functools.lru_cache(maxsize=4)
def _brightness_groups(source) -> tuple:
    X, y = source.load("train")  # the training split only: nothing about the test images is used
    brightness = torch.stack([to_float(X[y == c]).mean() for c in range(source.num_classes)])
    order = torch.argsort(brightness, stable=True).tolist()
    num_groups = 3 if source.num_classes >= 6 else 2
    groups = [order[g * len(order) // num_groups:(g + 1) * len(order) // num_groups] for g in range(num_groups)]
    names = ("darker", "middle", "brighter") if num_groups == 3 else ("darker", "brighter")
    return tuple((name, tuple(sorted(members))) for name, members in zip(names, groups))


def coarse_labels(y: torch.Tensor, dataset=None) -> torch.Tensor:
    """Lesson 5: the coarse group (index into `coarse_groups(dataset)`) of each class label."""
    source = resolve_dataset(dataset)
    table = torch.empty(source.num_classes, dtype=torch.int64)
    for g, (_, members) in enumerate(coarse_groups(source)):
        table[list(members)] = g
    return table[torch.as_tensor(y)]


def suite_tasks(dataset=None) -> dict:
    """Lesson 5: {name: DownstreamTask} of the suite on the dataset: the same tasks as TASKS, with its sizes and classes."""
    source = resolve_dataset(dataset)
    if source.name == "fashion_mnist":
        return dict(TASKS)
    geometry = suite_geometry(source)
    groups = coarse_groups(source)
    how = "" if source.name in NAMED_COARSE_GROUPS else " of classes by the mean brightness of their training images"
    members = "; ".join(f"{name} ({', '.join(source.classes[c] for c in group)})" for name, group in groups)
    targets = dict(
        classes=f"the {source.num_classes} classes of {source.title}",
        coarse=f"{len(groups)} groups{how}: {members}",
        scenes="the classes present on a canvas of one to three images",
        where=f"which of {GRID} x {GRID} cells holds the centre of the one image on a canvas",
    )
    return {name: dataclasses.replace(t, target=targets[name],
                                      image_size=source.size if t.image_size == 28 else geometry["canvas"])
            for name, t in TASKS.items()}


def _resize(x: torch.Tensor, side: int) -> torch.Tensor:
    if side == x.shape[-1]:
        return x
    return F.interpolate(x[None], size=(side, side), mode="bilinear", antialias=True, align_corners=False)[0]


def make_canvases(X: torch.Tensor, num_canvases: int, generator: torch.Generator, size: int = CANVAS_SIZE,
                  max_objects: int = MAX_OBJECTS, sides=OBJECT_SIDES, grid: int | None = None, cells=None,
                  overlay: str = "brighter"):
    """Lesson 5: canvases of images from X (uint8 (N, C, H, W)): (canvases, image indices, cell or None).

    Each canvas gets 1..max_objects images, each resized to a side drawn from `sides` and put at a
    random place on black; where they overlap, `overlay` "brighter" keeps the brighter pixel (objects
    on black) and "paste" puts the later image on top (images that fill their square). With `grid`,
    each canvas gets exactly one image whose centre lies in one of grid x grid cells (`cells`, or
    drawn at random), anywhere in that cell, so an image may reach into the next cells; the third
    value holds the cell of each centre. Returns uint8 canvases (num_canvases, C, size, size), the
    indices into X (num_canvases, max_objects; -1 where a canvas has fewer images) and the cells
    (num_canvases,) or None.
    """
    check_int("num_canvases", num_canvases)
    check_int("size", size)
    if overlay not in ("brighter", "paste"):
        raise ValueError(f"overlay must be 'brighter' or 'paste', got {overlay!r}")
    lo, hi = sides
    if not 1 <= lo <= hi <= size:
        raise ValueError(f"sides must be (low, high) with 1 <= low <= high <= size={size}, got {sides!r}")
    canvases = torch.zeros(num_canvases, X.shape[1], size, size)
    count = (torch.ones(num_canvases, dtype=torch.int64) if grid else
             torch.randint(1, max_objects + 1, (num_canvases,), generator=generator))
    picks = torch.randint(len(X), (num_canvases, max_objects), generator=generator)
    picks[torch.arange(max_objects)[None, :] >= count[:, None]] = -1
    if grid:
        check_int("grid", grid, highest=size)
        if cells is None:
            cells = torch.randint(grid * grid, (num_canvases,), generator=generator)
        elif not isinstance(cells, torch.Tensor) or cells.shape != (num_canvases,):
            raise ValueError(f"cells must be a tensor of {num_canvases} cell indices, got {cells!r}")
        cell_size = size / grid
        if hi > 2 * cell_size:
            raise ValueError(f"sides must be at most twice the cell ({2 * cell_size:g} px) with grid={grid}, got {sides!r}")
    for i in range(num_canvases):
        for j in range(int(count[i])):
            side = int(torch.randint(lo, hi + 1, (1,), generator=generator))
            if grid:
                # the centre, uniform in its cell; an image pushed back inside the canvas keeps its centre
                # in its border cell, since its half side is at most a cell (checked above)
                u = torch.rand(2, generator=generator)
                r, c = int(cells[i] // grid), int(cells[i] % grid)
                top = min(max(round((r + float(u[0])) * cell_size - side / 2), 0), size - side)
                left = min(max(round((c + float(u[1])) * cell_size - side / 2), 0), size - side)
            else:
                top, left = (int(v) for v in torch.randint(size - side + 1, (2,), generator=generator))
            patch = _resize(to_float(X[int(picks[i, j])]), side)
            region = canvases[i, :, top:top + side, left:left + side]
            if overlay == "paste":
                region.copy_(patch)
            else:
                torch.maximum(region, patch, out=region)
    return (canvases * 255).round_().to(torch.uint8), picks, cells


def _presence(y_source: torch.Tensor, picks: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    Y = torch.zeros(len(picks), num_classes or resolve_dataset().num_classes, dtype=torch.int64)
    for j in range(picks.shape[1]):
        there = picks[:, j] >= 0
        Y[torch.nonzero(there).flatten(), y_source[picks[there, j]]] = 1
    return Y


def downstream_data(name: str, seed: int = 0, split: int = 0, sizes: dict | None = None) -> DownstreamData:
    """Lesson 5: the labelled and test images of one downstream task for (seed, split), from the course's dataset."""
    if name not in TASKS:
        raise ValueError(f"name must be one of {tuple(TASKS)}, got {name!r}")
    sizes = _sizes(sizes)
    check_int("split", split, lowest=0)
    source = resolve_dataset()
    task = suite_tasks(source)[name]
    if name in ("classes", "coarse"):
        X_train, y_train, X_test, y_test = downstream_split((sizes["k"],), seed, sizes["num_test"], split)
        sources = _test_indices(X_test, source)
        if name == "coarse":
            y_train, y_test = coarse_labels(y_train, source), coarse_labels(y_test, source)
            return DownstreamData(task, X_train, y_train, X_test, y_test, sources,
                                  tuple(group for group, _ in coarse_groups(source)))
        return DownstreamData(task, X_train, y_train, X_test, y_test, sources, source.classes)
    X_pool, y_pool = source.load("train")
    X_held, y_held = source.load("test")
    geometry = suite_geometry(source)
    shape = dict(size=geometry["canvas"], overlay=geometry["overlay"])
    grid = GRID if name == "where" else None
    # the test canvases depend on the seed alone, the labelled ones on (seed, split): as downstream_split does
    test_g = torch.Generator().manual_seed(seed * 7919 + (1 if grid else 2))
    train_g = torch.Generator().manual_seed((seed + SPLIT_STRIDE * split) * 7919 + (3 if grid else 4))
    if grid:
        sides = geometry["where_sides"]
        num_train = sizes["where_per_cell"] * GRID * GRID
        X_test, picks, y_test = make_canvases(X_held, sizes["where_test"], test_g, sides=sides, grid=GRID, **shape)
        # the same number of labelled canvases per cell, so each half of the 2-fold split holds every cell
        cells = torch.arange(GRID * GRID).repeat_interleave(sizes["where_per_cell"])
        X_train, _, y_train = make_canvases(X_pool, num_train, train_g, sides=sides, grid=GRID,
                                            cells=cells[torch.randperm(num_train, generator=train_g)], **shape)
    else:
        sides = geometry["sides"]
        X_test, picks, _ = make_canvases(X_held, sizes["scenes_test"], test_g, sides=sides, **shape)
        y_test = _presence(y_held, picks, source.num_classes)
        X_train, train_picks, _ = make_canvases(X_pool, sizes["scenes_train"], train_g, sides=sides, **shape)
        y_train = _presence(y_pool, train_picks, source.num_classes)
    return DownstreamData(task, X_train, y_train, X_test, y_test, torch.unique(picks[picks >= 0]),
                          () if grid else source.classes)


_TEST_INDEX: dict = {}


def _test_indices(X_test: torch.Tensor, source) -> torch.Tensor:
    # fewshot_split returns images, not indices: find each one in the test split by its bytes
    if source.key not in _TEST_INDEX:
        X_held, _ = source.load("test")
        index = {}
        for i, x in enumerate(X_held):
            index.setdefault(x.numpy().tobytes(), i)
        _TEST_INDEX[source.key] = index
    index = _TEST_INDEX[source.key]
    return torch.tensor([index.get(x.numpy().tobytes(), -1) for x in X_test], dtype=torch.int64)


def _sizes(sizes) -> dict:
    out = dict(SIZES)
    if sizes:
        unknown = set(sizes) - set(SIZES)
        if unknown:
            raise ValueError(f"sizes may only set {sorted(SIZES)}, got {sorted(unknown)}")
        out.update(sizes)
    for key, value in out.items():
        check_int(f"sizes[{key!r}]", value, lowest=2 if key in ("k", "where_per_cell") else 1)
    return out


def suite_data(seed: int = 0, split: int = 0, tasks=tuple(TASKS), sizes: dict | None = None) -> dict:
    """Lesson 5: {task name: DownstreamData} for one (seed, split); `classes` and `coarse` share their images."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"tasks must be among {tuple(TASKS)}, got {unknown}")
    out = {name: downstream_data(name, seed, split, sizes) for name in tasks}
    if "classes" in out and "coarse" in out:  # the same image tensors: their features are computed once
        out["coarse"].X_train, out["coarse"].X_test = out["classes"].X_train, out["classes"].X_test
    return out


# 2. probing -----------------------------------------------------------------------------------------

def probe_single(F_train: dict, y_train, F_test: dict, y_test, C_grid=C_GRID, seed: int = 0, tol=PROBE_TOL,
                 max_iter: int = 200) -> dict:
    """Lesson 5: {layer: dict(score, val_score, C)}: C per layer by cross-validation on the labelled images, tested once."""
    scores = cross_validate(F_train, y_train, C_grid, CV_FOLDS, seed, tol, CV_ROUNDS)
    out = {}
    for name in F_train:
        _, C = choose({name: scores[name]})
        clf = fit_linear(F_train[name], y_train, C, max_iter=max_iter, tol=tol)
        out[name] = dict(score=clf.score(F_test[name], y_test), val_score=scores[name][C], C=C)
    return out


def probe_multilabel(F_train: dict, Y_train, F_test: dict, Y_test, C_grid=C_GRID, seed: int = 0, tol=PROBE_TOL) -> dict:
    """Lesson 5: {layer: dict(score=test mAP, val_score, C)}: one logistic regression per class, C by held-out mAP."""
    g = torch.Generator().manual_seed(seed)
    half = torch.zeros(len(Y_train), dtype=torch.bool)
    half[torch.randperm(len(Y_train), generator=g)[: len(Y_train) // 2]] = True
    out = {}
    for name, F_ in F_train.items():
        by_C = {}
        for C in C_grid:
            total = 0.0
            for fit_on in (half, ~half)[:CV_ROUNDS]:
                # a class absent from (or everywhere in) the fitting half cannot be fitted there: left out of this round
                counts = Y_train[fit_on].sum(0)
                both = (counts > 0) & (counts < int(fit_on.sum()))
                clf = fit_multilabel(F_[fit_on], Y_train[fit_on][:, both], C, tol=tol)
                with torch.no_grad():
                    total += mean_average_precision(clf(F_[~fit_on]), Y_train[~fit_on][:, both], skip_empty=True)
            by_C[float(C)] = total / CV_ROUNDS
        _, C = choose({name: by_C})
        clf = fit_multilabel(F_, Y_train, C, tol=tol)
        out[name] = dict(score=clf.score(F_test[name], Y_test), val_score=by_C[C], C=C)
    return out


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
    """Lesson 5: every layer of one frozen network on every downstream task of `data` (default: the whole suite).

    `task` is a PretextTask (its name labels the rows, its `preprocess` shows images to the trunk)
    or a name. Features of an image set are computed once (`feature_cache` keeps them between
    calls: the splits of a seed share their test images). Returns rows with the keys ROW_KEYS.
    """
    name, preprocess = _task_name_and_preprocess(task, preprocess=None)
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
               code=source_fingerprint(probe_module, multilabel_module, alignment_module, sys.modules[__name__]))
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


def probe_networks(networks, splits=(0,), tasks=tuple(TASKS), sizes: dict | None = None, C_grid=C_GRID,
                   target: int = DEFAULT_POOLED_SIZE, log=None) -> list[dict]:
    """Lesson 5: the results table of `probe_suite` for every (task, arch, seed, net) of `networks`, on every split."""
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


# 3. the table: curves, the grid, verdicts --------------------------------------------------------------

def check_rows(table) -> list[dict]:
    """Lesson 5: check that `table` is a list of rows with the keys ROW_KEYS, and say what is wrong."""
    return alignment_check_rows(table, ROW_KEYS)


def select(table, **where) -> list[dict]:
    """Lesson 5: the rows whose columns equal the given values, e.g. select(table, downstream="scenes", arch="cnn")."""
    unknown = set(where) - set(ROW_KEYS)
    if unknown:
        raise ValueError(f"columns must be among {ROW_KEYS}, got {sorted(unknown)}")
    return [r for r in check_rows(table) if all(r[key] == value for key, value in where.items())]


def curves(table, downstream: str, **where):
    """Lesson 5: alignment's `Curve`s (layers chosen on the labelled images) of one downstream task, per (task, arch)."""
    rows = select(table, downstream=downstream, **where)
    if not rows:
        raise ValueError(f"the table holds no rows for downstream={downstream!r} and {where}; it holds "
                         f"{sorted({r['downstream'] for r in table})}")
    # alignment's table speaks of 'accuracy': here it is the task's score (accuracy or mAP); k is not varied
    return best_layers([dict(task=r["task"], arch=r["arch"], seed=r["seed"], split=r["split"], layer=r["layer"],
                             depth=r["depth"], accuracy=r["score"], val_accuracy=r["val_score"], k=None)
                        for r in rows])


def _curve(table, task, downstream, arch):
    found = [c for c in curves(table, downstream, arch=arch) if c.task == task]
    if not found:
        raise ValueError(f"the table holds no curve for task {task!r}, downstream {downstream!r}, arch {arch!r}")
    return found[0]


def _values_at(table, task, downstream, arch, layer) -> dict:
    return {(r["seed"], r["split"]): r["score"] for r in select(table, task=task, downstream=downstream, arch=arch,
                                                                  layer=layer)}


def grid(table, arch: str) -> list[dict]:
    """Lesson 5: per (pretext or reference network, downstream task): the layer chosen on the labelled images and its score.

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
    """Lesson 5: does the best layer move with the downstream task? Per pretext task and downstream task d:
    on d, the layer chosen for d against the layer chosen for `reference`, paired on (seed, split) units."""
    lines = []
    for task in _pretext_tasks(table, arch):
        ref_layer = _curve(table, task, reference, arch).best.layer
        for d in TASKS:
            if d == reference or not select(table, task=task, downstream=d, arch=arch):
                continue
            own = _curve(table, task, d, arch).best.layer
            what = f"{task}, {arch}, on {d}: its own chosen layer {own} vs {ref_layer}, the layer chosen for {reference}"
            if own == ref_layer:
                lines.append(f"Described, not decided [{what}]: the same layer is chosen for both; the best layer does not move.")
                continue
            lines.append(_decide(_values_at(table, task, d, arch, own), _values_at(table, task, d, arch, ref_layer),
                                what, "the layer moved, and the move pays", "the layer moved, and the move costs"))
    return lines


def task_moves(table, arch: str, reference: str = "classes") -> list[str]:
    """Lesson 5: does the best pretext task move with the downstream task? On each downstream task d, the pretext task
    chosen for d (highest mean validation score at its chosen layer) against the one chosen for `reference`."""
    def chosen(d):
        cs = [c for c in curves(table, d, arch=arch) if c.task in _pretext_tasks(table, arch)]
        vals = {c.task: statistics.fmean(r["val_score"] for r in select(table, task=c.task, downstream=d, arch=arch,
                                                                           layer=c.best.layer)) for c in cs}
        return max(sorted(vals, key=_task_order), key=vals.get)

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
        a, b = _curve(table, own, d, arch), _curve(table, ref, d, arch)
        lines.append(_decide(dict(zip(a.units, a.best_values)), dict(zip(b.units, b.best_values)), what,
                            "the best task moved, and the move pays", "the best task moved, and the move costs"))
    return lines


def figure_verdicts(table, task: str = "jigsaw", downstream: str = "scenes", archs=("resnet", "cnn")) -> list[str]:
    """Lesson 5: the seed figure's verdicts: per arch, the last layer against the best earlier one, and pretext
    against random weights at the layers each chose."""
    lines = []
    for arch in archs:
        c = _curve(table, task, downstream, arch)
        lines.append(_decide(dict(zip(c.units, c.last_values)), dict(zip(c.units, c.earlier_values)),
                            f"{task}, {arch}, {downstream} ({TASKS[downstream].metric}): last layer {c.last.layer} vs "
                            f"{c.earlier.layer}, the best earlier layer on the labelled images",
                            "last layer higher", "last layer lower"))
        if select(table, task=RANDOM, downstream=downstream, arch=arch):
            r = _curve(table, RANDOM, downstream, arch)
            lines.append(_decide(dict(zip(c.units, c.best_values)), dict(zip(r.units, r.best_values)),
                                f"{task} vs random weights, {arch}, {downstream}: each at its chosen layer "
                                f"({c.best.layer} vs {r.best.layer})", "pretext features better",
                                "pretext features worse"))
    return lines


def _pretext_tasks(table, arch):
    return sorted({r["task"] for r in table if r["arch"] == arch and r["task"] not in (RANDOM, SUPERVISED)},
                  key=_task_order)


# 4. plots ------------------------------------------------------------------------------------------------

REFERENCE_STYLES = {SUPERVISED: dict(color="black", linestyle="-"), RANDOM: dict(color="grey", linestyle=":")}


def layer_intervals(table, task: str, downstream: str, arch: str) -> list[dict]:
    """Lesson 5: per layer of one curve: per-seed scores (splits averaged), their mean and a 95% t interval over seeds."""
    from scipy import stats

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
        mean = statistics.fmean(values)
        if len(values) > 1 and statistics.stdev(values) > 0:
            low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=statistics.stdev(values) / math.sqrt(len(values)))
        else:
            low = high = mean
        out.append(dict(layer=layer, depth=depth, seeds=seeds, values=values, mean=mean, low=float(low), high=float(high)))
    return out


def plot_curves(table, task: str, downstream: str, arch: str, references=(SUPERVISED, RANDOM), ax=None, title=None):
    """Lesson 5: the score per layer of one pretext network on one downstream task: a dot per seed, the mean and its
    95% interval over seeds, with the reference networks' curves beside it (layers on x, score on y)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
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
    """Lesson 5: the grid network x downstream task: each cell the chosen layer and its score, coloured by the score
    minus random weights' (at the layer they chose), in points."""
    import matplotlib.pyplot as plt

    cells = grid(table, arch)
    tasks = sorted({c["task"] for c in cells if c["task"] != RANDOM}, key=_task_order)
    downs = [d for d in TASKS if any(c["downstream"] == d for c in cells)]
    at = {(c["task"], c["downstream"]): c for c in cells}
    gain = torch.full((len(tasks), len(downs)), float("nan"))
    for i, t in enumerate(tasks):
        for j, d in enumerate(downs):
            if (t, d) in at and (RANDOM, d) in at:
                gain[i, j] = 100 * (at[(t, d)]["score"] - at[(RANDOM, d)]["score"])
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.8 * len(downs) + 2, 0.7 * len(tasks) + 1.5))
    else:
        fig = ax.figure
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
    """Lesson 5: choose a pretext task, a downstream task and an arch: the layer curves with their intervals."""
    import ipywidgets as widgets

    check_rows(table)
    archs = sorted({r["arch"] for r in table})
    tasks = sorted({r["task"] for r in table if r["task"] not in (RANDOM, SUPERVISED)}, key=_task_order)
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


def plot_canvases(data: DownstreamData, num: int = 8, ax=None):
    """Lesson 5: the first test images of a downstream task with their targets as titles."""
    import matplotlib.pyplot as plt

    num = min(num, len(data.X_test))
    fig, axes = plt.subplots(1, num, figsize=(1.3 * num, 1.7))
    for a, x, y in zip(axes, data.X_test[:num], data.y_test[:num]):
        imshow(a, x)
        a.axis("off")
        if data.task.name == "scenes":
            label = "\n".join(data.label_names[i] for i in torch.nonzero(y).flatten().tolist())
        elif data.task.name == "where":
            label = f"cell {int(y)}"
        else:
            label = data.label_names[int(y)]
        a.set_title(label, fontsize=6)
    fig.suptitle(f"{data.task.name}: {data.task.target}", fontsize=8)
    fig.tight_layout()
    return fig


# 5. fine-tuning beside the probe ------------------------------------------------------------------------

@phase("training")
def fine_tune(net: nn.Module, task, X_train, y_train, seed: int = 0, num_classes: int | None = None,
              **recipe) -> nn.Module:
    """Lesson 5: a copy of `net`'s trunk with a new linear head, every weight trained on the labelled images.

    The recipe is `FINE_TUNE` (overrides by keyword); the images are shown as the pretext task showed
    them (`task.preprocess`). Returns the classifier (trunk + head) in eval mode; `net` is left alone.
    """
    _, preprocess = _task_name_and_preprocess(task, preprocess=None)
    settings = dict(FINE_TUNE)
    unknown = set(recipe) - set(settings)
    if unknown:
        raise ValueError(f"unknown fine-tuning settings {sorted(unknown)}; known: {sorted(settings)}")
    settings.update(recipe)
    set_seed(seed)
    trunk = copy.deepcopy(trunk_of(net)).cpu()
    num_classes = num_classes or int(y_train.max()) + 1
    model = nn.Sequential(trunk, nn.Linear(trunk.out_features, num_classes))
    X = to_float(X_train)
    X = preprocess(X) if preprocess is not None else X
    opt = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9, nesterov=True,
                          weight_decay=settings["weight_decay"])
    g = torch.Generator().manual_seed(seed)
    model.train()
    with _one_thread():  # batches of 50 small images: a second thread mostly waits, and on a busy CPU costs far more
        _fine_tune_epochs(model, opt, X, y_train, g, settings)
    return model.eval()


def _fine_tune_epochs(model, opt, X, y_train, g, settings):
    for _ in range(settings["num_epochs"]):
        order = torch.randperm(len(X), generator=g)
        for start in range(0, len(X), settings["batch_size"]):
            idx = order[start:start + settings["batch_size"]]
            loss = F.cross_entropy(model(X[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


@torch.no_grad()
def fine_tune_accuracy(model: nn.Module, task, X_test, y_test) -> float:
    """Lesson 5: the test accuracy of a fine-tuned classifier (images shown as its pretext task showed them)."""
    _, preprocess = _task_name_and_preprocess(task, preprocess=None)
    X = to_float(X_test)
    X = preprocess(X) if preprocess is not None else X
    with evaluating(model):
        return float(torch.cat([model(X[i:i + 500]).argmax(1) for i in range(0, len(X), 500)]).eq(y_test).float().mean())


def fine_tune_networks(networks, splits=(0,), downstream: str = "classes", sizes: dict | None = None,
                       **recipe) -> list[dict]:
    """Lesson 5: fine-tune every network of `networks` on one downstream task's labelled images of each split.

    Rows: task, arch, seed, split, downstream, score (test accuracy). Random weights fine-tuned are
    the same architecture trained from scratch on the same labels with the same recipe.
    """
    if TASKS.get(downstream, None) is None or TASKS[downstream].metric != "accuracy":
        raise ValueError(f"downstream must be a single-label task {[n for n, t in TASKS.items() if t.metric == 'accuracy']}, "
                         f"got {downstream!r}")
    rows = []
    for task, arch, seed, net in networks:
        name, _ = _task_name_and_preprocess(task, preprocess=None)
        for j in splits:
            d = downstream_data(downstream, seed, j, sizes)
            model = fine_tune(net, task, d.X_train, d.y_train, seed=seed, num_classes=int(d.y_test.max()) + 1, **recipe)
            rows.append(dict(task=name, arch=arch, seed=seed, split=j, downstream=downstream,
                             score=fine_tune_accuracy(model, task, d.X_test, d.y_test)))
    return rows


def fine_tune_verdicts(tuned, table, arch: str = "cnn", downstream: str = "classes") -> list[str]:
    """Lesson 5: per pretext task: fine-tuned from pretext weights vs from random weights, and fine-tuned vs its
    linear probe at the layer chosen on the labelled images; paired on (seed, split) units."""
    by = defaultdict(dict)
    for r in tuned:
        if r["arch"] == arch and r["downstream"] == downstream:
            by[r["task"]][(r["seed"], r["split"])] = r["score"]
    if RANDOM not in by:
        raise ValueError(f"tuned must hold fine-tuned random weights ({RANDOM!r}) of arch {arch!r} on {downstream!r}")
    lines = []
    for task in sorted(set(by) - {RANDOM}, key=_task_order):
        lines.append(_decide(by[task], by[RANDOM], f"fine-tuned from {task} vs from random weights, {arch}, {downstream}",
                            "the pretext start is better", "the pretext start is worse"))
        c = _curve(table, task, downstream, arch)
        lines.append(_decide(by[task], dict(zip(c.units, c.best_values)),
                            f"{task}, {arch}, {downstream}: fine-tuned vs linear probe at {c.best.layer}",
                            "fine-tuning higher", "fine-tuning lower"))
    return lines


# 6. Goyal et al. vs Kolesnikov et al.: the protocol --------------------------------------------------------

PROTOCOLS = {
    # (last layer probed, its pooling, probe fit): Goyal et al. pool res5 to a spatial map and fit a short SVM;
    # Kolesnikov et al. probe the globally pooled pre-logits with a long-trained linear layer
    "Goyal: res5 as a spatial map, short fit": ("res5", SHORT_FIT_ITER),
    "res5 as a spatial map, long fit": ("res5", 1000),
    "global pool, short fit": ("pool", SHORT_FIT_ITER),
    "Kolesnikov: global pool, long fit": ("pool", 1000),
}
EARLIER = "res4"


def protocol_rows(networks, splits=(0,), downstream: str = "classes", sizes: dict | None = None,
                  C_grid=C_GRID) -> list[dict]:
    """Lesson 5: for each ResNet of `networks` and each protocol in PROTOCOLS: the last layer's score minus res4's.

    The short and the long fit share C (chosen per layer by cross-validation with the long fit);
    res4 is fitted the same way as the last layer in each protocol. Rows: task, arch, seed, split,
    protocol, last, earlier, drop (last minus earlier).
    """
    if TASKS[downstream].metric != "accuracy":
        raise ValueError(f"downstream must be a single-label task, got {downstream!r}")
    rows = []
    for task, arch, seed, net in networks:
        trunk = trunk_of(net)
        if not {EARLIER, "res5", "pool"} <= set(getattr(trunk, "layer_names", ())):
            raise ValueError(f"networks must be ResNets (layers res4, res5, pool); {arch} has "
                             f"{getattr(trunk, 'layer_names', None)}")
        name, preprocess = _task_name_and_preprocess(task, preprocess=None)
        for j in splits:
            d = downstream_data(downstream, seed, j, sizes)
            layers = [EARLIER, "res5", "pool"]
            with evaluating(net):
                F_train = layer_features(trunk, to_float(d.X_train), layers, preprocess=preprocess)
                F_test = layer_features(trunk, to_float(d.X_test), layers, preprocess=preprocess)
            scores = cross_validate(F_train, d.y_train, C_grid, CV_FOLDS, seed, PROBE_TOL, CV_ROUNDS)
            for protocol, (last, max_iter) in PROTOCOLS.items():
                got = {}
                for layer in (EARLIER, last):
                    _, C = choose({layer: scores[layer]})
                    got[layer] = fit_linear(F_train[layer], d.y_train, C, max_iter=max_iter,
                                            tol=PROBE_TOL).score(F_test[layer], d.y_test)
                rows.append(dict(task=name, arch=arch, seed=seed, split=j, protocol=protocol, last=got[last],
                                 earlier=got[EARLIER], drop=got[last] - got[EARLIER]))
    return rows


def protocol_verdicts(rows, task: str = "jigsaw") -> list[str]:
    """Lesson 5: the last layer against res4 under each protocol, then the part of the disagreement each change of
    protocol explains: the drop under Kolesnikov's protocol minus the drop under Goyal's, and each step alone."""
    drops = defaultdict(dict)
    for r in rows:
        if r["task"] == task:
            drops[r["protocol"]][(r["seed"], r["split"])] = r["drop"]
    if set(drops) != set(PROTOCOLS):
        raise ValueError(f"rows must hold every protocol of PROTOCOLS for task {task!r}; found {sorted(drops)}")
    zero = {u: 0.0 for u in next(iter(drops.values()))}
    goyal, kolesnikov = "Goyal: res5 as a spatial map, short fit", "Kolesnikov: global pool, long fit"
    lines = [_decide(drops[p], zero, f"{task}, resnet, {p}: last layer minus {EARLIER}", "last layer higher",
                    "last layer lower") for p in PROTOCOLS]
    lines.append(_decide(drops[kolesnikov], drops[goyal], f"{task}, resnet: the last layer's drop, Kolesnikov's protocol "
                         f"minus Goyal's", "the last layer fares better under Kolesnikov's protocol",
                         "the last layer fares worse under Kolesnikov's protocol"))
    lines.append(_decide(drops["global pool, short fit"], drops[goyal], f"{task}, resnet: the last layer's drop, global "
                         f"pool minus spatial map, short fit", "global pooling favours the last layer",
                         "global pooling disfavours the last layer"))
    lines.append(_decide(drops[kolesnikov], drops["global pool, short fit"], f"{task}, resnet: the last layer's drop, "
                         f"long minus short fit, global pool", "a long fit favours the last layer",
                         "a long fit disfavours the last layer"))
    return lines


# 7. lesson 6: your task on the suite ------------------------------------------------------------------------

CAPSTONE_SIZES = dict(k=10, num_test=300, scenes_train=120, scenes_test=200, where_per_cell=4, where_test=160)


def capstone_suite(networks, arch: str = "cnn", seed: int = 0, preset: str = "quick", sizes: dict | None = None,
                   num_splits: int = 2) -> list[dict]:
    """Lesson 6: the suite's table for the capstone's networks ((task, net) or (task, net, history)) and random weights.

    One pretraining seed: the labelled splits (`num_splits`) give the intervals, which then cover
    split noise only. `sizes` defaults to CAPSTONE_SIZES (smaller test sets than lesson 5's, for time).
    """
    entries = []
    for i, item in enumerate(networks):
        if not (isinstance(item, tuple) and len(item) in (2, 3)):
            raise TypeError(f"networks[{i}] must be (task, net) or (task, net, history), got {type(item).__name__}")
        entries.append((item[0], arch, seed, item[1]))
    entries.append((RANDOM, arch, seed, random_net(arch, seed, preset)))
    check_int("num_splits", num_splits)
    return probe_networks(entries, splits=range(num_splits), sizes=sizes or CAPSTONE_SIZES)
