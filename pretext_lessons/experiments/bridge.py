"""Lesson 7: from pretext tasks to contrastive and masked learning, read through the layer-wise probe.

Four studies, each returning rows that `core.stats` decides on, paired on (seed, labelled split):

1. the projection head: the contrastive network probed at every trunk layer, at the head's input h
   (the trunk's last layer) and at its output g(h), against its untrained network with BatchNorm
   statistics from the same images (`references.calibrated_random`) and a no-signal control
   (the same network trained on shuffled partners, `ShuffledContrastiveTask`);
2. an augmentation ablation: one contrastive network per set of augmentations, on one budget;
3. probe and fine-tuning side by side per layer, for the masked task and rotation, at two label budgets;
4. the map from the classic tasks to the modern ones, with the papers' tables and figures.
"""
from __future__ import annotations

import dataclasses
import sys
from collections import OrderedDict, defaultdict

import torch
from torch import nn

from ..core import probe as probe_module
from ..core.data import to_float
from ..core.models import trunk_of
from ..core.probe import CV_FOLDS, fit_linear, layer_features, stratified_folds
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.stats import Verdict, compare
from ..core.training import fingerprint, train_or_load
from ..core.validate import check_int
from ..tasks import contrastive
from ..tasks.contrastive import AUGMENTATIONS, ContrastiveNet, ContrastiveTask, partner_accuracy
from . import finetune, probing
from . import table as results_table
from .references import calibrated_random

HEAD_INPUT = "h (head input)"
HEAD_OUTPUT = "g(h) (head output)"
SHUFFLED = "shuffled partners"
PROJECTION = "projection"  # the layer name of the head's output in `probe_view`
# the ablation's networks: fewer images and epochs than the lesson's network, the same for every arm
ABLATION_BUDGET = dict(num_images=2000, num_epochs=2)
ABLATION_SPLITS = 3  # the ablation trains one seed per arm: its (exploratory) intervals run over these splits
# fine-tuning per layer: the course's one fine-tuning grid (lesson 5's), the same number of optimiser steps at
# every label budget, the learning rate chosen from it by cross-validation on the labelled images (`fine_tune_layer`)
FINE_TUNE_RECIPES = finetune.RECIPES
FINE_TUNE_STEPS = FINE_TUNE_RECIPES[0]["steps"]
NUM_TEST = 1000  # test images per split of sections 2 and 4: their intervals are set by the seeds, not by these


# 1. the projection head ------------------------------------------------------------------------------

def probe_view(net: ContrastiveNet) -> nn.Module:
    """The contrastive network as one chain of named layers: the trunk's, then `projection` (g(h)).

    The modules are shared with `net` (nothing is copied), so probing this view probes `net`.
    """
    if not isinstance(net, ContrastiveNet):
        raise TypeError(f"net must be a ContrastiveNet (ContrastiveTask's network), got {type(net).__name__}")
    trunk = net.trunk
    view = nn.Sequential(OrderedDict([*trunk.named_children(), (PROJECTION, net.head)]))
    view.layer_names = tuple(trunk.layer_names) + (PROJECTION,)
    view.in_channels, view.out_features = trunk.in_channels, net.head[-1].out_features
    return view


@dataclasses.dataclass
class ShuffledContrastiveTask(ContrastiveTask):
    """The no-signal control: the contrastive task with each view's partner drawn at random (never itself).

    The network, the views and the budget are the contrastive task's; only the labels carry nothing.
    """

    name = "contrastive_shuffled"

    def make_batch(self, X, generator):
        views, y = super().make_batch(X, generator)
        n = len(views)
        offset = torch.randint(1, n, (n,), generator=generator, device=views.device)
        return views, (torch.arange(n, device=views.device) + offset) % n


def head_networks(preset: str = "quick", seed: int = 0, device=None, task: ContrastiveTask | None = None,
                  progress: bool = True) -> dict:
    """The contrastive network, its untrained network with the data's BatchNorm statistics and the control.

    Returns {"contrastive": (net, history), results_table.RANDOM: net, SHUFFLED: (net, history)}; all three on
    the same images, width and budget (the task's preset).
    """
    task = task or ContrastiveTask()
    net, history = train_or_load(task, preset=preset, seed=seed, device=device, progress=progress)
    untrained = calibrated_random(task, seed=seed, preset=preset)
    control = train_or_load(ShuffledContrastiveTask(**_fields(task)), preset=preset, seed=seed, device=device,
                            progress=False)
    return {"contrastive": (net, history), results_table.RANDOM: untrained, SHUFFLED: control}


