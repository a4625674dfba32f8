"""Lesson 5: transfer beyond the linear probe: fine-tuning every weight, and the protocol behind Goyal et al.'s and
Kolesnikov et al.'s disagreement on the last layer."""
from __future__ import annotations

import copy
import functools
import sys
from collections import defaultdict

import torch
from torch import nn
from torch.nn import functional as F

from ..core.data import to_float
from ..core.models import evaluating, trunk_of
from ..core.profile import phase
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.probe import C_GRID, CV_FOLDS, CV_ROUNDS, choose, cross_validate, fit_linear, layer_features, one_thread
from ..core.training import fingerprint, set_seed
from .downstream import TASKS, downstream_data
from .probing import PROBE_TOL, network_name_and_preprocess, preprocess_key
from .suite import curve
from .table import RANDOM, decide, task_order

# Fine-tuning recipe (fixed, not searched: nothing is chosen on the test set, and the labelled images are too
# few to search it): SGD with Nesterov momentum, every weight trained, on the k labelled images per class.
FINE_TUNE = dict(num_epochs=20, batch_size=50, lr=0.01, weight_decay=5e-4)
SHORT_FIT_ITER = 5  # the "short" probe fit of the protocol comparison: L-BFGS steps (the long fit runs to convergence)


@phase("training")
def fine_tune(net: nn.Module, task, X_train, y_train, seed: int = 0, num_classes: int | None = None,
              **recipe) -> nn.Module:
    """A copy of `net`'s trunk with a new linear head, every weight trained on the labelled images.

    The recipe is `FINE_TUNE` (overrides by keyword); the images are shown as the pretext task showed
    them (`task.preprocess`). Returns the classifier (trunk + head) in eval mode; `net` is left alone.
    """
    _, preprocess = network_name_and_preprocess(task, preprocess=None)
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
    with one_thread():  # batches of 50 small images: a second thread mostly waits, and on a busy CPU costs far more
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
    """The test accuracy of a fine-tuned classifier (images shown as its pretext task showed them)."""
    _, preprocess = network_name_and_preprocess(task, preprocess=None)
    X = to_float(X_test)
    X = preprocess(X) if preprocess is not None else X
    with evaluating(model):
        return float(torch.cat([model(X[i:i + 500]).argmax(1) for i in range(0, len(X), 500)]).eq(y_test).float().mean())


def fine_tune_networks(networks, splits=(0,), downstream: str = "classes", sizes: dict | None = None,
                       **recipe) -> list[dict]:
    """Fine-tune every network of `networks` on one downstream task's labelled images of each split.

    Rows: task, arch, seed, split, downstream, score (test accuracy). Random weights fine-tuned are
    the same architecture trained from scratch on the same labels with the same recipe. Each score is
    kept beside the checkpoints (`results.load_or_measure`, keyed by the weights, the images, the
    recipe and this code), so a second run reads it instead of fine-tuning again.
    """
    if TASKS.get(downstream, None) is None or TASKS[downstream].metric != "accuracy":
        raise ValueError(f"downstream must be a single-label task {[n for n, t in TASKS.items() if t.metric == 'accuracy']}, "
                         f"got {downstream!r}")
    rows = []
    for task, arch, seed, net in networks:
        name, preprocess = network_name_and_preprocess(task, preprocess=None)
        shown = preprocess_key(preprocess)
        for j in splits:
            d = downstream_data(downstream, seed, j, sizes)
            measure = functools.partial(_fine_tune_score, net, task, d, seed, recipe)
            if shown is False:  # a preprocess nobody can name: measured every time
                score = measure()
            else:
                key = dict(net=state_fingerprint(trunk_of(net)), task=name, preprocess=shown, arch=arch, seed=seed,
                           split=j, downstream=downstream, recipe={**FINE_TUNE, **recipe},
                           data=[fingerprint(t) for t in (d.X_train, d.y_train, d.X_test, d.y_test)],
                           code=source_fingerprint(sys.modules[__name__]))
                score = load_or_measure("fine_tune", key, measure)
            rows.append(dict(task=name, arch=arch, seed=seed, split=j, downstream=downstream, score=score))
    return rows


def _fine_tune_score(net, task, d, seed, recipe) -> float:
    model = fine_tune(net, task, d.X_train, d.y_train, seed=seed, num_classes=int(d.y_test.max()) + 1, **recipe)
    return fine_tune_accuracy(model, task, d.X_test, d.y_test)


def fine_tune_verdicts(tuned, table, arch: str = "cnn", downstream: str = "classes") -> list[str]:
    """Per pretext task: fine-tuned from pretext weights vs from random weights, and fine-tuned vs its
    linear probe at the layer chosen on the labelled images; paired on (seed, split) units."""
    by = defaultdict(dict)
    for r in tuned:
        if r["arch"] == arch and r["downstream"] == downstream:
            by[r["task"]][(r["seed"], r["split"])] = r["score"]
    if RANDOM not in by:
        raise ValueError(f"tuned must hold fine-tuned random weights ({RANDOM!r}) of arch {arch!r} on {downstream!r}")
    lines = []
    for task in sorted(set(by) - {RANDOM}, key=task_order):
        lines.append(decide(by[task], by[RANDOM], f"fine-tuned from {task} vs from random weights, {arch}, {downstream}",
                            "the pretext start is better", "the pretext start is worse"))
        c = curve(table, task, downstream, arch)
        lines.append(decide(by[task], dict(zip(c.units, c.best_values)),
                            f"{task}, {arch}, {downstream}: fine-tuned vs linear probe at {c.best.layer}",
                            "fine-tuning higher", "fine-tuning lower"))
    return lines


# Goyal et al. vs Kolesnikov et al.: the protocol --------------------------------------------------------

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
    """For each ResNet of `networks` and each protocol in PROTOCOLS: the last layer's score minus res4's.

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
        name, preprocess = network_name_and_preprocess(task, preprocess=None)
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
    """The last layer against res4 under each protocol, then the part of the disagreement each change of
    protocol explains: the drop under Kolesnikov's protocol minus the drop under Goyal's, and each step alone."""
    drops = defaultdict(dict)
    for r in rows:
        if r["task"] == task:
            drops[r["protocol"]][(r["seed"], r["split"])] = r["drop"]
    if set(drops) != set(PROTOCOLS):
        raise ValueError(f"rows must hold every protocol of PROTOCOLS for task {task!r}; found {sorted(drops)}")
    zero = {u: 0.0 for u in next(iter(drops.values()))}
    goyal, kolesnikov = "Goyal: res5 as a spatial map, short fit", "Kolesnikov: global pool, long fit"
    lines = [decide(drops[p], zero, f"{task}, resnet, {p}: last layer minus {EARLIER}", "last layer higher",
                    "last layer lower") for p in PROTOCOLS]
    lines.append(decide(drops[kolesnikov], drops[goyal], f"{task}, resnet: the last layer's drop, Kolesnikov's protocol "
                         f"minus Goyal's", "the last layer fares better under Kolesnikov's protocol",
                         "the last layer fares worse under Kolesnikov's protocol"))
    lines.append(decide(drops["global pool, short fit"], drops[goyal], f"{task}, resnet: the last layer's drop, global "
                         f"pool minus spatial map, short fit", "global pooling favours the last layer",
                         "global pooling disfavours the last layer"))
    lines.append(decide(drops[kolesnikov], drops["global pool, short fit"], f"{task}, resnet: the last layer's drop, "
                         f"long minus short fit, global pool", "a long fit favours the last layer",
                         "a long fit disfavours the last layer"))
    return lines
