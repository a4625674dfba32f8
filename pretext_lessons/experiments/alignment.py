"""Lesson 4: the layer-alignment experiment: which layer of a pretext-trained network transfers best, and why.

Protocol (Goyal et al. 2019, as in VISSL, at laptop scale): freeze a network; take each named
layer of its trunk on the downstream images; average-pool every layer to about the same number
of features (`probe.DEFAULT_POOLED_SIZE`, 2048, for VISSL's ~9k at 224 px); standardise; fit a
multinomial linear classifier per layer on k labelled images per class; report test accuracy.

Features per image after pooling, width 16, 28 px Fashion-MNIST (`pooled_sizes` computes them):

=========  ==============  ========  ===========  ==============  ========
PlainCNN   activation      features  SmallResNet  activation      features
=========  ==============  ========  ===========  ==============  ========
conv1      16 x 14 x 14    1936      stem         16 x 28 x 28    1936
conv2      32 x 7 x 7      1568      res2         16 x 28 x 28    1936
conv3      64 x 7 x 7      2304      res3         32 x 14 x 14    2048
conv4      64 x 7 x 7      2304      res4         64 x 7 x 7      2304
fc1        128             128       res5         128 x 4 x 4     2048
fc2        128             128       pool         128             128
=========  ==============  ========  ===========  ==============  ========

Raw pixels (784 features) are the zeroth "layer". The results are a tidy table: a list of dicts
with the keys `ROW_KEYS`, one row per (task, arch, seed, layer, k); everything else (best layers,
verdicts, plots) is computed from that table.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from collections import defaultdict

import torch

from scipy.stats import spearmanr

from ..core.data import fewshot_split, load_fashion_mnist, to_float
from ..core.models import activations, evaluating, make_backbone, trunk_of
from ..core.probe import DEFAULT_POOLED_SIZE, fit_linear, layer_features, pool_features
from ..core.task import PretextTask, SupervisedTask
from ..core.training import resolve_preset, set_seed, train_or_load
from ..core.validate import check_int
from ..notebook.widgets import explorer
from ..tasks.registry import course_tasks, registered_tasks

ROW_KEYS = ("task", "arch", "seed", "layer", "depth", "accuracy", "k")
PIXELS = "pixels"  # the raw-pixel baseline: task "pixels", a single layer "pixels" at depth 0
RANDOM = "random"  # the same architecture with random weights
SUPERVISED = "supervised"  # the same architecture trained with the labels: the "aligned" reference
BASELINES = (SUPERVISED, RANDOM, PIXELS)
PROBE_TOL = 1e-4  # scikit-learn's stopping rule for the linear probe (see benchmarks/bench_probe.py)
PREDICTS_RHO = 0.8  # a rank correlation at least this high counts as "pretext accuracy predicts downstream"
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
    return make_backbone(arch, 1, resolve_preset(preset, arch=arch)["width"]).eval()


def labelled_subset(num_images: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Lesson 4: the images of `data.pretrain_split(num_images, seed)` with their true labels."""
    X, y = load_fashion_mnist("train")
    if not isinstance(num_images, int) or not 0 < num_images <= len(X):
        raise ValueError(f"num_images must be an integer between 1 and {len(X)}, got {num_images!r}")
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:num_images]  # as pretrain_split
    return X[idx], y[idx]


def supervised_net(arch: str = "cnn", seed: int = 0, preset: str = "quick", num_images: int | None = None,
                   progress: bool = True, **overrides):
    """Lesson 4: the baseline 'supervised' (trained with the true labels), cached by train_or_load; (net, history)."""
    task = SupervisedTask(num_classes=10)
    num_images = num_images or resolve_preset(preset, task)["num_images"]
    X, y = labelled_subset(num_images, seed)
    return train_or_load(task, arch=arch, preset=preset, seed=seed, X=X, y=y, progress=progress, **overrides)