def _fields(task) -> dict:
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.init}


def pretext_accuracy(net: ContrastiveNet, X, batch_size: int = 128, seed: int = 0) -> dict:
    """`contrastive.partner_accuracy` on images X, stored (`core.results.load_or_measure`) for the next run."""
    key = dict(net=state_fingerprint(net), data=fingerprint(X), batch_size=batch_size, seed=seed,
               code=source_fingerprint(contrastive))
    return load_or_measure("bridge_partner", key, lambda: [partner_accuracy(net, X, batch_size, seed)])[0]


def head_rows(networks: dict, seed: int = 0, ks=(10,), num_splits: int = 2, num_test: int = NUM_TEST) -> list[dict]:
    """Lesson 4's probe rows for the three networks of `head_networks` (one pretraining `seed`), trunk layers
    and `projection`; stored by `probing.probe_network`, so a second run only reads them."""
    check_int("num_splits", num_splits, 2)
    nets = {"contrastive": networks["contrastive"][0], results_table.RANDOM: networks[results_table.RANDOM],
            SHUFFLED: networks[SHUFFLED][0]}
    rows, cache = [], {}
    for name, net in nets.items():
        view = probe_view(net.cpu())
        for j in range(num_splits):
            split = probing.downstream_split(ks, seed, num_test=num_test, split=j)
            rows += probing.probe_network(view, name, "cnn", seed, ks, split, split_index=j, feature_cache=cache)
    return rows


def _by_unit(rows, **where) -> dict:
    return {(r["seed"], r.get("split", 0)): r["accuracy"] for r in rows
            if all(r.get(key) == value for key, value in where.items())}


def paired_verdict(a: dict, b: dict, what: str, better_word: str, worse_word: str) -> Verdict | str:
    """The `core.stats` verdict of a[u] - b[u] over the (seed, split) units both hold, else a 'Not decided' line."""
    units = sorted(set(a) & set(b))
    if len(units) < 2:
        return f"Not decided [{what}]: {len(units)} common (seed, split) unit, no interval."
    return compare([a[u] for u in units], [b[u] for u in units], what, better_word, worse_word,
                   seeds=[u[0] for u in units], splits=[u[1] for u in units])


def head_verdicts(rows, k: int = 10) -> dict[str, Verdict | str]:
    """H vs g(h) (primary), and the best trunk layer (chosen on the labelled images) vs the two references."""
    net = results_table.select(rows, task="contrastive", k=k)
    trunk_layers = [layer for layer in dict.fromkeys(r["layer"] for r in net) if layer != PROJECTION]
    h = trunk_layers[-1]
    out = {"head": paired_verdict(_by_unit(rows, task="contrastive", k=k, layer=h),
                                  _by_unit(rows, task="contrastive", k=k, layer=PROJECTION),
                                  f"contrastive, k={k}: head input h ({h}) vs head output g(h)",
                                  "the head's input transfers better", "the head's output transfers better")}
    trunk_rows = [r for r in rows if r["layer"] != PROJECTION and r["k"] == k]
    curves = {c.task: c for c in results_table.best_layers(trunk_rows)}
    mine = curves["contrastive"]
    for ref in (results_table.RANDOM, SHUFFLED):
        theirs = _by_unit(rows, task=ref, k=k, layer=mine.best.layer)
        out[ref] = paired_verdict(dict(zip(mine.units, mine.best_values)), theirs,
                                  f"contrastive vs {ref}, k={k}, at {mine.best.layer} (chosen on the labelled images)",
                                  "the contrastive task taught something", "the contrastive network is worse")
    return out


