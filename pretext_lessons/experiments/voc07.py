"""Lesson 5 (full preset): the seed's figure on its own data: PASCAL VOC 2007 classification, mAP per layer.

The downstream task `voc07` (Goyal et al. 2019; VISSL's `eval_resnet_8gpu_transfer_voc07_svm.yaml`):

- **Data.** PASCAL VOC 2007 read with torchvision's `VOCDetection` (year 2007): `trainval` (5,011
  images) fits the probe and chooses its costs, `test` (4,952 images) is scored once. Nothing is
  downloaded unless asked (`download=True`); the folder is `$PRETEXT_LESSONS_VOC`, else
  `<data folder>/voc`, holding `VOCdevkit/VOC2007` as torchvision writes it. Images are resized so
  their short side is 256 px and centre-cropped to 224 px (the ImageNet convention VISSL's
  benchmark uses; the course's reading of it).
- **Labels.** 20 classes; an image is positive for a class when it holds an object of that class
  not marked `difficult`. An image whose only objects of a class are `difficult` (`VOCData.ignore`;
  -1 in VISSL's targets) is, as in VISSL's `vissl/utils/svm_utils/svm_trainer.py` (seen): a
  negative when the classifier is fitted and cross-validated, and left out of the test AP. We do the same.
- **Features.** Each layer of the frozen trunk (stem, res2..res5, pool) average-pooled to about
  9,216 features (`probe.pool_features`: 9216, 9216, 8192, 9216, 8192 on a ResNet-18 at 224 px,
  VISSL's sizes), then **L2-normalised** per image, as VISSL's SVM step does.
- **Classifier.** One linear classifier per class. VISSL fits a LinearSVC (squared hinge, positives
  weighted 2:1); we fit the course's logistic probe (`multilabel.fit_multilabel`, which standardises
  the features it is given; positives not weighted), one class at a time: the same kind of linear classifier, and AP reads
  only the ranking of its scores. The cost C is chosen **per class** by 3-fold cross-validated AP on
  trainval (VISSL's rule) from `VOC_PRESETS[preset]["C_grid"]` (VISSL's grid spans about 1e-7 to 100
  for SVMs on unstandardised features; ours is narrower, for the standardised logistic loss).
- **Score.** mAP: the mean over classes of the non-interpolated average precision, the definition of
  scikit-learn's `average_precision_score` (`multilabel.average_precision`), which VISSL's
  cross-validation uses too. The VOC 2007 devkit reported an 11-point interpolated AP (the mean,
  over recall 0, 0.1, ..., 1, of the best precision at that recall or above); it is reported beside
  (`map_11pt`). VISSL's test AP (`svm_utils/evaluate.py`, seen) interpolates at every recall step
  (precision made non-increasing), so it is at least the non-interpolated AP on the same scores.

`seed_figure` pretrains the networks on photos (`photo_pretraining`) and probes every layer on
`voc07`, beside random weights whose BatchNorm statistics come from the same photos.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import math
import os
import sys
import time
from pathlib import Path

import torch

from ..core import multilabel as multilabel_module
from ..core import probe as probe_module
from ..core.data import data_dir, to_float
from ..core.models import evaluating, trunk_of
from ..core.multilabel import average_precision, fit_multilabel
from ..core.probe import layer_features
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.stats import compare
from ..core.training import fingerprint, grading, set_seed, try_device
from ..core.validate import check_int
from . import photo_pretraining
from .capstone import random_with_statistics
from .photo_pretraining import how_to_get_photos, photos_available

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
VOC_VARIABLE = "PRETEXT_LESSONS_VOC"  # the folder holding VOCdevkit/VOC2007
VOC_SPLITS = ("trainval", "test")
RANDOM = "random"  # the reference: random weights, BatchNorm statistics from the same photos
# Per preset: the probe's image side, pooled features per layer, cost grid, cross-validation folds, and how many
# photos set the random reference's BatchNorm statistics. `tiny` runs the same path on the test fixture.
VOC_PRESETS = {
    "full": dict(size=224, target=9216, C_grid=(1e-4, 1e-3, 1e-2, 1e-1, 1.0), folds=3, stats_images=2560),
    "tiny": dict(size=64, target=512, C_grid=(0.1, 1.0), folds=2, stats_images=16),
}
PROBE_TOL = 1e-4  # scikit-learn's stopping rule, as the course's other probes (alignment.PROBE_TOL)
ROW_KEYS = ("task", "arch", "seed", "layer", "depth", "features", "map", "map_11pt", "val_map", "num_classes")


# 1. the data ------------------------------------------------------------------------------------------

def default_voc_root() -> Path:
    """Where VOC 2007 is looked for: $PRETEXT_LESSONS_VOC, else the course's data folder's `voc`."""
    env = os.environ.get(VOC_VARIABLE)
    return Path(env).expanduser() if env else data_dir() / "voc"


def voc_folder(root=None) -> Path:
    """The VOC 2007 folder inside `root` (torchvision's layout: root/VOCdevkit/VOC2007)."""
    return Path(root if root is not None else default_voc_root()).expanduser() / "VOCdevkit" / "VOC2007"


def _missing(root, split: str) -> list[str]:
    folder = voc_folder(root)
    need = [folder / "JPEGImages", folder / "Annotations", folder / "ImageSets" / "Main" / f"{split}.txt"]
    return [str(p.relative_to(folder.parents[1])) for p in need if not p.exists()]


def voc_available(root=None) -> bool:
    """Whether both VOC 2007 splits (trainval and test) are in `root` (default `default_voc_root()`)."""
    return not any(_missing(root, split) for split in VOC_SPLITS)


def how_to_get_voc(root=None) -> str:
    """One line saying how to get PASCAL VOC 2007 into `root` (torchvision downloads it once, about 900 MB)."""
    root = Path(root if root is not None else default_voc_root()).expanduser()
    return (f"PASCAL VOC 2007 is not in {root}; get it once (about 900 MB) with: python -c \"from torchvision.datasets "
            f"import VOCDetection; [VOCDetection('{root}', year='2007', image_set=s, download=True) for s in "
            f"('trainval', 'test')]\", or set ${VOC_VARIABLE} to a folder that holds VOCdevkit/VOC2007")


@dataclasses.dataclass
class VOCData:
    """One VOC 2007 split: images X (uint8, N x 3 x size x size), labels (N, 20) 0/1 (a non-difficult object
    of the class is in the image), ignore (N, 20) bool (only difficult objects of the class: left out for it), ids."""

    X: torch.Tensor
    labels: torch.Tensor
    ignore: torch.Tensor
    ids: tuple
    split: str


def _labels_of(target) -> tuple[list[int], list[int]]:
    objects = target["annotation"].get("object", [])
    objects = objects if isinstance(objects, list) else [objects]
    present, difficult = set(), set()
    for obj in objects:
        name = obj["name"].strip()
        if name not in VOC_CLASSES:
            raise ValueError(f"annotation names an unknown class {name!r}; VOC 2007's classes are {VOC_CLASSES}")
        (difficult if str(obj.get("difficult", "0")).strip() == "1" else present).add(VOC_CLASSES.index(name))
    return sorted(present), sorted(difficult - present)


def load_voc07(root=None, split: str = "trainval", size: int = 224, download: bool = False,
               max_images: int | None = None, workers: int | None = None) -> VOCData:
    """A VOC 2007 split read with torchvision's `VOCDetection` (downloads only with `download=True`).

    Each image: short side resized to round(size * 256 / 224), centre crop of `size` px. `max_images`
    keeps the first ones (a quick look); `workers` processes decode the JPEGs (default: up to 8).
    """
    from torchvision import transforms
    from torchvision.datasets import VOCDetection

    if split not in VOC_SPLITS:
        raise ValueError(f"split must be one of {VOC_SPLITS}, got {split!r}")
    size = check_int("size", size, 8)
    root = Path(root if root is not None else default_voc_root()).expanduser()
    missing = _missing(root, split)
    if missing and not download:
        raise FileNotFoundError(f"root must be a folder holding PASCAL VOC 2007 ({split}); {root} lacks "
                                f"{', '.join(missing)}. {how_to_get_voc(root)} (or pass download=True)")
    transform = transforms.Compose([transforms.Resize(round(size * 256 / 224)), transforms.CenterCrop(size),
                                    transforms.PILToTensor()])
    ds = VOCDetection(str(root), year="2007", image_set=split, download=download, transform=transform)
    count = len(ds) if max_images is None else min(len(ds), check_int("max_images", max_images))
    if count == 0:
        raise ValueError(f"root: {voc_folder(root)}/ImageSets/Main/{split}.txt lists no image")
    subset = torch.utils.data.Subset(ds, range(count))
    workers = min(8, os.cpu_count() or 1) if workers is None else check_int("workers", workers, 0)
    loader = torch.utils.data.DataLoader(subset, batch_size=64, num_workers=workers if count > 256 else 0,
                                         collate_fn=lambda batch: batch)
    X = torch.empty(count, 3, size, size, dtype=torch.uint8)
    labels = torch.zeros(count, len(VOC_CLASSES), dtype=torch.int64)
    ignore = torch.zeros(count, len(VOC_CLASSES), dtype=torch.bool)
    i = 0
    for batch in loader:
        for image, target in batch:
            X[i] = image if image.shape[0] == 3 else image.expand(3, -1, -1)
            present, difficult_only = _labels_of(target)
            labels[i, present] = 1
            ignore[i, difficult_only] = True
            i += 1
    ids = tuple(Path(p).stem for p in ds.images[:count])
    return VOCData(X, labels, ignore, ids, split)


# 2. the score -----------------------------------------------------------------------------------------

def ap_11_point(scores, labels) -> float:
    """VOC 2007's 11-point interpolated AP: the mean over recall r in 0, 0.1, ..., 1 of the best precision
    at a recall of r or more (0 where none reaches r). Reported beside the non-interpolated AP."""
    scores, labels = torch.as_tensor(scores).double(), torch.as_tensor(labels).double()
    if scores.dim() != 1 or scores.shape != labels.shape:
        raise ValueError(f"scores and labels must both have shape (N,) and match, got {tuple(scores.shape)} and "
                         f"{tuple(labels.shape)}")
    positives = float(labels.sum())
    if positives == 0:
        raise ValueError("labels must hold at least one positive (1): average precision is undefined without one")
    order = torch.argsort(scores, descending=True, stable=True)
    tp = torch.cumsum(labels[order], 0)
    recall, precision = tp / positives, tp / torch.arange(1, len(tp) + 1, dtype=torch.float64)
    return sum(float(precision[recall >= t].max()) if bool((recall >= t).any()) else 0.0
               for t in torch.linspace(0, 1, 11).tolist()) / 11


def scorable(labels: torch.Tensor, ignore: torch.Tensor) -> list[int]:
    """The classes with at least one positive image among those not ignored (all 20 on VOC 2007's test)."""
    return [j for j in range(labels.shape[1]) if int(labels[~ignore[:, j], j].sum()) > 0]


def class_aps(scores, labels, ignore=None, classes=None, eleven_point: bool = False) -> dict[int, float]:
    """{class: AP} over the images not ignored for that class, for `classes` (default: every scorable one)."""
    scores, labels = torch.as_tensor(scores), torch.as_tensor(labels)
    ignore = torch.zeros_like(labels, dtype=torch.bool) if ignore is None else torch.as_tensor(ignore, dtype=torch.bool)
    if scores.dim() != 2 or scores.shape != labels.shape or ignore.shape != labels.shape:
        raise ValueError(f"scores, labels and ignore must be (N, L) and match, got {tuple(scores.shape)}, "
                         f"{tuple(labels.shape)} and {tuple(ignore.shape)}")
    ap = ap_11_point if eleven_point else average_precision
    return {j: ap(scores[~ignore[:, j], j], labels[~ignore[:, j], j])
            for j in (scorable(labels, ignore) if classes is None else classes)}


def voc_map(scores, labels, ignore=None, eleven_point: bool = False) -> float:
    """MAP: the mean of `class_aps` over the scorable classes (non-interpolated AP, or VOC07's 11-point)."""
    aps = class_aps(scores, labels, ignore, eleven_point=eleven_point)
    if not aps:
        raise ValueError("labels must hold a positive image for at least one class")
    return sum(aps.values()) / len(aps)


# 3. the probe -----------------------------------------------------------------------------------------

def l2_normalise(F_: torch.Tensor) -> torch.Tensor:
    """Each row of F_ (N, D) divided by its Euclidean norm (VISSL's SVM features); a zero row stays zero."""
    return F_ / F_.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _folds(n: int, folds: int, seed: int) -> torch.Tensor:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    fold = torch.empty(n, dtype=torch.int64)
    fold[order] = torch.arange(n) % folds
    return fold


def _both_kinds(y: torch.Tensor) -> bool:
    return 0 < int(y.sum()) < len(y)


def _fit_class(F_train, y, keep, fold, folds, C_grid, tol):
    """(C, cross-validated AP or nan, classifier fitted on every kept image at that C) of one class."""
    by_C = {}
    for C in C_grid:
        aps = []
        for f in range(folds):
            fit_on, held = keep & (fold != f), keep & (fold == f)
            if _both_kinds(y[fit_on]) and int(y[held].sum()) > 0:
                clf = fit_multilabel(F_train[fit_on], y[fit_on, None], C, tol=tol)
                with torch.no_grad():
                    aps.append(average_precision(clf(F_train[held])[:, 0], y[held]))
        by_C[C] = sum(aps) / len(aps) if aps else math.nan
    known = [C for C in C_grid if not math.isnan(by_C[C])]
    # ties and an untestable class: the smallest C (the strongest regularisation) among the best
    C = max(known, key=lambda c: (by_C[c], -c)) if known else min(C_grid)
    return C, by_C[C], fit_multilabel(F_train[keep], y[keep, None], C, tol=tol)


def _blas_threads(limit: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=limit)


def probe_voc07(F_train: torch.Tensor, train: VOCData, F_test: torch.Tensor, test: VOCData, C_grid=(0.1, 1.0),
                folds: int = 3, seed: int = 0, tol=PROBE_TOL, workers: int | None = None) -> dict:
    """One layer's VOC07 score: L2-normalised features, a logistic probe per class with C chosen per class by
    `folds`-fold cross-validated AP on trainval, the test split scored once. Difficult-only image-class pairs are
    negatives in fitting and cross-validation and left out of the test AP (VISSL's rule; the module's docstring).

    Returns dict(map, map_11pt, val_map, num_classes, C and aps (per scored class), scores (the test images'
    (N, 20) scores; 0 in the columns of classes not scored)). A class is
    scored when trainval holds positive and negative images of it and test a positive (all 20 on VOC 2007).
    `workers` threads fit classes side by side (default: the CPU's cores, at most 8).
    """
    check_int("folds", folds, 2)
    C_grid = tuple(float(C) for C in C_grid)
    if not C_grid or not all(C > 0 for C in C_grid):
        raise ValueError(f"C_grid must hold positive costs, got {C_grid!r}")
    if len(F_train) != len(train.labels) or len(F_test) != len(test.labels):
        raise ValueError(f"features and labels must match: F_train {len(F_train)} vs {len(train.labels)}, "
                         f"F_test {len(F_test)} vs {len(test.labels)}")
    F_train, F_test = l2_normalise(F_train.float()), l2_normalise(F_test.float())
    fold = _folds(len(F_train), folds, seed)
    test_ok = set(scorable(test.labels, test.ignore))
    classes = [j for j in range(len(VOC_CLASSES)) if j in test_ok and _both_kinds(train.labels[:, j])]
    every = torch.ones(len(F_train), dtype=torch.bool)  # difficult-only pairs stay in fitting, as negatives
    if not classes:
        raise ValueError("no class can be scored: each needs positive and negative trainval images and a positive "
                         "test image")
    workers = min(8, os.cpu_count() or 1) if workers is None else check_int("workers", workers)
    # Each fit runs on one thread and sets that itself, then puts back what it found; fits ending in any order on
    # several threads would put back each other's values. One thread is set here first and the caller's numbers
    # restored once, after the last fit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _blas_threads(1), concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            fitted = list(pool.map(lambda j: _fit_class(F_train, train.labels[:, j], every, fold, folds, C_grid,
                                                        tol), classes))
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        scores = torch.zeros(len(F_test), len(VOC_CLASSES))
        for j, (_, _, clf) in zip(classes, fitted):
            scores[:, j] = clf(F_test)[:, 0]
    aps = class_aps(scores, test.labels, test.ignore, classes)
    aps_11 = class_aps(scores, test.labels, test.ignore, classes, eleven_point=True)
    vals = [v for _, v, _ in fitted if not math.isnan(v)]
    return dict(map=sum(aps.values()) / len(aps), map_11pt=sum(aps_11.values()) / len(aps_11),
                val_map=sum(vals) / len(vals) if vals else math.nan, num_classes=len(classes),
                C={VOC_CLASSES[j]: C for j, (C, _, _) in zip(classes, fitted)},
                aps={VOC_CLASSES[j]: aps[j] for j in classes}, scores=scores)


