"""Lesson 5: fine-tuning beside the linear probe, with a recipe chosen on the labelled images alone.

Why the plain recipe failed (a new linear head on the last layer, 20 epochs at lr 0.01, BatchNorm in
train mode on batches of 50): the head starts from nothing on the layer the probe found worst, and
with 100 labelled images every step re-estimates BatchNorm's statistics from 50 images. This recipe
follows "linear probe, then fine-tune" (LP-FT, Kumar et al. 2022, "Fine-tuning can distort pretrained
features"):

1. the layer and the probe's cost C are chosen by cross-validation on the labelled images, as the
   probe chooses them (`core.probe.cross_validate`);
2. the network is cut at that layer, pooled and standardised as the probe pools them, and the head
   starts from the fitted probe, so step 0 *is* the probe;
3. every weight up to that layer and the head are then trained with SGD (momentum 0.9, gradients clipped)
   under a cosine schedule; features the labelled images hold constant are divided by a floored
   standard deviation, so moving them cannot blow the logits up; BatchNorm keeps its running statistics frozen (the whole model stays in eval mode): with
   k=10 a batch holds 100 images, too few to estimate them, and the statistics the network came with
   (trained, or calibrated on the pretraining images) are the ones its weights fit;
4. the learning rate and number of steps are chosen from `RECIPES` by `CV_FOLDS`-fold cross-validation
   on the labelled images (each fold refits the probe on its training part); the test images are read
   once, by the chosen recipe. `fine_tune_rows` makes that choice once per network kind and label
   budget, on the first seed's labelled images, and keeps it for the other seeds (as a fixed
   hyperparameter is kept), so the seeds replicate the whole recipe at a third of the cost.
"""
from __future__ import annotations

import copy
import math
import statistics
import sys

import torch
import torch.nn.functional as F
from torch import nn

from ..core import probe as probe_module
from ..core.data import to_float
from ..core.models import trunk_of
from ..core.probe import (C_GRID, CV_FOLDS, CV_ROUNDS, DEFAULT_POOLED_SIZE, choose, cross_validate, fit_linear,
                          layer_features, pool_features, stratified_folds)
from ..core.task import PretextTask
from ..core.results import load_or_measure, source_fingerprint, state_fingerprint
from ..core.training import fingerprint, set_seed
from ..core.validate import check_int
from .probing import preprocess_key
from .references import NO_SIGNAL
from .summary import finding, no_signal_name

RECIPES = (dict(lr=1e-3, steps=30), dict(lr=1e-2, steps=30))  # the grid cross-validation chooses from (lessons 5 and 7)
BATCH_SIZE = 128
MOMENTUM = 0.9
PROBE_TOL = 1e-4
STD_FLOOR = 1e-3  # a feature whose std is below this share of the median one counts as constant (see CutNetwork)
MAX_GRAD_NORM = 1.0  # gradients are clipped to this norm: a few labelled images must not throw the weights far


class CutNetwork(nn.Module):
    """A trunk cut after `layer`, its output pooled as the probe pools it, then the probe's classifier."""

    def __init__(self, trunk: nn.Module, layer: str, classifier: nn.Module, target: int = DEFAULT_POOLED_SIZE):
        super().__init__()
        names = list(getattr(trunk, "layer_names", [n for n, _ in trunk.named_children()]))
        if layer not in names:
            raise ValueError(f"layer must be one of the trunk's layers {names}, got {layer!r}")
        children = dict(trunk.named_children())
        self.body = nn.Sequential(*[copy.deepcopy(children[n]) for n in names[:names.index(layer) + 1]])
        self.classifier = copy.deepcopy(classifier)
        std = getattr(self.classifier, "std", None)
        if isinstance(std, torch.Tensor):
            # a feature constant on the labelled images has std ~0 (the probe's clamp): once fine-tuning moves it,
            # dividing by that would blow the logits up. It is 0 after centring on those images, so giving it the
            # median std keeps step 0 the probe there.
            typical = float(std.median())
            std[std < STD_FLOOR * typical] = typical
        self.layer, self.target = layer, target

    def forward(self, x):
        return self.classifier(pool_features(self.body(x), self.target))


def _preprocess_of(task):
    if isinstance(task, PretextTask):
        return task.preprocess
    return None


def _images(X, preprocess):
    X = to_float(X)
    return preprocess(X) if preprocess is not None else X