def plot_head(rows, k: int = 10, ax=None, title=None):
    """Test accuracy per layer (trunk layers, then g(h)) for the three networks, splits as dots."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.6))
    styles = {"contrastive": dict(color="tab:red"), results_table.RANDOM: dict(color="grey", linestyle=":"),
              SHUFFLED: dict(color="tab:purple", linestyle="--")}
    for name, style in styles.items():
        layers = list(dict.fromkeys(r["layer"] for r in results_table.select(rows, task=name, k=k)))
        values = [[r["accuracy"] for r in results_table.select(rows, task=name, k=k, layer=l)] for l in layers]
        means = [100 * sum(v) / len(v) for v in values]
        ax.plot(range(len(layers)), means, marker="o", label=name, **style)
        for i, v in enumerate(values):
            ax.scatter([i] * len(v), [100 * x for x in v], s=8, color=style["color"], alpha=0.4)
        ax.set_xticks(range(len(layers)), [l if l != PROJECTION else "g(h)" for l in layers], fontsize=8)
    ax.axvline(len(layers) - 1.5, color="black", lw=0.6)
    ax.set_ylabel(f"linear probe test accuracy (%), k={k}")
    ax.set_title(title or "Through the projection head: h is the trunk's last layer, g(h) the head's output",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax.figure


# 2. which augmentations matter ---------------------------------------------------------------------------

def ablation_arms(colour: bool = False) -> dict[str, tuple[str, ...]]:
    """The ablation's arms: every augmentation, then each one left out (blur and noise together).

    On colour images jitter changes colour (saturation) and is an arm of its own (SimCLR Fig. 5 and 6);
    on grayscale images it changes brightness and contrast only and stays in every arm.
    """
    all_ = AUGMENTATIONS
    arms = {"all": all_, "without crop": tuple(a for a in all_ if a != "crop"),
            "without flip": tuple(a for a in all_ if a != "flip"),
            "without blur and noise": tuple(a for a in all_ if a not in ("blur", "noise"))}
    if colour:
        arms["without colour jitter"] = tuple(a for a in all_ if a != "jitter")
    return arms


def ablation_rows(arms: dict, seed: int = 0, preset: str = "quick", k: int = 10, num_splits: int = ABLATION_SPLITS,
                  layers=None, device=None, budget: dict | None = None) -> list[dict]:
    """One contrastive network per arm on `ABLATION_BUDGET`, probed at `layers` on the same splits; rows per arm."""
    budget = dict(ABLATION_BUDGET if budget is None else budget)
    rows, cache = [], {}
    for name, augmentations in arms.items():
        net, _ = train_or_load(ContrastiveTask(augmentations=tuple(augmentations)), preset=preset, seed=seed,
                               device=device, progress=False, **budget)
        for j in range(check_int("num_splits", num_splits, 2)):
            split = probing.downstream_split((k,), seed, split=j)
            rows += probing.probe_network(net.cpu(), name, "cnn", seed, (k,), split, layers=layers, split_index=j,
                                            feature_cache=cache)
    return rows


def ablation_verdicts(rows, layer: str, reference: str = "all") -> list[Verdict | str]:
    """Each arm against `reference` at `layer`, paired on splits (secondary comparisons, not corrected)."""
    arms = [a for a in dict.fromkeys(r["task"] for r in rows) if a != reference]
    return [paired_verdict(_by_unit(rows, task=reference, layer=layer), _by_unit(rows, task=arm, layer=layer),
                           f"augmentations: all vs {arm}, at {layer}", f"leaving it out ({arm}) hurts",
                           f"leaving it out ({arm}) helps") for arm in arms]


# 3. probe and fine-tuning, per layer ------------------------------------------------------------------------

def _images(X, preprocess):
    X = to_float(X)
    return preprocess(X) if preprocess is not None else X


def fine_tune_layer(net: nn.Module, layer: str, X_train, y_train, C: float, seed: int = 0, recipes=FINE_TUNE_RECIPES,
                    preprocess=None) -> tuple[nn.Module, dict]:
    """Linear probe, then fine-tuning, at a fixed `layer`, every choice made on the labelled images alone.

    The trunk is cut after `layer` (`finetune.CutNetwork`); the head starts from the probe fitted at
    cost `C` (the probe's own choice), so step 0 is the probe (LP-FT, Kumar et al. 2022). BatchNorm keeps
    the statistics the network came with (`finetune.train_cut` trains in eval mode: 10 labelled images
    per class are too few to estimate them). The learning rate comes from `recipes` by one round of
    2-fold cross-validation on the labelled images (`core.probe.stratified_folds`; each fold refits
    its probe); a single recipe is used as it is. Returns the fine-tuned copy and dict(lr, steps, cv);
    `net` is left alone.
    """
    recipes = [dict(r) for r in recipes]
    for r in recipes:
        if set(r) != {"lr", "steps"} or not r["lr"] > 0:
            raise ValueError(f"recipes must be dicts with a positive lr and a number of steps, got {r!r}")
        check_int("steps", r["steps"], lowest=0)
    trunk = trunk_of(net).cpu().eval()
    if layer not in trunk.layer_names:
        raise ValueError(f"layer must be one of {list(trunk.layer_names)}, got {layer!r}")
    X = _images(X_train, preprocess)
    features = layer_features(trunk, X, [layer])[layer]
    cv = []
    if len(recipes) > 1:
        folds = stratified_folds(y_train, CV_FOLDS, seed)
        fit_idx, val_idx = torch.nonzero(folds != 0).flatten(), torch.nonzero(folds == 0).flatten()
        fold_probe = fit_linear(features[fit_idx], y_train[fit_idx], C, tol=probing.PROBE_TOL)
        fold_start = finetune.CutNetwork(trunk, layer, fold_probe)
        cv = [finetune.accuracy(finetune.train_cut(fold_start, X[fit_idx], y_train[fit_idx], r["lr"], r["steps"],
                                                   seed), X[val_idx], y_train[val_idx]) for r in recipes]
    chosen = recipes[max(range(len(recipes)), key=lambda i: (cv[i], -i))] if cv else recipes[0]
    start = finetune.CutNetwork(trunk, layer, fit_linear(features, y_train, C, tol=probing.PROBE_TOL))
    return finetune.train_cut(start, X, y_train, chosen["lr"], chosen["steps"], seed), dict(chosen, cv=cv)


@torch.no_grad()
def accuracy(model: nn.Module, X, y, preprocess=None) -> float:
    """The test accuracy of a fine-tuned classifier."""
    return finetune.accuracy(model, _images(X, preprocess), y)


def probe_and_fine_tune(networks: dict, layers, ks=(10, 100), num_splits: int = 1, recipes=FINE_TUNE_RECIPES,
                        num_test: int = NUM_TEST, fine_tune_layers=None) -> list[dict]:
    """Rows (task, seed, layer, k, split, protocol, accuracy): the linear probe at each of `layers`, fine-tuning
    at each of `fine_tune_layers` (default: `layers`).

    `networks` maps each pretraining seed to its (task, net) pairs: a PretextTask (its name labels the
    rows, its preprocess shows the images) and its trained network. Both protocols read the same
    labelled and test images; fine-tuning starts from the probe's C (`fine_tune_layer`). The learning
    rate is chosen per task, k and layer by cross-validation on the labelled images of the first
    seed's first split, and kept for every other split and seed (a fixed hyperparameter from then on:
    each further unit is one more fine-tuning, not one more choice). The rows of a network are stored
    (`core.results.load_or_measure`, keyed by its weights, the images, the settings and this code),
    so a second run only reads them.
    """
    layers, ks = list(layers), probing.check_ks(ks)
    fine_tune_layers = list(layers if fine_tune_layers is None else fine_tune_layers)
    if not fine_tune_layers or not set(fine_tune_layers) <= set(layers):
        raise ValueError(f"fine_tune_layers must name one or more of layers {layers}, got {fine_tune_layers}")
    if not isinstance(networks, dict) or not networks:
        raise ValueError(f"networks must map each seed to its (task, net) pairs, got {type(networks).__name__}")
    check_int("num_splits", num_splits)
    rows, chosen = [], {}  # chosen: (task name, k, layer) -> the recipe of the first seed's first split
    for seed, pairs in networks.items():
        for task, net in pairs:
            cache = {}
            for j in range(num_splits):
                split = probing.downstream_split(ks, seed, num_test=num_test, split=j)
                probed = probing.probe_network(net.cpu(), task, "cnn", seed, ks, split, layers=layers, split_index=j,
                                               feature_cache=cache)
                rows += [dict(r, protocol="probe") for r in probed]
                kept = {(k, layer): chosen[(task.name, k, layer)] for k in ks for layer in fine_tune_layers
                        if (task.name, k, layer) in chosen}
                complete = len(kept) == len(ks) * len(fine_tune_layers)
                tuned = _fine_tune_rows(task, net, seed, j, split, [r for r in probed if r["layer"] in fine_tune_layers],
                                        fine_tune_layers, ks, None if complete else recipes, kept if complete else None)
                for r in tuned:
                    chosen.setdefault((task.name, r["k"], r["layer"]), dict(lr=r["lr"], steps=r["steps"]))
                rows += tuned
    return rows


def _fine_tune_rows(task, net, seed, split_index, split, probed, layers, ks, recipes, chosen=None) -> list[dict]:
    X_train, y_train, X_test, y_test = split
    C = {(r["k"], r["layer"]): r["C"] for r in probed}

    def measure():
        out = []
        for k in ks:
            idx = probing.budget_indices(y_train, k)
            for layer in layers:
                model, recipe = fine_tune_layer(net, layer, X_train[idx], y_train[idx], C[(k, layer)],
                                                seed=1000 * seed + split_index,
                                                recipes=recipes if chosen is None else [chosen[(k, layer)]],
                                                preprocess=task.preprocess)
                out.append(dict(task=task.name, arch="cnn", seed=seed, split=split_index, layer=layer, k=k,
                                protocol="fine-tune", accuracy=accuracy(model, X_test, y_test, task.preprocess),
                                lr=recipe["lr"], steps=recipe["steps"], cv=recipe["cv"]))
        return out

    key = dict(net=state_fingerprint(trunk_of(net)), task=task.config(), seed=seed, split=split_index, ks=list(ks),
               layers=layers, C={f"{k}/{layer}": c for (k, layer), c in sorted(C.items())},
               recipes=list(recipes) if chosen is None else {f"{k}/{l}": r for (k, l), r in sorted(chosen.items())},
               data=[fingerprint(t) for t in split],
               code=source_fingerprint(sys.modules[__name__], finetune, probe_module))
    return load_or_measure("bridge_fine_tune", key, measure)


def protocol_table_text(rows) -> str:
    """Mean test accuracy per task, k, layer and protocol (over seeds and splits), as a text table."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["k"], r["layer"], r["protocol"])].append(r["accuracy"])
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    ks = sorted({r["k"] for r in rows})
    lines = [f"{'task':<12} {'k':>4} {'protocol':<10} " + " ".join(f"{l:>8}" for l in layers)]
    for t in tasks:
        for k in ks:
            for p in ("probe", "fine-tune"):
                cells = [groups.get((t, k, l, p)) for l in layers]
                lines.append(f"{t:<12} {k:>4} {p:<10} " + " ".join(
                    f"{100 * sum(c) / len(c):>7.1f}%" if c else f"{'-':>8}" for c in cells))
    chosen = {(r["task"], r["k"], r["layer"]): r["lr"] for r in rows if r["protocol"] == "fine-tune" and r.get("cv")}
    if chosen:
        lines.append("learning rates chosen by cross-validation on the first seed's labelled images (kept for the "
                     "other splits and seeds): " + ", ".join(f"{t} k={k} {layer}: lr {lr:g}"
                                                            for (t, k, layer), lr in sorted(chosen.items())))
    return "\n".join(lines)