def voc_features(net, X: torch.Tensor, layers=None, target: int = 9216, preprocess=None,
                 chunk: int = 500) -> dict[str, torch.Tensor]:
    """Each layer's pooled features of the frozen trunk on uint8 images X, `chunk` images at a time."""
    trunk = trunk_of(net)
    layers = list(layers or trunk.layer_names)
    parts = {name: [] for name in layers}
    with evaluating(net):
        for start in range(0, len(X), chunk):
            got = layer_features(trunk, to_float(X[start:start + chunk]), layers, target, preprocess)
            for name in layers:
                parts[name].append(got[name])
    return {name: torch.cat(chunks) for name, chunks in parts.items()}


def probe_layers(net, task, arch: str, seed: int, train: VOCData, test: VOCData, preset: str = "full",
                 layers=None) -> list[dict]:
    """Rows (ROW_KEYS) of one frozen network on voc07, one per layer; kept beside the checkpoints
    (`results.load_or_measure`) so a second run reads them. `task` names the rows; its `preprocess` shows images."""
    settings = _voc_preset(preset)
    trunk = trunk_of(net)
    layers = list(layers or trunk.layer_names)
    name = task if isinstance(task, str) else task.name
    preprocess = None if isinstance(task, str) else task.preprocess

    def measure():
        F_train = voc_features(net, train.X, layers, settings["target"], preprocess)
        F_test = voc_features(net, test.X, layers, settings["target"], preprocess)
        rows = []
        for depth, layer in enumerate(layers, 1):
            got = probe_voc07(F_train[layer], train, F_test[layer], test, settings["C_grid"], settings["folds"], seed)
            rows.append(dict(task=name, arch=arch, seed=seed, layer=layer, depth=depth,
                             features=int(F_train[layer].shape[1]), map=got["map"], map_11pt=got["map_11pt"],
                             val_map=got["val_map"], num_classes=got["num_classes"]))
        return rows

    key = dict(net=state_fingerprint(trunk), task=name, arch=arch, seed=seed, layers=layers, preset=settings,
               preprocess=None if isinstance(task, str) else task.config(),
               data=[fingerprint(t) for t in (train.X, train.labels, train.ignore, test.X, test.labels, test.ignore)],
               code=source_fingerprint(probe_module, multilabel_module, sys.modules[__name__]))
    return load_or_measure("voc07", key, measure)