def train_cut(model: CutNetwork, X: torch.Tensor, y: torch.Tensor, lr: float, steps: int, seed: int = 0) -> CutNetwork:
    """Fine-tune `model` (a copy) on images X (already preprocessed) with labels y; BatchNorm frozen."""
    model = copy.deepcopy(model)
    if steps == 0:
        return model.eval()
    set_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    g = torch.Generator().manual_seed(seed)
    model.eval()  # BatchNorm's running statistics stay as they are; gradients still flow through every weight
    order, at = torch.randperm(len(X), generator=g), 0
    for _ in range(steps):
        if at + min(BATCH_SIZE, len(X)) > len(X):
            order, at = torch.randperm(len(X), generator=g), 0
        idx = order[at:at + BATCH_SIZE]
        at += len(idx)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """The share of images X (preprocessed) whose label y `model` predicts."""
    model.eval()
    right = sum(int((model(X[i:i + 500]).argmax(1) == y[i:i + 500]).sum()) for i in range(0, len(X), 500))
    return right / len(X)


def fine_tune_split(net: nn.Module, task, X_train, y_train, X_test, y_test, seed: int = 0, recipes=RECIPES,
                    C_grid=C_GRID, target: int = DEFAULT_POOLED_SIZE) -> dict:
    """The probe and the fine-tuned network on one labelled split, every choice made on the labelled images.

    Returns dict(layer, C, probe=test accuracy of the probe, fine_tuned=test accuracy after
    fine-tuning, lr, steps (the recipe chosen), cv=the recipes' cross-validated accuracies, cv_probe=the
    probe's own cross-validated accuracy on the same folds: step 0 of every recipe). With one recipe there
    is nothing to choose: cv is empty and cv_probe None.
    """
    recipes = [dict(r) for r in recipes]
    for r in recipes:
        if set(r) != {"lr", "steps"} or not r["lr"] > 0:
            raise ValueError(f"recipes must be dicts with a positive lr and a number of steps, got {r!r}")
        check_int("steps", r["steps"], lowest=0)
    preprocess = _preprocess_of(task)
    trunk = trunk_of(net).cpu().eval()
    layers = list(trunk.layer_names)
    X_tr, X_te = _images(X_train, preprocess), _images(X_test, preprocess)
    F_train = layer_features(trunk, X_tr, layers, target)
    scores = cross_validate(F_train, y_train, C_grid, CV_FOLDS, seed, PROBE_TOL, CV_ROUNDS)
    layer, C = choose(scores)
    probe = fit_linear(F_train[layer], y_train, C, tol=PROBE_TOL)
    start = CutNetwork(trunk, layer, probe, target)
    probe_accuracy = accuracy(start, X_te, y_test)
    cv, cv_probe = [], None
    if len(recipes) > 1:  # a choice to make: each fold's probe (step 0 of every recipe), then every recipe from it
        folds = stratified_folds(y_train, CV_FOLDS, seed)
        starts, probe_scores = [], []
        for f in range(CV_FOLDS):
            fit_idx, val_idx = torch.nonzero(folds != f).flatten(), torch.nonzero(folds == f).flatten()
            fold_start = CutNetwork(trunk, layer, fit_linear(F_train[layer][fit_idx], y_train[fit_idx], C, tol=PROBE_TOL),
                                    target)
            starts.append((fold_start, fit_idx, val_idx))
            probe_scores.append(accuracy(fold_start, X_tr[val_idx], y_train[val_idx]))
        cv_probe = statistics.fmean(probe_scores)
        for r in recipes:
            cv.append(statistics.fmean(
                accuracy(train_cut(fold_start, X_tr[fit_idx], y_train[fit_idx], r["lr"], r["steps"], seed),
                         X_tr[val_idx], y_train[val_idx]) for fold_start, fit_idx, val_idx in starts))
    chosen = recipes[max(range(len(recipes)), key=lambda i: (cv[i], -i))] if cv else recipes[0]
    tuned = train_cut(start, X_tr, y_train, chosen["lr"], chosen["steps"], seed)
    return dict(layer=layer, C=C, probe=probe_accuracy, fine_tuned=accuracy(tuned, X_te, y_test),
                lr=chosen["lr"], steps=chosen["steps"], cv=cv, cv_probe=cv_probe)