def train_networks(tasks=None, seeds=None, preset: str = "quick", device=None, log=print) -> tuple[list, list]:
    """Lesson 4: every network the study compares, per arch and seed: each task, the supervised reference, random weights.

    `tasks` defaults to the registered tasks (`course_tasks()`), `seeds` to {"cnn": (0,)}, a dict
    arch -> seeds. Returns `networks`, a list of (task or baseline name, arch, seed, net), and
    `pretext`, one row (task, arch, seed, pretext_accuracy, group) per pretext network. Each
    network is loaded from the checkpoint cache when a lesson already trained it.
    """
    tasks = course_tasks() if tasks is None else dict(tasks)
    seeds = {"cnn": (0,)} if seeds is None else seeds
    networks, pretext = [], []
    for arch, arch_seeds in seeds.items():
        for seed in arch_seeds:
            for name, task in tasks.items():
                net, history = train_or_load(task, arch=arch, preset=preset, seed=seed, device=device, progress=False)
                networks.append((task, arch, seed, net))
                pretext.append(dict(task=name, arch=arch, seed=seed, pretext_accuracy=history["val_acc"][-1],
                                    group=arch))
                if log:
                    log(f"{name:<18} {arch:<6} seed {seed}: pretext accuracy {history['val_acc'][-1]:.1%}")
            net, history = supervised_net(arch, seed, preset, device=device, progress=False)
            networks.append((SUPERVISED, arch, seed, net))
            if log:
                log(f"{SUPERVISED:<18} {arch:<6} seed {seed}: training accuracy {history['train_acc'][-1]:.1%}")
            networks.append((RANDOM, arch, seed, random_net(arch, seed, preset)))
    return networks, pretext


def probe_networks(networks, ks=(10,), num_test: int | None = 2000, C: float = 1.0) -> list[dict]:
    """Lesson 4: the results table: every layer of every network in `networks` (from `train_networks`) and raw pixels.

    Each seed gets its own downstream split, shared by all the networks of that seed.
    """
    ks = _check_ks(ks)
    archs_of_seed = defaultdict(list)
    for _, arch, seed, _ in networks:
        if arch not in archs_of_seed[seed]:
            archs_of_seed[seed].append(arch)
    splits = {seed: downstream_split(ks, seed, num_test) for seed in sorted(archs_of_seed)}
    table = []
    for task, arch, seed, net in networks:
        table += probe_network(net, task, arch, seed, ks=ks, split=splits[seed], C=C)
    for seed, split in splits.items():
        table += probe_pixels(seed, ks, archs=archs_of_seed[seed], split=split, C=C)
    return table


def pooled_sizes(arch: str = "cnn", width: int = 16, image_size: int = 28, in_channels: int = 1,
                 target: int = DEFAULT_POOLED_SIZE) -> dict[str, tuple[tuple[int, ...], int]]:
    """Lesson 4: per layer of a backbone, the activation shape (C, H, W) or (D,) and the features kept after pooling."""
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


def downstream_split(ks=(10,), seed: int = 0, num_test: int | None = 2000):
    """Lesson 4: the few-label split for the largest k in `ks` (every smaller k is its first k per class)."""
    # fewshot_split draws one permutation per class whatever k is, so with the same seed the
    # k = 10 split is the first 10 images per class of the k = 100 split, with the same test set.
    return fewshot_split(k=max(_check_ks(ks)), seed=seed, num_test=num_test)


def probe_features(F_train: dict, y_train: torch.Tensor, F_test: dict, y_test: torch.Tensor, ks=(10,),
                   C: float = 1.0, tol: float = PROBE_TOL) -> dict[int, dict[str, float]]:
    """Lesson 4: test accuracy of a linear classifier per layer and label budget, from features computed once."""
    ks = _check_ks(ks)
    if set(F_train) != set(F_test):
        raise ValueError(f"F_train and F_test must hold the same layers, got {list(F_train)} and {list(F_test)}")
    out = {}
    for k in ks:
        idx = budget_indices(y_train, k)
        out[k] = {name: fit_linear(F_train[name][idx], y_train[idx], C, tol=tol).score(F_test[name], y_test)
                  for name in F_train}
    return out


