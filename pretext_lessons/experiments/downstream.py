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
images are drawn as in lesson 4 (`probing.downstream_split`): labelled split j of seed s from
seed s + SPLIT_STRIDE * j, the test set from the seed alone, so a (seed, split) pair is the unit of
every comparison.

The suite's probes, curves and verdicts are in `suite`; the protocol comparison in `transfer`, fine-tuning in `finetune`.
"""
from __future__ import annotations

import dataclasses
import functools

import torch
from torch.nn import functional as F

from ..core.data import resolve_dataset, to_float
from ..core.validate import check_int
from ..notebook.plotting import imshow
from .probing import SPLIT_STRIDE, downstream_split


@dataclasses.dataclass(frozen=True)
class DownstreamTask:
    """One downstream task of the suite: its name, metric, image size, target and what it stands for."""

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


@dataclasses.dataclass
class DownstreamData:
    """One downstream task's labelled and test images and targets, and where the test images came from.

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
    """The canvases' sizes for the dataset's image side: canvas, object sides, `where`'s sides, how to overlay.

    At 28 px (Fashion-MNIST) these are CANVAS_SIZE, OBJECT_SIDES and WHERE_SIDES; other sides scale them.
    Gray images (objects on black) overlay keeping the brighter pixel; colour images are pasted on top.
    """
    source = resolve_dataset(dataset)
    side = source.size
    where = tuple(max(1, round(v * side / 28)) for v in WHERE_SIDES)
    return dict(canvas=2 * side, sides=(side // 2, side), where_sides=where,
                overlay="paste" if source.colour else "brighter")


def coarse_groups(dataset=None) -> tuple:
    """The dataset's coarse groups ((name, class indices), ...): named ones, or a folder's classes by brightness.

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
    """The coarse group (index into `coarse_groups(dataset)`) of each class label."""
    source = resolve_dataset(dataset)
    table = torch.empty(source.num_classes, dtype=torch.int64)
    for g, (_, members) in enumerate(coarse_groups(source)):
        table[list(members)] = g
    return table[torch.as_tensor(y)]


def suite_tasks(dataset=None) -> dict:
    """{name: DownstreamTask} of the suite on the dataset: the same tasks as TASKS, with its sizes and classes."""
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
    """Canvases of images from X (uint8 (N, C, H, W)): (canvases, image indices, cell or None).

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
    """The labelled and test images of one downstream task for (seed, split), from the course's dataset."""
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
    """{task name: DownstreamData} for one (seed, split); `classes` and `coarse` share their images."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"tasks must be among {tuple(TASKS)}, got {unknown}")
    out = {name: downstream_data(name, seed, split, sizes) for name in tasks}
    if "classes" in out and "coarse" in out:  # the same image tensors: their features are computed once
        out["coarse"].X_train, out["coarse"].X_test = out["classes"].X_train, out["classes"].X_test
    return out


def plot_canvases(data: DownstreamData, num: int = 8, ax=None):
    """The first test images of a downstream task with their targets as titles."""
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