def fine_tune_rows(networks, splits, ks=(10, 100), recipes=RECIPES) -> list[dict]:
    """For each (task or name, arch, seed, net) and k, the probe and fine-tuning on the split `splits(seed, k)`.

    `splits(seed, k)` returns (X_train, y_train, X_test, y_test) (e.g. `probing.downstream_split`'s
    first k per class). The recipe is chosen from `recipes` by cross-validation once per network
    kind (task and arch) and k, on the labelled images of the first of its networks in `networks`
    (its first seed); the kind's other seeds fine-tune with that recipe. Rows: task, arch, seed, k,
    layer, C, probe, fine_tuned, lr, steps, cv_probe, cv_best (the chosen recipe's cross-validated
    accuracy, None on the seeds that kept another seed's choice), chose (whether this row made the
    choice), labelled (images). Each row is stored by `results.load_or_measure`, keyed by the
    network's weights, the images, the recipes it chose from and this module's code.
    """
    rows, chosen = [], {}
    for task, arch, seed, net in networks:
        name = task.name if isinstance(task, PretextTask) else str(task)
        shown = preprocess_key(_preprocess_of(task))
        for k in ks:
            X_train, y_train, X_test, y_test = splits(seed, k)
            kept = chosen.get((name, arch, k))
            grid = recipes if kept is None else [kept]

            def measure(net=net, task=task, data=(X_train, y_train, X_test, y_test), grid=grid):
                r = fine_tune_split(net, task, *data, seed, grid)
                return [dict(task=name, arch=arch, seed=seed, k=k, cv_best=max(r["cv"]) if r["cv"] else None,
                             chose=kept is None, labelled=len(data[1]),
                             **{key: r[key] for key in ("layer", "C", "probe", "fine_tuned", "lr", "steps", "cv_probe")})]
            if shown is False:  # a preprocess nobody can name: measured every time
                found = measure()
            else:
                key = dict(net=state_fingerprint(trunk_of(net)), task=name, preprocess=shown, arch=arch, seed=seed,
                           k=k, data=[fingerprint(t) for t in (X_train, y_train, X_test, y_test)],
                           recipes=[dict(r) for r in grid], code=source_fingerprint(probe_module, sys.modules[__name__]))
                found = load_or_measure("finetune", key, measure)
            chosen.setdefault((name, arch, k), dict(lr=found[0]["lr"], steps=found[0]["steps"]))
            rows += found
    return rows


def findings(rows, reference: str = "random", arch: str = "cnn") -> list:
    """Per k and network: fine-tuned minus the reference fine-tuned the same way, and fine-tuned minus its probe.

    The pretext networks come before the no-signal controls, so the first question (the primary one
    of a summary) is a pretext network's fine-tuning against the reference's.

    Returns `summary.Finding`s (seed dots and paired intervals over seeds, on Fisher's z scale).
    """
    out = []
    for k in sorted({r["k"] for r in rows}):
        by = {}
        for r in rows:
            if r["k"] == k and r["arch"] == arch:
                by.setdefault(r["task"], {})[(r["seed"], 0)] = r
        if reference not in by:
            continue
        ref = {u: r["fine_tuned"] for u, r in by[reference].items()}
        for task in sorted((t for t in by if t != reference), key=lambda t: (t.startswith(NO_SIGNAL), t)):
            tuned = {u: r["fine_tuned"] for u, r in by[task].items()}
            probe = {u: r["probe"] for u, r in by[task].items()}
            control = no_signal_name(task)
            against_control = None if control not in by else finding(
                f"k={k}: {task} fine-tuned - {control} fine-tuned", tuned,
                {u: r["fine_tuned"] for u, r in by[control].items()}, "the pretext start is better",
                "the pretext start is worse")
            for f in (finding(f"k={k}: {task} fine-tuned - {reference} fine-tuned", tuned, ref,
                               "the pretext start is better", "the pretext start is worse"),
                      against_control,
                      finding(f"k={k}: {task} fine-tuned - its probe", tuned, probe,
                               "fine-tuning higher", "fine-tuning lower")):
                if f:
                    out.append(f)
        probe = {u: r["probe"] for u, r in by[reference].items()}
        f = finding(f"k={k}: {reference} fine-tuned - its probe", ref, probe, "fine-tuning higher", "fine-tuning lower")
        if f:
            out.append(f)
    return out


def rows_text(rows) -> str:
    """The fine-tuning rows as a table: per network and k, the means over seeds and the recipes chosen."""
    groups = {}
    for r in rows:
        groups.setdefault((r["task"], r["arch"], r["k"]), []).append(r)
    lines = [f"{'network':<20} {'arch':<6} {'k':>4} {'seeds':>5} {'probe':>7} {'fine-tuned':>10}  recipes chosen (lr x steps)"]
    for (task, arch, k), rs in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0])):
        recipes = ", ".join(sorted({f"{r['lr']:g}x{r['steps']}" for r in rs}))
        lines.append(f"{task:<20} {arch:<6} {k:>4} {len(rs):>5} {100 * statistics.fmean(r['probe'] for r in rs):>6.1f}% "
                     f"{100 * statistics.fmean(r['fine_tuned'] for r in rs):>9.1f}%  {recipes}")
    return "\n".join(lines)


