"""The one probe protocol every lesson uses: frozen features, layer by layer, on labelled splits of seeds.

Protocol (after Goyal et al. 2019, at laptop scale): freeze a network; take each named layer of
its trunk on the downstream images; average-pool every layer to about the same number of features
(`probe.DEFAULT_POOLED_SIZE`, 2048, for VISSL's ~9k at 224 px); standardise; fit a multinomial
linear classifier (logistic regression) per layer on k labelled images per class, its cost C chosen
from `probe.C_GRID` on a validation half of those labelled images; report the test accuracy once.
The layer to transfer from is chosen the same way, on validation accuracy, never on the test set.
VISSL's VOC07 benchmark differs: one linear SVM per class, its cost chosen by cross-validation,
scored by mAP (`probe_multilabel`, lesson 5's `scenes`).

Units: labelled split j of seed s is `fewshot_split(seed=s + SPLIT_STRIDE * j)` with the seed's own
test images (`downstream_split`); a (seed, split) pair is the unit every comparison is paired on
(`table.decide`). Rows: `table.ROW_KEYS` + `table.PROBE_KEYS`, raw pixels (784 features on
Fashion-MNIST) as the zeroth "layer".

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
"""
from __future__ import annotations

import sys
from collections import defaultdict

import torch

from ..core.data import fewshot_split, resolve_dataset, to_float
from ..core.models import activations, evaluating, make_backbone, trunk_of
from ..core.multilabel import fit_multilabel, mean_average_precision
from ..core.probe import (C_GRID, CV_FOLDS, CV_ROUNDS, DEFAULT_POOLED_SIZE, choose, cross_validate, fit_linear, layer_features,
                          pool_features)
from ..core import probe as probe_module
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.task import PretextTask
from ..core.training import fingerprint
from ..core.validate import check_int
from .table import PIXELS

SPLIT_STRIDE = 1000  # labelled split j of seed s is fewshot_split(seed=s + SPLIT_STRIDE * j): split 0 is the seed's own
PROBE_TOL = 1e-4  # scikit-learn's stopping rule for the linear probe (see benchmarks/bench_probe.py)


def network_name_and_preprocess(task, preprocess=None):
    """(the rows' task name, how images are shown to the trunk) of a PretextTask or a name; `preprocess` wins."""
    if isinstance(task, PretextTask):
        return task.name, preprocess if preprocess is not None else task.preprocess
    if isinstance(task, str) and task:
        return task, preprocess
    raise TypeError(f"task must be a PretextTask or a task name, got {type(task).__name__}")


def budget_indices(y: torch.Tensor, k: int) -> torch.Tensor:
    """The positions of the first k images of each class in y (nested: a smaller k takes a prefix)."""
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


def check_ks(ks) -> tuple[int, ...]:
    """The label budgets `ks` (an int or several) as a sorted tuple of distinct positive integers."""
    if isinstance(ks, int):
        ks = (ks,)
    ks = tuple(ks)
    if not ks or not all(isinstance(k, int) and k >= 1 for k in ks):
        raise ValueError(f"ks must be positive integers (labels per class), got {ks!r}")
    return tuple(sorted(set(ks)))


def downstream_split(ks=(10,), seed: int = 0, num_test: int | None = 2000, split: int = 0):
    """Labelled split number `split` of a seed, for the largest k in `ks` (every smaller k is its first k per class).

    Every split of a seed has its own labelled images and the seed's test images (those of split 0):
    a comparison over splits measures what the choice of labelled images changes.
    """
    # fewshot_split draws one permutation per class whatever k is, so with the same seed the
    # k = 10 split is the first 10 images per class of the k = 100 split, with the same test set.
    check_int("split", split, lowest=0)
    k = max(check_ks(ks))
    X_train, y_train, X_test, y_test = fewshot_split(k=k, seed=seed, num_test=num_test)
    if split:
        X_train, y_train, _, _ = fewshot_split(k=k, seed=seed + SPLIT_STRIDE * split, num_test=1)
    return X_train, y_train, X_test, y_test