def ordering_verdicts(rows, a: str, b: str, k: int, layer: str) -> dict[str, Verdict | str]:
    """At `layer` and `k`: a vs b under the probe, a vs b fine-tuned, and the difference between the two gaps.

    "interaction" is (fine-tune a - fine-tune b) - (probe a - probe b) per split: better means fine-tuning
    favours `a` more than the probe does. The orderings differ only where both order verdicts are decided,
    in opposite directions (`orderings_differ`).
    """
    def values(task, protocol):
        return _by_unit([r for r in rows if r["protocol"] == protocol], task=task, k=k, layer=layer)

    probe_a, probe_b, tune_a, tune_b = values(a, "probe"), values(b, "probe"), values(a, "fine-tune"), values(b, "fine-tune")
    units = sorted(set(probe_a) & set(probe_b) & set(tune_a) & set(tune_b))
    gap_tune = {u: tune_a[u] - tune_b[u] for u in units}
    gap_probe = {u: probe_a[u] - probe_b[u] for u in units}
    return {"probe": paired_verdict(probe_a, probe_b, f"{a} vs {b}, linear probe, k={k}, {layer}",
                                    f"{a} higher", f"{b} higher"),
            "fine-tune": paired_verdict(tune_a, tune_b, f"{a} vs {b}, fine-tuned, k={k}, {layer}",
                                        f"{a} higher", f"{b} higher"),
            "interaction": paired_verdict(gap_tune, gap_probe,
                                          f"({a} - {b}) fine-tuned minus ({a} - {b}) probed, k={k}, {layer}",
                                          f"fine-tuning favours {a} more than the probe does",
                                          f"fine-tuning favours {a} less than the probe does")}