def _voc_preset(preset: str) -> dict:
    if preset not in VOC_PRESETS:
        raise ValueError(f"preset must be one of {tuple(VOC_PRESETS)}, got {preset!r}")
    return VOC_PRESETS[preset]


# 4. the seed figure ------------------------------------------------------------------------------------

def seed_figure(preset: str = "full", voc_root=None, photos=None, tasks=("jigsaw",), seeds=(0,), arch: str | None = None,
                device=None, progress: bool = True, log=print) -> list[dict]:
    """Goyal et al.'s figure: each pretext network trained on photos (`photo_pretraining`), and random
    weights with BatchNorm statistics from the same photos, probed layer by layer on VOC 2007 (rows ROW_KEYS).

    `photos`: a uint8 tensor, 'stl10' or a folder (default `photo_pretraining.default_photos()`);
    `voc_root` default `default_voc_root()`. Checkpoints and rows are cached, so a second run reads them.
    """
    settings, photo = _voc_preset(preset), photo_pretraining.photo_preset(preset)
    arch = arch or photo["arch"]
    log = log or (lambda *_: None)
    start = time.perf_counter()
    train = load_voc07(voc_root, "trainval", settings["size"])
    test = load_voc07(voc_root, "test", settings["size"])
    log(f"voc07: {len(train.X)} trainval and {len(test.X)} test images at {settings['size']} px, "
        f"read in {time.perf_counter() - start:.0f} s")
    X = photos if isinstance(photos, torch.Tensor) else photo_pretraining.load_photos(
        photos, photo["num_images"] + photo["num_val"], photo["side"])
    rows = []
    for seed in seeds:
        for name in tasks:
            t0 = time.perf_counter()
            net, history = photo_pretraining.pretrain_on_photos(name, preset, X, seed, arch, device, progress)
            task = photo_pretraining.photo_task(name, preset)
            log(f"{name} {arch} seed {seed}: pretext accuracy {history['val_acc'][-1]:.1%} held out "
                f"({time.perf_counter() - t0:.0f} s)")
            rows += probe_layers(net, task, arch, seed, train, test, preset)
        reference = photo_pretraining.photo_task(tasks[0], preset)
        set_seed(seed)
        net = random_with_statistics(reference, arch, seed, "full", X=X[:settings["stats_images"]], width=64,
                                     batch_size=photo["train"]["batch_size"])
        net = net.to(try_device(device))  # built on the CPU: its features are computed where the others' are
        # shown images as the pretext networks' trunks are (the first task's preprocess), labelled RANDOM
        rows += [dict(r, task=RANDOM) for r in probe_layers(net, reference, arch, seed, train, test, preset)]
        log(f"probed seed {seed} in {time.perf_counter() - start:.0f} s so far")
    return rows