def probe_network(net: torch.nn.Module, task, arch: str, seed: int = 0, ks=(10,), split=None, layers=None,
                  target: int = DEFAULT_POOLED_SIZE, C: float = 1.0, preprocess=None,
                  num_test: int | None = 2000) -> list[dict]:
    """Lesson 4: probe every layer of one frozen network at each label budget; the rows of the results table.

    `task` is a PretextTask (its name labels the rows, its `preprocess` shows whole images to the
    trunk) or a name. The split defaults to `downstream_split(ks, seed)`; features are computed once.
    """
    name, preprocess = _task_name_and_preprocess(task, preprocess)
    ks = _check_ks(ks)
    X_train, y_train, X_test, y_test = split if split is not None else downstream_split(ks, seed, num_test)
    trunk = trunk_of(net)
    layers = list(layers or trunk.layer_names)
    with evaluating(net):
        feats = layer_features(trunk, torch.cat([to_float(X_train), to_float(X_test)]), layers, target, preprocess)
    n = len(X_train)
    accs = probe_features({l: f[:n] for l, f in feats.items()}, y_train,
                          {l: f[n:] for l, f in feats.items()}, y_test, ks, C)
    order = list(getattr(trunk, "layer_names", layers))  # depth counts from the trunk's first layer, even for a subset
    return [dict(task=name, arch=arch, seed=seed, layer=layer, depth=order.index(layer) + 1 if layer in order else i,
                 accuracy=accs[k][layer], k=k)
            for k in ks for i, layer in enumerate(layers, start=1)]


def probe_pixels(seed: int = 0, ks=(10,), archs=("cnn",), split=None, C: float = 1.0,
                 num_test: int | None = 2000) -> list[dict]:
    """Lesson 4: the raw-pixel baseline (one 'layer' at depth 0), one row per arch so every arch's table has it."""
    if isinstance(archs, str):
        archs = (archs,)
    ks = _check_ks(ks)
    X_train, y_train, X_test, y_test = split if split is not None else downstream_split(ks, seed, num_test)
    accs = probe_features({PIXELS: pool_features(to_float(X_train))}, y_train,
                          {PIXELS: pool_features(to_float(X_test))}, y_test, ks, C)
    return [dict(task=PIXELS, arch=arch, seed=seed, layer=PIXELS, depth=0, accuracy=accs[k][PIXELS], k=k)
            for arch in archs for k in ks]


def _task_name_and_preprocess(task, preprocess):
    if isinstance(task, PretextTask):
        return task.name, preprocess if preprocess is not None else task.preprocess
    if isinstance(task, str) and task:
        return task, preprocess
    raise TypeError(f"task must be a PretextTask or a task name, got {type(task).__name__}")


# 2. the table ----------------------------------------------------------------------------------

def check_table(table) -> list[dict]:
    """Lesson 4: check that `table` is a list of rows with the keys ROW_KEYS, and say what is wrong."""
    if not isinstance(table, (list, tuple)):
        raise TypeError(f"table must be a list of dicts with keys {ROW_KEYS}, got {type(table).__name__}")
    for i, row in enumerate(table):
        if not isinstance(row, dict):
            raise TypeError(f"table[{i}] must be a dict with keys {ROW_KEYS}, got {type(row).__name__}")
        missing = [key for key in ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"table[{i}] must have the keys {ROW_KEYS}; missing {missing}")
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
    """Lesson 4: one layer's accuracy over seeds: mean, standard deviation, worst and best seed, number of seeds."""

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
    """Lesson 4: one curve of the table (a task, an arch, a label budget k): its best and its last layer over seeds.

    `drop` is how many accuracy points the last layer loses against the best; `clear` says whether
    the seed ranges do not overlap (the worst seed at the best layer beats the best seed at the
    last); `seed_best` lists each seed's own best layer.
    """

    task: str
    arch: str
    k: int | None
    best: LayerStats
    last: LayerStats
    seed_best: tuple[str, ...]

    @property
    def is_last(self) -> bool:
        return self.best.layer == self.last.layer

    @property
    def drop(self) -> float:
        return 100 * (self.best.mean - self.last.mean)

    @property
    def clear(self) -> bool:
        return self.n_seeds > 1 and not self.is_last and self.best.min > self.last.max

    @property
    def n_seeds(self) -> int:
        return self.best.n


def summarise(table, **where) -> list[dict]:
    """Lesson 4: per (task, arch, k, layer): mean, std, min, max of the accuracy over seeds, and n seeds."""
    groups = defaultdict(list)
    for row in select(table, **where):
        groups[(row["task"], row["arch"], row["k"], row["depth"], row["layer"])].append(row["accuracy"])
    return [dict(task=t, arch=a, k=k, **dataclasses.asdict(LayerStats.of(l, d, accs)))
            for (t, a, k, d, l), accs in groups.items()]