def probe_features(F_train: dict, y_train: torch.Tensor, F_test: dict, y_test: torch.Tensor, ks=(10,),
                   C_grid=C_GRID, tol: float = PROBE_TOL, seed: int = 0) -> dict[int, dict[str, dict]]:
    """Per label budget and layer, C chosen on a validation half of the labelled images, then tested once.

    Returns {k: {layer: dict(accuracy=test accuracy at the chosen C, val_accuracy=its cross-validated
    accuracy, C=the chosen C)}}. The test images and labels are used only for `accuracy`, after every choice.
    """
    ks = check_ks(ks)
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
    """Probe every layer of one frozen network at each label budget; the rows of the results table.

    `task` is a PretextTask (its name labels the rows, its `preprocess` shows whole images to the
    trunk) or a name. The split defaults to `downstream_split(ks, seed, split=split_index)`; features
    are computed once (a `feature_cache` dict, shared between calls, keeps the test images' features
    for the next split); C is chosen per layer on the labelled images (`probe_features`).
    """
    name, preprocess = network_name_and_preprocess(task, preprocess)
    ks = check_ks(ks)
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
    """What names a preprocess in a results key: None, a task's method with the task's config, else False."""
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
    """The raw-pixel baseline (one 'layer' at depth 0), one row per arch so every arch's table has it."""
    if isinstance(archs, str):
        archs = (archs,)
    ks = check_ks(ks)
    X_train, y_train, X_test, y_test = (split if split is not None
                                        else downstream_split(ks, seed, num_test, split_index))
    accs = probe_features({PIXELS: pool_features(to_float(X_train))}, y_train,
                          {PIXELS: pool_features(to_float(X_test))}, y_test, ks, C_grid, seed=seed)
    return [dict(task=PIXELS, arch=arch, seed=seed, layer=PIXELS, depth=0, accuracy=accs[k][PIXELS]["accuracy"], k=k,
                 split=split_index, val_accuracy=accs[k][PIXELS]["val_accuracy"], C=accs[k][PIXELS]["C"])
            for arch in archs for k in ks]


def probe_networks(networks, ks=(10,), num_test: int | None = 2000, C_grid=C_GRID, splits=(0,),
                   target: int = DEFAULT_POOLED_SIZE) -> list[dict]:
    """The results table: every layer of every network in `networks` (from `train_networks`) and raw pixels.

    Each seed gets the labelled splits numbered in `splits` (`downstream_split(..., split=j)`), shared
    by all the networks of that seed: a (seed, split) pair is the unit every comparison is paired on.
    """
    ks = check_ks(ks)
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
    """The control for width: `arch`'s networks probed with every layer pooled to about the fc width.

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
    """Per layer of a backbone, the activation shape (C, H, W) or (D,) and the features kept after pooling.

    `image_size` and `in_channels` default to those of the course's dataset (`use_dataset`).
    """
    image_size = resolve_dataset().size if image_size is None else image_size
    in_channels = resolve_dataset().channels if in_channels is None else in_channels
    check_int("image_size", image_size)
    net = make_backbone(arch, in_channels, width)
    acts = activations(net, torch.zeros(1, in_channels, image_size, image_size), net.layer_names)
    return {name: (tuple(a.shape[1:]), pool_features(a, target).shape[1]) for name, a in acts.items()}


def probe_single(F_train: dict, y_train, F_test: dict, y_test, C_grid=C_GRID, seed: int = 0, tol=PROBE_TOL,
                 max_iter: int = 200) -> dict:
    """{layer: dict(score, val_score, C)}: C per layer by cross-validation on the labelled images, tested once."""
    scores = cross_validate(F_train, y_train, C_grid, CV_FOLDS, seed, tol, CV_ROUNDS)
    out = {}
    for name in F_train:
        _, C = choose({name: scores[name]})
        clf = fit_linear(F_train[name], y_train, C, max_iter=max_iter, tol=tol)
        out[name] = dict(score=clf.score(F_test[name], y_test), val_score=scores[name][C], C=C)
    return out


def probe_multilabel(F_train: dict, Y_train, F_test: dict, Y_test, C_grid=C_GRID, seed: int = 0, tol=PROBE_TOL) -> dict:
    """{layer: dict(score=test mAP, val_score, C)}: one logistic regression per class, C by held-out mAP."""
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