def orderings_differ(verdicts: dict) -> str:
    """One sentence: whether probe and fine-tuning order the two tasks in opposite directions, from the verdicts."""
    probe, tune = verdicts["probe"], verdicts["fine-tune"]
    outcomes = [getattr(v, "outcome", "not shown") for v in (probe, tune)]
    if "not shown" in outcomes:
        return ("The orderings: not shown to differ (at least one of the two orderings is not decided by its "
                f"interval: probe {outcomes[0]}, fine-tuned {outcomes[1]}).")
    if outcomes[0] != outcomes[1]:
        return f"The orderings differ: the probe says {outcomes[0]}, fine-tuning says {outcomes[1]} (both decided)."
    return f"The orderings agree: both protocols say {outcomes[0]} (both decided)."


# 4. the map --------------------------------------------------------------------------------------------

MAP = (
    dict(task="relative position (Doersch et al. 2015)", pseudo_label="where patch 2 lies around patch 1 (8 classes)",
         must_learn="object parts and their layout", best="res4, falling at res5 (mmselfsup relative_loc README)"),
    dict(task="jigsaw (Noroozi & Favaro 2016)", pseudo_label="which of P permutations shuffled the tiles",
         must_learn="parts and their arrangement", best="res4, res5 worse (VOC07, Goyal et al. 2019)"),
    dict(task="rotation (Gidaris et al. 2018)", pseudo_label="which of 4 quarter turns",
         must_learn="an object's upright pose", best="block 2 of 4 on CIFAR-10 (Gidaris et al. Table 1)"),
    dict(task="exemplar (Dosovitskiy et al. 2014)", pseudo_label="which seed patch a transformed patch came from",
         must_learn="what survives the transformations", best="(surrogate classes: one per seed patch)"),
    dict(task="instance discrimination (Wu et al. 2018)", pseudo_label="the image's own index (memory bank, NCE)",
         must_learn="what tells one image from all others", best="keeps improving to conv5 (Wu et al. Table 2)"),
    dict(task="SimCLR (Chen et al. 2020)", pseudo_label="the other view's position in the batch (NT-Xent)",
         must_learn="what survives crop and colour distortion",
         best="h, before the head: > 10 points over g(h) (Fig. 8, sec. 4.2); rotation read from h, not g(h) (Table 3)"),
    dict(task="context encoder (Pathak et al. 2016)", pseudo_label="the missing region's pixels (L2)",
         must_learn="what fills a hole from its surround", best="transferred by fine-tuning"),
    dict(task="MAE (He et al. 2022)", pseudo_label="the masked patches' pixels",
         must_learn="how to fill 75% of the patches",
         best="fine-tuning 84.9% vs probe 73.5% (Table 1); last layers specialise (sec. 4.1, Fig. 9)"),
)


def map_table_text(rows=MAP) -> str:
    """The map from the classic tasks to the modern ones as a text table."""
    head = ("task", "pseudo label", "what the network must learn", "where the features are best (source)")
    keys = ("task", "pseudo_label", "must_learn", "best")
    widths = [max(len(h), *(len(r[k]) for r in rows)) for h, k in zip(head, keys)]
    widths[-1] = len(head[-1])
    line = lambda cells: " | ".join(f"{c:<{w}}" for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line([r[k] for k in keys]) for r in rows])