def lesson_findings(rows, pretext: str = "rotation", reference: str = "random", arch: str = "cnn") -> list:
    """Lesson 5's fine-tuning family, the largest k first; its first question is its primary.

    Per k: `pretext` fine-tuned minus `reference` fine-tuned the same way, minus its no-signal control
    fine-tuned the same way ("taught something" needs both), minus its own probe, and the control minus
    `reference`. A subset of `findings`, in that order: the first row (the largest k, the pretext start
    against random) is the family's primary comparison, the others are Holm-corrected within it.
    """
    found = {f.question.question: f for f in findings(rows, reference, arch)}
    control = no_signal_name(pretext)
    out = []
    for k in sorted({r["k"] for r in rows}, reverse=True):
        for q in (f"k={k}: {pretext} fine-tuned - {reference} fine-tuned", f"k={k}: {pretext} fine-tuned - {control} fine-tuned",
                  f"k={k}: {pretext} fine-tuned - its probe", f"k={k}: {control} fine-tuned - {reference} fine-tuned"):
            if q in found:
                out.append(found[q])
    return out


def decision_lines(rows, verdicts, pretext: str = "rotation", reference: str = "random", arch: str = "cnn") -> list[str]:
    """What the run shows about fine-tuning, from `verdicts` (`summary.verdict_rows` over a list holding
    `lesson_findings`' questions): per k, does fine-tuning from `pretext` beat the same recipe from
    `reference`, and from its no-signal control (both: it taught something); at the largest k, is it
    below its probe beyond the interval; at a smaller k where it stays below its probe, why, from the
    cross-validated accuracies on the labelled images."""
    by = {v["question"]: v for v in verdicts}
    ks = sorted({r["k"] for r in rows if r["arch"] == arch and r["task"] == pretext})
    lines = []

    def said(v):
        d = v.get("digits", 1)
        return f"{v['estimate']:+.{d}f} {v['unit']} [{v['low']:+.{d}f}, {v['high']:+.{d}f}], {v['role']}, {v['seeds']} seeds"
    control = no_signal_name(pretext)
    for k in reversed(ks):
        v = by.get(f"k={k}: {pretext} fine-tuned - {reference} fine-tuned")
        if v is not None:
            verdict = {"better": "beats", "worse": "is below"}.get(v["outcome"], "is not shown to differ from")
            lines.append(f"k={k}: fine-tuning from {pretext} {verdict} the same recipe from {reference} ({said(v)}).")
        c = by.get(f"k={k}: {pretext} fine-tuned - {control} fine-tuned")
        if v is not None and c is not None:
            both = v["outcome"] == "better" and c["outcome"] == "better"
            verdict = {"better": "beats", "worse": "is below"}.get(c["outcome"], "is not shown to differ from")
            lines.append(f"k={k}: it {verdict} the same recipe from {control} ({said(c)}): "
                         + ("better than both, so as a starting point the pretext task taught something here."
                            if both else "not better than both, so 'the pretext task taught something' is not shown "
                            "for fine-tuning here."))
        v = by.get(f"k={k}: {pretext} fine-tuned - its probe")
        if v is None:
            continue
        below = v["high"] < 0  # the whole interval below zero
        if k == ks[-1]:
            lines.append(f"k={k}: fine-tuning from {pretext} is {'below' if below else 'not below'} its linear probe "
                         f"beyond the interval ({said(v)}).")
        elif v["estimate"] < 0:
            mine = [r for r in rows if r["arch"] == arch and r["task"] == pretext and r["k"] == k]
            choosers = [r for r in mine if r.get("cv_best") is not None and r.get("cv_probe") is not None]
            if not choosers:  # one recipe, chosen by nobody: no fold scores to say why
                lines.append(f"k={k}: fine-tuning from {pretext} stays below its probe ({said(v)}).")
                continue
            n = statistics.fmean(r["cv_best"] for r in choosers)  # the seed that chose the recipe
            p = statistics.fmean(r["cv_probe"] for r in choosers)
            images = choosers[0].get("labelled", k)
            fold = images // CV_FOLDS
            se = 100 * math.sqrt(max(p * (1 - p), 1e-12) / fold)
            why = (f"on the folds of the {images} labelled images it was chosen on, the recipe scored {100 * n:.1f}% against the "
                   f"probe's {100 * p:.1f}% (each fold validates on {fold} images: a standard error of about {se:.1f} "
                   f"points)")
            if n <= p:
                why += ": every recipe already lost to the probe there, so the few labels are fitted at the cost of what the probe held"
            else:
                why += ": the recipe's lead on the folds is within that noise, so cross-validation on so few images picks a recipe that does not hold on the test images"
            lines.append(f"k={k}: fine-tuning from {pretext} stays below its probe ({said(v)}); why: {why}.")
    return lines
