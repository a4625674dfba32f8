"""Lessons 4 to 6: the references every lesson compares a pretext network with, built one way for all of them.

"The pretext task taught something useful" means: better than each of these, on the same images,
budget and preprocessing.

- `calibrated_random`: the network's own starting weights (what `train_or_load` starts from), with
  BatchNorm's running statistics set from the same unlabelled images shown the same way. Plain random
  weights keep BatchNorm's initial statistics (mean 0, variance 1), which no trained network has;
  every pass over data in train mode moves them, and that alone moves a linear probe by points. This
  reference has the statistics and no gradient step, so a comparison with it credits the gradient steps.
- `NoSignal` / `no_signal_net`: the same network, budget and inputs trained on pseudo labels that are
  independent of the image (each batch's labels permuted with the task's generator). It separates
  "trained on these inputs" from "learned the pretext task".
- `supervised_reference`: the same architecture trained with true labels until its accuracy on
  held-out labelled images stops rising (the label budget, train and held-out accuracy stated).

Each reference is probed through the preprocessing of the network it is compared with: pass
`preprocess=task.preprocess` to the probe (`probe_preprocess` says which).
"""
from __future__ import annotations

import dataclasses

import torch

from ..core.data import pretrain_split, resolve_dataset, to_float
from ..core.models import evaluating
from ..core.task import PretextTask, SupervisedTask, code_fingerprint
from ..core.training import build_net, resolve_preset, train_or_load
from ..core.validate import check_int

RANDOM = "random"  # the name of the calibrated random reference's rows (results_table.RANDOM)
NO_SIGNAL = "no_signal"  # the prefix of a no-signal control's task name: "no_signal-rotation"