def figure_lines(rows, task: str = "jigsaw") -> list[str]:
    """The figure read from its rows: per network the layer chosen on trainval (cross-validated mAP), its
    test mAP and the last layer's; with two seeds or more, the last layer against the best earlier one as a verdict."""
    lines = []
    for name in sorted({r["task"] for r in rows}, key=lambda n: (n == RANDOM, n)):
        for arch in sorted({r["arch"] for r in rows if r["task"] == name}):
            mine = [r for r in rows if r["task"] == name and r["arch"] == arch]
            seeds = sorted({r["seed"] for r in mine})
            layers = [r["layer"] for r in sorted((r for r in mine if r["seed"] == seeds[0]), key=lambda r: r["depth"])]
            mean = {layer: sum(r["map"] for r in mine if r["layer"] == layer) / len(seeds) for layer in layers}
            val = {layer: sum(r["val_map"] for r in mine if r["layer"] == layer) / len(seeds) for layer in layers}
            chosen = max(layers, key=lambda layer: val[layer])
            earlier = max(layers[:-1], key=lambda layer: val[layer])
            lines.append(f"{name}, {arch} ({len(seeds)} seed{'s' * (len(seeds) > 1)}): layer chosen on trainval "
                         f"{chosen} (test mAP {100 * mean[chosen]:.1f}); last layer {layers[-1]} "
                         f"{100 * mean[layers[-1]]:.1f}; best on test {max(layers, key=mean.get)}")
            if name == RANDOM:
                continue
            if len(seeds) < 2:
                lines.append(f"Not decided [{name}, {arch}: last layer {layers[-1]} vs {earlier}, the best earlier "
                             f"layer on trainval]: one seed, no interval; add seeds (seeds=(0, 1, 2)).")
                continue
            at = {(r["seed"], r["layer"]): r["map"] for r in mine}
            lines.append(compare([at[(s, layers[-1])] for s in seeds], [at[(s, earlier)] for s in seeds],
                                 f"{name}, {arch}: last layer {layers[-1]} vs {earlier}, the best earlier layer on "
                                 f"trainval", "last layer higher", "last layer lower", seeds=seeds).sentence)
    return lines