def best_layers(table, **where) -> list[Curve]:
    """Lesson 4: one `Curve` per (task, arch, k): the layer with the best mean accuracy over seeds, and the last layer.

    Ties go to the shallowest layer. Single-layer entries (raw pixels) are left out.
    """
    by_curve = defaultdict(list)
    for s in summarise(table, **where):
        by_curve[(s["task"], s["arch"], s["k"])].append(
            LayerStats(**{key: s[key] for key in ("layer", "depth", "mean", "std", "min", "max", "n")}))
    seeds = defaultdict(lambda: defaultdict(dict))
    for row in select(table, **where):
        seeds[(row["task"], row["arch"], row["k"])][row["seed"]][(row["depth"], row["layer"])] = row["accuracy"]
    out = []
    for (task, arch, k), layers in by_curve.items():
        if len(layers) < 2:
            continue
        layers.sort(key=lambda stats: stats.depth)
        seed_best = tuple(max(accs, key=accs.get)[1] for _, accs in sorted(seeds[(task, arch, k)].items()))
        out.append(Curve(task, arch, k, max(layers, key=lambda stats: stats.mean), layers[-1], seed_best))
    return out


def best_table_text(best) -> str:
    """Lesson 4: the `best_layers` curves as a text table: best layer, its mean and seed range, the last layer's drop."""
    lines = [f"{'task':<18} {'arch':<6} {'k':>4}  {'best layer':<10} {'mean':>6}  {'seed range':<11} "
             f"{'seeds pick it':<13} {'last layer':<10} {'last is lower by':>16}"]
    for c in sorted(best, key=lambda c: (c.arch, c.k, _task_order(c.task))):
        seed_range = f"{100 * c.best.min:.1f}-{100 * c.best.max:.1f}" if c.n_seeds > 1 else "1 seed"
        picks = f"{c.seed_best.count(c.best.layer)}/{len(c.seed_best)}"
        lines.append(f"{c.task:<18} {c.arch:<6} {c.k!s:>4}  {c.best.layer:<10} {100 * c.best.mean:>5.1f}%  "
                     f"{seed_range:<11} {picks:<13} {c.last.layer:<10} {c.drop:>10.1f} points")
    return "\n".join(lines)


# 3. verdicts, computed from the table ------------------------------------------------------------

def _pct(stats: LayerStats) -> str:
    if stats.n > 1:
        return f"{100 * stats.mean:.1f}% (seeds {100 * stats.min:.1f}-{100 * stats.max:.1f}, n={stats.n})"
    return f"{100 * stats.mean:.1f}% (1 seed, no spread)"


def _check_curve(curve, name: str = "best") -> Curve:
    if not isinstance(curve, Curve):
        raise TypeError(f"{name} must be a Curve from best_layers(table), got {type(curve).__name__}")
    return curve


def last_layer_relation(best: Curve) -> str:
    """Lesson 4: how the last layer compares with the best one: 'last', 'clear' drop, 'overlap' of seeds, or 'one_seed'."""
    _check_curve(best)
    if best.is_last:
        return "last"
    if best.n_seeds < 2:
        return "one_seed"
    return "clear" if best.clear else "overlap"


_SENTENCES = {
    "pretext": {
        "last": "It is the last layer: the features kept improving to the end, as for a task aligned with the "
                "transfer task.",
        "clear": "no seed overlaps: the last layer specialised in the pretext task, which is not aligned with the "
                 "transfer task.",
        "overlap": "but the seed ranges overlap: the drop is within the spread over seeds, so this run does not "
                   "show a clear misalignment.",
        "one_seed": "with one seed the spread is unknown, so this is a hint of misalignment, not evidence.",
    },
    SUPERVISED: {
        "last": "It is the last layer, as expected when the training task is the transfer task itself (aligned).",
        "clear": "no seed overlaps: even trained with the labels, the last layer is not the best here.",
        "overlap": "but the seed ranges overlap: within the spread, the last layer is as good as the best, "
                   "as expected of the aligned reference.",
        "one_seed": "with one seed the spread is unknown.",
    },
    RANDOM: {
        "last": "It is the last layer. Random weights learned nothing: this is what the architecture alone gives.",
        "clear": "no seed overlaps. Random weights learned nothing: the fall is what depth alone does to the "
                 "pixels, not specialisation.",
        "overlap": "but the seed ranges overlap. Random weights learned nothing: this is what the architecture "
                   "alone gives.",
        "one_seed": "with one seed the spread is unknown. Random weights learned nothing: this is what the "
                    "architecture alone gives.",
    },
}