def _norms(net: torch.nn.Module) -> list:
    return [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def calibrate_batchnorm(net: torch.nn.Module, batches) -> torch.nn.Module:
    """Set every BatchNorm layer's running statistics to the plain average over `batches` (no gradient step).

    Each batch passes in train mode with momentum None (a cumulative average), so the running mean
    is the mean over all inputs when the batches are of equal size, and the running variance the
    average of the batches' unbiased variances. The momenta are restored and the net returned in eval mode.
    """
    norms = _norms(net)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    seen = 0
    net.train()
    try:
        with torch.no_grad():
            for inputs in batches:
                net(inputs)
                seen += 1
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    if seen == 0:
        raise ValueError("batches must hold at least one batch of inputs to set BatchNorm's statistics from")
    return net.eval()


def calibrated_random(task: PretextTask | None = None, arch: str = "cnn", seed: int = 0, preset: str = "quick",
                      X: torch.Tensor | None = None, **overrides) -> torch.nn.Module:
    """The random reference: the task's untrained network, BatchNorm statistics set on its inputs.

    The weights are `train_or_load`'s starting weights for (task, arch, seed); the statistics are
    those of the task's inputs (`task.make_batch`) on X (default: the preset's pretraining images of
    `seed`, after `overrides`, as the trained network saw them). With `task=None` the reference is the
    plain backbone's (the supervised task's net) calibrated on whole images as they are.
    """
    if task is not None and not isinstance(task, PretextTask):
        raise TypeError(f"task must be a PretextTask or None (whole images), got {type(task).__name__}")
    settings = resolve_preset(preset, task, arch, **overrides)
    if X is None:
        X = pretrain_split(settings["num_images"], seed=seed)
    net = build_net(task if task is not None else SupervisedTask(num_classes=resolve_dataset().num_classes),
                    arch, X.shape[1], settings["width"], seed)
    generator = torch.Generator().manual_seed(seed)
    size = settings["batch_size"]

    def batches():
        for start in range(0, len(X), size):
            images = to_float(X[start:start + size])
            yield images if task is None else task.make_batch(images, generator)[0]
    return calibrate_batchnorm(net, batches())


def initial_statistics(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of `net` whose BatchNorm layers hold their initial statistics (mean 0, variance 1), as random_net's."""
    import copy

    other = copy.deepcopy(net)
    for m in _norms(other):
        m.reset_running_stats()
    return other.eval()


@dataclasses.dataclass
class NoSignal(PretextTask):
    """The no-signal control of a task: its inputs, with labels permuted within each batch (independent of the image).

    The network, inputs, label set and label frequencies are the task's; only the link between an
    input and its label is cut, by a permutation drawn from the batch's generator (so a run repeats
    under a seed). A network trained on it learns what training on these inputs teaches without
    the pretext task's signal. Not a course task: it is never registered.
    """

    base: PretextTask = None

    def __post_init__(self):
        if not isinstance(self.base, PretextTask) or isinstance(self.base, NoSignal):
            raise TypeError(f"base must be a pretext task (not a NoSignal), got {type(self.base).__name__}")
        self.num_classes, self.min_size = self.base.num_classes, self.base.min_size
        self.name = f"{NO_SIGNAL}-{self.base.name}"
        self.presets = getattr(self.base, "presets", {})

    def make_batch(self, X, generator):
        inputs, y = self.base.make_batch(X, generator)
        perm = torch.randperm(len(y), generator=generator, device=generator.device)
        return inputs, y[perm.to(y.device)]

    def build_net(self, trunk):
        return self.base.build_net(trunk)

    def preprocess(self, X):
        return self.base.preprocess(X)

    def config(self) -> dict:
        return {"task": type(self).__name__, "name": self.name, "base": self.base.config(),
                "code": code_fingerprint(type(self))}


@dataclasses.dataclass
class ProbedAs(PretextTask):
    """A reference network's label in a results table, shown images as `base` shows them (never trained).

    `name` is f"{kind}-{base.name}" (e.g. "random-jigsaw"); `preprocess` is the base task's, so a
    probe shows the reference whole images exactly as it shows the base task's network.
    """

    base: PretextTask = None
    kind: str = RANDOM

    def __post_init__(self):
        if not isinstance(self.base, PretextTask):
            raise TypeError(f"base must be a pretext task, got {type(self.base).__name__}")
        self.num_classes, self.min_size = self.base.num_classes, self.base.min_size
        self.name = f"{self.kind}-{self.base.name}"

    def make_batch(self, X, generator):
        raise TypeError(f"{self.name} labels a reference network: it is probed, never trained")

    def preprocess(self, X):
        return self.base.preprocess(X)

    def config(self) -> dict:
        return {"task": type(self).__name__, "name": self.name, "base": self.base.config(),
                "code": code_fingerprint(type(self))}


def no_signal_net(task: PretextTask, arch: str = "cnn", seed: int = 0, preset: str = "quick", device=None,
                  **overrides):
    """The no-signal control of `task` on its budget (overrides as for train_or_load), cached; (net, history)."""
    if not isinstance(task, PretextTask):
        raise TypeError(f"task must be a PretextTask, got {type(task).__name__}")
    return train_or_load(NoSignal(base=task), arch=arch, preset=preset, seed=seed, device=device, progress=False,
                         **overrides)


def probe_preprocess(task):
    """The preprocessing a reference is probed through when compared with `task`'s network (None: as is)."""
    if isinstance(task, NoSignal):
        return task.base.preprocess
    return task.preprocess if isinstance(task, PretextTask) else None


# the supervised reference, trained until held-out accuracy stops rising ---------------------------

EPOCH_LADDER = (3, 6, 12, 24)  # the schedules tried, each from scratch with its own one-cycle schedule
HELD_OUT = 0.1  # the share of the labelled images held out to decide when to stop
MIN_GAIN = 0.005  # a longer schedule must add at least this much held-out accuracy to count as rising


def accuracy(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """The share of images whose true class `net` (a classifier over the classes) predicts."""
    device = next(net.parameters()).device
    right = 0
    with evaluating(net), torch.no_grad():
        for start in range(0, len(X), batch_size):
            logits = net(to_float(X[start:start + batch_size]).to(device))
            right += int((logits.argmax(1).cpu() == y[start:start + batch_size]).sum())
    return right / len(X)


def supervised_reference(arch: str = "cnn", seed: int = 0, preset: str = "quick", num_labels: int = 4000,
                         ladder=EPOCH_LADDER, device=None, log=None) -> tuple[torch.nn.Module, dict]:
    """The supervised reference trained until its held-out accuracy stops rising; (net, report).

    `num_labels` labelled training images of `seed` (as `budgets.labelled_subset`): `HELD_OUT` of them
    are held out, the rest train one network per schedule in `ladder` (cached by train_or_load); the
    ladder stops at the first schedule that adds less than `MIN_GAIN` held-out accuracy, and the best
    schedule's network is returned. The report states the label budget, the epochs chosen, and the
    train and held-out accuracy of every schedule tried.
    """
    check_int("num_labels", num_labels, 20)
    ladder = tuple(check_int("ladder", e) for e in ladder)
    X_all, y_all = resolve_dataset().load("train")
    idx = torch.randperm(len(X_all), generator=torch.Generator().manual_seed(seed))[:num_labels]
    X, y = X_all[idx], y_all[idx]
    n_held = max(1, int(round(HELD_OUT * num_labels)))
    X_train, y_train, X_held, y_held = X[n_held:], y[n_held:], X[:n_held], y[:n_held]
    task = SupervisedTask(num_classes=resolve_dataset().num_classes)
    tried, best, stopped = [], None, False
    for num_epochs in ladder:
        net, _ = train_or_load(task, arch=arch, preset=preset, seed=seed, X=X_train, y=y_train, device=device,
                               progress=False, num_images=len(X_train), num_epochs=num_epochs)
        row = dict(num_epochs=num_epochs, train_accuracy=accuracy(net, X_train, y_train),
                   held_out_accuracy=accuracy(net, X_held, y_held))
        tried.append(row)
        if log:
            log(f"supervised {arch} seed {seed}, {num_epochs} epochs: train {row['train_accuracy']:.1%}, "
                f"held out {row['held_out_accuracy']:.1%}")
        rising = best is None or row["held_out_accuracy"] >= best[1]["held_out_accuracy"] + MIN_GAIN
        if best is None or row["held_out_accuracy"] > best[1]["held_out_accuracy"]:
            best = (net, row)
        if not rising:
            stopped = True
            break
    net, row = best
    report = dict(arch=arch, seed=seed, labels=num_labels, trained_on=len(X_train), held_out=n_held,
                  num_epochs=row["num_epochs"], train_accuracy=row["train_accuracy"],
                  held_out_accuracy=row["held_out_accuracy"], tried=tried,
                  stopped="held-out accuracy stopped rising" if stopped
                  else "longest schedule of the ladder reached: it may still be rising")
    return net, report


def supervised_text(report: dict) -> str:
    """One line on the supervised reference: label budget, epochs, train and held-out accuracy, why it stopped."""
    return (f"supervised reference ({report['arch']}, seed {report['seed']}): {report['labels']} labels "
            f"({report['trained_on']} trained on, {report['held_out']} held out), {report['num_epochs']} epochs; "
            f"train accuracy {report['train_accuracy']:.1%}, held-out {report['held_out_accuracy']:.1%} "
            f"({report['stopped']}; schedules tried: "
            + ", ".join(f"{r['num_epochs']} ep {r['held_out_accuracy']:.1%}" for r in report["tried"]) + ")")