def plot_seed_figure(rows, ax=None, title=None):
    """Test mAP per layer on VOC 2007, one line per network (a dot per seed), random weights dotted."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    ticks = {}
    for i, name in enumerate(sorted({r["task"] for r in rows}, key=lambda n: (n == RANDOM, n))):
        mine = [r for r in rows if r["task"] == name]
        depths = sorted({r["depth"] for r in mine})
        means = [100 * sum(r["map"] for r in mine if r["depth"] == d) / sum(r["depth"] == d for r in mine)
                 for d in depths]
        style = dict(color="grey", linestyle=":") if name == RANDOM else dict(color=f"C{i}", linestyle="-")
        ax.plot(depths, means, marker="o", label=name, **style)
        ax.scatter([r["depth"] for r in mine], [100 * r["map"] for r in mine], s=10, alpha=0.5, color=style["color"])
        ticks.update({r["depth"]: r["layer"] for r in mine})
    ax.set_xticks(sorted(ticks), [ticks[d] for d in sorted(ticks)])
    ax.set_xlabel("layer (deeper to the right)")
    ax.set_ylabel("VOC 2007 test mAP (%)")
    ax.set_title(title or "the seed figure on its own data: mAP per layer on PASCAL VOC 2007", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def format_table(rows) -> str:
    """The rows as a Markdown table: one line per layer, one column per network (test mAP, %)."""
    names = sorted({(r["task"], r["arch"]) for r in rows}, key=lambda n: (n[0] == RANDOM, n))
    layers = sorted({(r["depth"], r["layer"]) for r in rows})
    out = ["| layer | features | " + " | ".join(f"{t} {a}" for t, a in names) + " |",
           "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
    for depth, layer in layers:
        cells = []
        for t, a in names:
            got = [r["map"] for r in rows if r["task"] == t and r["arch"] == a and r["layer"] == layer]
            cells.append(f"{100 * sum(got) / len(got):.1f}" if got else "")
        features = next(r["features"] for r in rows if r["layer"] == layer)
        out.append(f"| {layer} | {features} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# 5. whether to run it ----------------------------------------------------------------------------------

def lesson_plan(preset: str = "quick", voc_root=None, photos=None) -> tuple[bool, str]:
    """(run, one line): whether the lesson runs the seed figure on VOC 2007, and what to print.

    It runs in the `full` preset when VOC 2007 and the unlabelled photos are both on disk; otherwise
    the line says what is missing and how to get it. Nothing is read beyond a few file checks.
    """
    if grading():
        return False, "voc07: not run while grading."
    if not voc_available(voc_root):
        return False, f"voc07 (the seed figure on PASCAL VOC 2007, full preset) not run: {how_to_get_voc(voc_root)}."
    if preset != "full":
        return False, (f"voc07: PASCAL VOC 2007 found in {voc_folder(voc_root).parents[1]}; the seed figure trains a "
                       f"ResNet-18 on photos at the papers' sizes: set PRESET = \"full\" (a GPU) to run it.")
    if not photos_available(photos):
        return False, f"voc07 not run: {how_to_get_photos(photos)}."
    return True, f"voc07: running the seed figure (VOC 2007 in {voc_folder(voc_root).parents[1]}, photos: " \
                 f"{photos or photo_pretraining.default_photos()})."


def preflight(preset: str = "quick", voc_root=None, photos=None) -> list[str]:
    """What `python -m pretext_lessons course --preset full` prints before running the lessons: the
    data the seed figure on VOC 2007 still needs and how to get them (nothing for other presets)."""
    if preset != "full":
        return []
    lines = []
    if not voc_available(voc_root):
        lines.append(how_to_get_voc(voc_root))
    if not photos_available(photos):
        lines.append(how_to_get_photos(photos))
    if lines:
        lines.insert(0, "Lesson 5's seed figure on PASCAL VOC 2007 (full preset) will be skipped; the other "
                        "lessons run. It needs:")
    return lines


# 6. an offline fixture in VOC's format ------------------------------------------------------------------

FIXTURE_CLASSES = ("aeroplane", "bird", "car", "cat", "dog")
_FIXTURE_COLOURS = ((230, 40, 40), (40, 200, 40), (40, 60, 230), (230, 200, 30), (200, 40, 220))


def make_voc_fixture(root, num_trainval: int = 40, num_test: int = 24, size: int = 80, classes=FIXTURE_CLASSES,
                     seed: int = 0) -> Path:
    """A tiny PASCAL VOC 2007 folder made offline (tests, `benchmarks/bench_voc07.py --tiny`): JPEGs of one
    to three coloured boxes on noise, one colour per class, XML annotations (about one object in eight marked
    difficult) and ImageSets/Main/trainval.txt and test.txt, under root/VOCdevkit/VOC2007. Returns root."""
    from xml.sax.saxutils import escape

    import numpy as np
    from PIL import Image

    check_int("num_trainval", num_trainval, 4)
    check_int("num_test", num_test, 2)
    check_int("size", size, 16)
    unknown = [c for c in classes if c not in VOC_CLASSES]
    if unknown or not 1 <= len(classes) <= len(_FIXTURE_COLOURS):
        raise ValueError(f"classes must be 1 to {len(_FIXTURE_COLOURS)} of VOC's {VOC_CLASSES}, got {classes!r}")
    folder = voc_folder(root)
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = {"trainval": [], "test": []}
    for n in range(num_trainval + num_test):
        split = "trainval" if n < num_trainval else "test"
        image_id = f"{n + 1:06d}"
        pixels = rng.integers(60, 140, (size, size, 3)).astype(np.uint8)
        objects = []
        for k in range(int(rng.integers(1, 4))):
            c = int(rng.integers(len(classes))) if k else n % len(classes)  # every class in both splits
            side = int(rng.integers(size // 4, size // 2))
            x0, y0 = (int(v) for v in rng.integers(0, size - side, 2))
            pixels[y0:y0 + side, x0:x0 + side] = _FIXTURE_COLOURS[c]
            difficult = int(k > 0 and rng.random() < 0.25)
            objects.append(f"<object><name>{escape(classes[c])}</name><pose>Unspecified</pose><truncated>0</truncated>"
                           f"<difficult>{difficult}</difficult><bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin>"
                           f"<xmax>{x0 + side}</xmax><ymax>{y0 + side}</ymax></bndbox></object>")
        Image.fromarray(pixels).save(folder / "JPEGImages" / f"{image_id}.jpg", quality=90)
        (folder / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename><size><width>{size}</width>"
            f"<height>{size}</height><depth>3</depth></size><segmented>0</segmented>{''.join(objects)}</annotation>")
        ids[split].append(image_id)
    for split, names in ids.items():
        (folder / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return Path(root)