def alignment_verdict(best: Curve, reference: Curve | None = None) -> str:
    """Lesson 4: one sentence on a `best_layers` curve: is the last layer the best, and what that says.

    `reference` is the supervised network's curve for the same arch and k: a pretext task is called
    misaligned only if its last layer clearly drops (no seed overlap) and drops more than the
    reference's, since a drop the labels also show comes from the architecture or the probe.
    """
    _check_curve(best)
    if reference is not None and (_check_curve(reference, "reference").arch, reference.k) != (best.arch, best.k):
        raise ValueError(f"reference must be the curve for arch {best.arch!r} and k={best.k}, got arch "
                         f"{reference.arch!r} and k={reference.k}")
    relation = last_layer_relation(best)
    kind = best.task if best.task in _SENTENCES else "pretext"
    sentence = _SENTENCES[kind][relation]
    if kind == "pretext" and reference is not None:
        ref = ("the supervised reference's last layer is its best" if reference.is_last else
               "the supervised reference's last layer is as good as its best" if reference.drop < 0.05 else
               f"the supervised reference's last layer is {reference.drop:.1f} points below its best")
        if relation == "clear" and reference.drop >= best.drop:
            sentence = (f"no seed overlaps, but {ref}, as much or more: the drop comes with the architecture "
                        f"and the probe, not from the pretext task.")
        elif relation == "clear":
            sentence = (f"no seed overlaps, and {ref}: the last layers specialised in the pretext task, which "
                        f"is not aligned with the transfer task.")
        else:
            sentence = f"{sentence[:-1]} ({ref})."
    head = f"Verdict [{best.task}, {best.arch}, k={best.k}]: best layer {best.best.layer} {_pct(best.best)}"
    if len(best.seed_best) > 1:
        head += f"; {best.seed_best.count(best.best.layer)} of {len(best.seed_best)} seeds pick it"
    if relation == "last":
        return f"{head}. {sentence}"
    return (f"{head}; the last layer {best.last.layer} reaches {_pct(best.last)}, {best.drop:.1f} points lower; "
            f"{sentence}")


def reference_for(best, curve: Curve) -> Curve | None:
    """Lesson 4: the supervised curve of `best` with the same arch and k as `curve` (None if there is none)."""
    return next((c for c in best if c.task == SUPERVISED and c.arch == curve.arch and c.k == curve.k), None)


def architecture_verdict(best, task: str, k: int, plain: str = "cnn", skip: str = "resnet") -> str:
    """Lesson 4: compare the last layer's drop without (plain) and with (skip) skip connections for one task."""
    entries = {c.arch: c for c in best if c.task == task and c.k == k}
    missing = [arch for arch in (plain, skip) if arch not in entries]
    if missing:
        raise ValueError(f"best must hold task {task!r} at k={k} for archs {plain!r} and {skip!r}; missing {missing}")
    p, s = entries[plain], entries[skip]
    head = (f"Verdict [{task}, k={k}, {plain} vs {skip}]: the last layer loses {p.drop:.1f} points against "
            f"the best without skip connections ({plain}: {p.last.layer} vs {p.best.layer}) and "
            f"{s.drop:.1f} with them ({skip}: {s.last.layer} vs {s.best.layer})")
    # the noise of a drop: how far the last layer's accuracy moves between seeds (of either arch)
    spreads = [100 * (c.last.max - c.last.min) for c in (p, s) if c.n_seeds > 1]
    noise = max(spreads, default=0.0)
    if abs(p.drop - s.drop) <= noise:
        return (f"{head}: the difference, {abs(p.drop - s.drop):.1f} points, is within the seeds' spread of "
                f"the last layer ({noise:.1f} points): no clear difference here.")
    hint = "" if spreads else " (one seed each: a hint, not evidence)"
    if s.drop < p.drop:
        return (f"{head}: skip connections kept the late layers more useful, as Kolesnikov et al. (2019) "
                f"report{hint}.")
    return (f"{head}: here skip connections did not keep the late layers more useful, unlike Kolesnikov et al. "
            f"(2019){hint}.")


def pretext_points(table, pretext, k: int, layer: str = "best") -> list[dict]:
    """Lesson 4: per network in `pretext` (rows task, arch, seed, pretext_accuracy, optional run): its downstream accuracy.

    layer="best" takes the network's best layer, "last" its deepest layer.
    """
    if layer not in ("best", "last"):
        raise ValueError(f"layer must be 'best' or 'last', got {layer!r}")
    points = []
    for p in pretext:
        for key in ("task", "arch", "seed", "pretext_accuracy"):
            if key not in p:
                raise ValueError(f"each pretext row must have task, arch, seed, pretext_accuracy; missing {key!r}")
        run = p.get("run", p["task"])
        rows = select(table, task=run, arch=p["arch"], seed=p["seed"], k=k)
        if not rows:
            raise ValueError(f"the table holds no rows for task {run!r}, arch {p['arch']!r}, seed {p['seed']}, k={k}")
        pick = max(rows, key=lambda r: r["accuracy"]) if layer == "best" else max(rows, key=lambda r: r["depth"])
        points.append(dict(p, run=run, k=k, layer=pick["layer"], downstream_accuracy=pick["accuracy"]))
    return points


def pretext_verdict(points, label: str) -> str:
    """Lesson 4: does pretext accuracy rank the networks in `points` as downstream accuracy does? One sentence."""
    if len(points) < 3:
        raise ValueError(f"points must hold at least 3 networks to compare rankings, got {len(points)}")
    rho = float(spearmanr([p["pretext_accuracy"] for p in points], [p["downstream_accuracy"] for p in points]).statistic)
    top_pretext = max(points, key=lambda p: p["pretext_accuracy"])
    top_down = max(points, key=lambda p: p["downstream_accuracy"])
    name = lambda p: f"{p['run']} ({p['arch']}, seed {p['seed']})"  # noqa: E731
    head = (f"Verdict [pretext vs downstream, {label}, k={points[0]['k']}]: over {len(points)} networks, "
            f"rank correlation {rho:+.2f}; highest pretext accuracy: {name(top_pretext)} "
            f"({100 * top_pretext['pretext_accuracy']:.1f}%), highest downstream accuracy: {name(top_down)} "
            f"({100 * top_down['downstream_accuracy']:.1f}%)")
    if rho >= PREDICTS_RHO:
        return f"{head}: here pretext accuracy did rank the networks as the downstream task does."
    return f"{head}: pretext accuracy did not predict downstream accuracy (rank correlation below {PREDICTS_RHO})."


def verdicts(table, pretext=(), plain: str = "cnn", skip: str = "resnet") -> dict[str, list[str]]:
    """Lesson 4: every verdict the lesson prints, recomputed from the table alone (the notebook prints these).

    'alignment': one per curve (task, arch, k); 'architecture': one per pretext task and k found in
    both archs; 'pretext': per group of `pretext` rows (default one group), best and last layer, at
    the smallest label budget.
    """
    best = best_layers(table)
    out = {"alignment": [alignment_verdict(b, reference_for(best, b)) for b in best], "architecture": [],
           "pretext": []}
    for k in sorted({c.k for c in best}):
        for task in sorted({c.task for c in best if c.task not in BASELINES}, key=_task_order):
            archs = {c.arch for c in best if c.task == task and c.k == k}
            if {plain, skip} <= archs:
                out["architecture"].append(architecture_verdict(best, task, k, plain, skip))
    groups = defaultdict(list)
    for p in pretext:
        groups[p.get("group", "all networks")].append(p)
    if best:
        k = min(c.k for c in best)
        for label, rows in groups.items():
            for layer in ("best", "last"):
                points = pretext_points(table, rows, k, layer)
                if len(points) >= 3:
                    out["pretext"].append(pretext_verdict(points, f"{label}, {layer} layer"))
    return out


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
