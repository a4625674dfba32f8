"""Training any (network, pretext task) pair: devices, seeds, presets, the fit loop, the checkpoint cache."""
from __future__ import annotations

import hashlib
import json
import os
import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .data import check_images, data_dir, pretrain_split, resolve_dataset, to_float
from .models import ARCHS, evaluating, make_backbone
from .precision import bf16_faster_on_cpu
from .profile import phase
from .validate import check_int
from .task import PretextTask
from .threads import training_threads

GRADING_VARIABLES = ("PRETEXT_LESSONS_GRADING", "NBGRADER_EXECUTION")
VALIDATE = ("every epoch", "last epoch")  # when `fit` measures the held-out pretext accuracy

# Each preset is a complete recipe; a task may override entries with its own `presets` dict.
PRESETS = {
    # a laptop CPU trains each lesson's network in about a minute
    "quick": dict(num_images=12000, num_epochs=3, batch_size=128, lr=0.05, weight_decay=5e-4, width=16),
    # closer to the papers' recipes (RotNet: SGD, Nesterov, wd 5e-4, long schedule), for a GPU
    "full": dict(num_images=60000, num_epochs=60, batch_size=128, lr=0.1, weight_decay=5e-4, width=48),
    # used automatically under autograding so a notebook grades in seconds
    "grading": dict(num_images=512, num_epochs=1, batch_size=128, lr=0.05, weight_decay=5e-4, width=8),
}
# Per dataset, entries that beat the course's presets (a task's own entries beat these). The full
# presets follow the papers' data: all of a training split (RotNet's CIFAR-10 recipe trains on the
# 50,000 images at their 32 px, Gidaris et al. 2018, FeatureLearningRotNet's
# config/CIFAR10_RotNet_NIN4blocks.py) and wider networks on colour images (Kolesnikov et al. 2019:
# width helps most). STL-10 trains on its 5,000 labelled training images at 96 px (its 100,000
# unlabelled images are not read). num_images never exceeds the training split (resolve_preset).
DATASET_PRESETS = {
    "cifar10": {"full": dict(num_images=50000, width=64)},
    "stl10": {"full": dict(num_images=5000, width=64, batch_size=64)},
    "folder": {"full": dict(width=64)},
}
# Per backbone, entries that beat the preset's and the task's. The ResNet's stem and first block
# work at full resolution, so at the CNN's width a step costs several CNN steps: the quick preset
# halves its width (benchmarks/bench_fit.py --arch resnet prints the cost of each).
ARCH_PRESETS = {"quick": {"resnet": dict(width=8)}}


def try_device(device=None) -> torch.device:
    """The device to train on: the one asked for, else CUDA, else Apple MPS, else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so a CPU run repeats exactly."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def grading() -> bool:
    """True while an autograder (ours or nbgrader) runs the notebook."""
    return any(os.environ.get(v) for v in GRADING_VARIABLES)


def resolve_preset(preset: str = "quick", task: PretextTask | None = None, arch: str | None = None,
                   dataset=None, **overrides) -> dict:
    """The settings of a preset (then the dataset's, the task's and the backbone's own values), with your overrides on top.

    `dataset` (default: the course's, `use_dataset`) adds its own entries (`DATASET_PRESETS`) and caps
    `num_images` at the size of its training split.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    if arch is not None and arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if grading():
        preset = "grading"
    source = resolve_dataset(dataset)
    settings = dict(PRESETS[preset])
    settings.update(DATASET_PRESETS.get(source.name if source.root is None else "folder", {}).get(preset, {}))
    settings.update(getattr(task, "presets", {}).get(preset, {}))
    settings.update(ARCH_PRESETS.get(preset, {}).get(arch, {}))
    unknown = set(overrides) - set(settings)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(settings)}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if source.name != "fashion_mnist":  # Fashion-MNIST's 60,000 images hold every preset: skip the count
        settings["num_images"] = min(settings["num_images"], source.num_train)
    return settings


def autocast_dtype(device: torch.device, amp="auto"):
    """The mixed-precision dtype for a device, or None where it would be slower or unsupported."""
    if amp is False or amp is None:
        return None
    if amp not in ("auto", True):
        raise ValueError(f"amp must be 'auto', True or False, got {amp!r}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # on a CPU, 'auto' takes bf16 only where it measured faster on this machine (core/precision.py); under
    # autograding never: every submission gets the same arithmetic, whatever a timing would have said
    if device.type == "cpu" and (amp is True or (not grading() and bf16_faster_on_cpu())):
        return torch.bfloat16
    return None


class History(dict):
    """What `fit` records per epoch: epoch, loss, train_acc, val_acc, seconds (draw it with plot_history)."""


def _batch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    # one generator per epoch, derived from (seed, epoch): a resumed run draws the same batches
    return torch.Generator(device=device).manual_seed(seed * 100_003 + epoch)


@phase("features")
@torch.no_grad()
def pretext_predictions(net: nn.Module, task: PretextTask, X: torch.Tensor, seed: int = 0,
                        batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pseudo labels, predictions and probabilities of `net` on held-out images X (fixed seed)."""
    check_images(X, min_size=task.min_size)
    device = next(net.parameters()).device
    ys, probs = [], []
    with evaluating(net):
        for start in range(0, len(X), batch_size):
            g = _batch_generator(seed, start, device)
            inputs, y = task.make_batch(to_float(X[start:start + batch_size].to(device)), g)
            p = F.softmax(net(inputs).float(), dim=1).cpu()
            # a task whose classes are positions in the batch (contrastive) has fewer of them in a short last
            # batch: the missing columns are classes no input of that batch can have
            probs.append(F.pad(p, (0, task.num_classes - p.shape[1])) if p.shape[1] < task.num_classes else p)
            ys.append(y.cpu())
    probs = torch.cat(probs)
    return torch.cat(ys), probs.argmax(1), probs


@phase("features")
@torch.no_grad()
def probabilities(net: nn.Module, inputs: torch.Tensor, batch_size: int = 500, transform=None) -> torch.Tensor:
    """`net`'s class probabilities for `inputs`, batch by batch in eval mode, on the CPU.

    `transform` (optional) maps each batch, once on the net's device, to what the net reads (e.g.
    the four rotations of each image), so the transformed inputs are never all in memory at once.
    """
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    check_int("batch_size", batch_size)
    device = next(net.parameters()).device
    chunks = []
    with evaluating(net):
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start:start + batch_size].to(device)
            if transform is not None:
                batch = transform(batch)
            chunks.append(F.softmax(net(batch).float(), dim=1).cpu())
    if not chunks:
        raise ValueError("inputs must hold at least one input, got none")
    return torch.cat(chunks)


def pretext_accuracy(net: nn.Module, task: PretextTask, X: torch.Tensor, seed: int = 0) -> float:
    """The fraction of pseudo labels `net` gets right on held-out images X."""
    y, y_hat, _ = pretext_predictions(net, task, X, seed)
    return float((y == y_hat).float().mean())


@phase("training")
def fit(net: nn.Module, task: PretextTask, X: torch.Tensor, *, num_epochs: int = 3, batch_size: int = 128,
        lr: float = 0.05, weight_decay: float = 5e-4, seed: int = 0, device=None, X_val=None, amp="auto",
        progress: bool = True, checkpoint=None, y=None, validate: str = "every epoch") -> History:
    """Train `net` on `task` over unlabelled images X; returns the per-epoch History.

    SGD with Nesterov momentum and a one-cycle schedule. With `checkpoint` (a path), the state is
    saved after every epoch and a run interrupted earlier resumes where it stopped. With true labels
    `y` (supervised training, the "aligned" reference), each batch's labels go to `task.make_batch`.
    `validate`: "every epoch" measures the held-out pretext accuracy on X_val after each epoch (the
    curve a lesson plots); "last epoch" only after the last (the others are NaN), for networks
    whose curve nobody looks at. On a CPU, training uses the CPUs other processes leave free
    (`core.threads.training_threads`).
    """
    device = try_device(device)
    with training_threads(device.type):
        return _train(net, task, X, num_epochs=num_epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                      seed=seed, device=device, X_val=X_val, amp=amp, progress=progress, checkpoint=checkpoint, y=y,
                      validate=validate)


def _train(net, task, X, *, num_epochs, batch_size, lr, weight_decay, seed, device, X_val, amp, progress, checkpoint,
           y, validate) -> History:
    from tqdm.auto import tqdm

    check_images(X, min_size=task.min_size)
    check_int("num_epochs", num_epochs)
    check_int("batch_size", batch_size)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if validate not in VALIDATE:
        raise ValueError(f"validate must be one of {VALIDATE}, got {validate!r}")
    net.to(device)
    if y is not None and (not isinstance(y, torch.Tensor) or y.shape != (len(X),)):
        raise ValueError(f"y must be a tensor of {len(X)} labels, one per image, got "
                         f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    X_dev = X.to(device)  # the whole (uint8) set fits in memory: batches are sliced, no DataLoader workers
    y_dev = y.to(device) if y is not None else None
    steps_per_epoch = max(1, len(X) // batch_size)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    total_steps = num_epochs * steps_per_epoch
    # OneCycleLR divides by zero when the warm-up is exactly one step (4 steps: the grading preset)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps,
                                                pct_start=0.25 if total_steps != 4 else 0.3)
    dtype = autocast_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    history, start_epoch = History(epoch=[], loss=[], train_acc=[], val_acc=[], seconds=[]), 0
    checkpoint = Path(checkpoint) if checkpoint else None
    if checkpoint and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        history, start_epoch = History(state["history"]), state["epoch"]
    net.train()
    for epoch in range(start_epoch, num_epochs):
        t0 = time.perf_counter()
        g = _batch_generator(seed, epoch, device)
        order = torch.randperm(len(X), generator=g, device=device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        seen = 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{num_epochs}", disable=not progress,
                   leave=False)
        for step in bar:
            idx = order[step * batch_size:(step + 1) * batch_size]
            if y_dev is None:
                inputs, targets = task.make_batch(to_float(X_dev[idx]), g)
            else:
                inputs, targets = task.make_batch(to_float(X_dev[idx]), g, y=y_dev[idx])
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = net(inputs)
                loss = F.cross_entropy(logits.float(), targets)
            opt.zero_grad(set_to_none=True)
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            sched.step()
            loss_sum += loss.detach() * len(targets)
            correct += (logits.detach().argmax(1) == targets).sum()
            seen += len(targets)
        history["epoch"].append(epoch + 1)
        history["loss"].append(float(loss_sum) / seen)
        history["train_acc"].append(float(correct) / seen)
        measure = X_val is not None and (validate == "every epoch" or epoch == num_epochs - 1)
        history["val_acc"].append(pretext_accuracy(net, task, X_val) if measure else float("nan"))
        net.train()
        history["seconds"].append(time.perf_counter() - t0)
        if progress:
            print(f"epoch {epoch + 1}/{num_epochs}: loss {history['loss'][-1]:.3f}, "
                  f"pretext accuracy {history['train_acc'][-1]:.1%} (train), {history['val_acc'][-1]:.1%} (held out), "
                  f"{history['seconds'][-1]:.0f} s")
        if checkpoint:
            _atomic_save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                          "history": dict(history), "epoch": epoch + 1}, checkpoint)
    net.eval()
    return history


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # one temporary file per process: two kernels training the same network must not clash
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fingerprint(X: torch.Tensor) -> str:
    """A short hash of a tensor's contents, so a checkpoint knows the data it was trained on."""
    return hashlib.sha256(X.contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


def checkpoint_dir() -> Path:
    """Where trained networks are cached ($PRETEXT_LESSONS_CHECKPOINTS or the data cache)."""
    env = os.environ.get("PRETEXT_LESSONS_CHECKPOINTS")
    return Path(env).expanduser() if env else data_dir() / "checkpoints"


def build_net(task: PretextTask, arch: str = "cnn", in_channels: int | None = None, width: int = 16,
              seed: int = 0) -> nn.Module:
    """A freshly initialised network for `task` around a backbone, initialised from `seed`.

    `in_channels` defaults to the channels of the course's dataset (`use_dataset`).
    """
    in_channels = resolve_dataset().channels if in_channels is None else in_channels
    set_seed(seed)
    return task.build_net(make_backbone(arch, in_channels, width))


def checkpoint_path(task: PretextTask, arch: str, config: dict) -> Path:
    """The file of the network trained with `config`: task, backbone and dataset in the name, the rest hashed."""
    key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    dataset = "".join(c if c.isalnum() or c in "-_" else "-" for c in str(config.get("dataset", "data")))
    return checkpoint_dir() / f"{task.name}-{arch}-{dataset}-{key}.pt"


@phase("checkpoints")
def train_or_load(task: PretextTask, arch: str = "cnn", preset: str = "quick", seed: int = 0, X=None, X_val=None,
                  device=None, progress: bool = True, cache: bool = True, y=None, dataset=None,
                  **overrides) -> tuple[nn.Module, History]:
    """Load the cached network for this exact configuration, else train it (and cache it).

    `dataset` defaults to the course's (`use_dataset`); X defaults to the preset's number of its
    training images, X_val to 2,000 of its test images (none for supervised training, where true
    labels `y` come with X). The checkpoint is keyed by the dataset, the data, the task, the
    backbone and every setting, so a network trained on one dataset is never loaded for another.
    A corrupt or mismatched checkpoint is retrained with a warning; an interrupted run resumes.
    """
    if not isinstance(task, PretextTask):
        raise TypeError(f"task must be a PretextTask, got {type(task).__name__}")
    source = resolve_dataset(dataset)
    settings = resolve_preset(preset, task, arch, dataset=source, **overrides)
    from_dataset = X is None or tuple(X.shape[1:]) == (source.channels, source.size, source.size)
    if X is None:
        X = pretrain_split(settings["num_images"], seed=seed, dataset=source)
    if X_val is None and y is None and from_dataset:
        X_val = source.load("test")[0][:2000]
    check_images(X, min_size=task.min_size)
    config = {"task": task.config(), "arch": arch, "in_channels": X.shape[1], "seed": seed, "dataset": source.key,
              "data": fingerprint(X), "val": fingerprint(X_val) if X_val is not None else None,
              "labels": fingerprint(y) if y is not None else None,
              **{k: v for k, v in settings.items() if k != "num_images"}}
    path = checkpoint_path(task, arch, config)
    device = try_device(device)
    net = build_net(task, arch, X.shape[1], settings["width"], seed)
    if cache and path.exists():
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if state.get("config") != json.loads(json.dumps(config, default=str)):
                raise ValueError("its configuration differs from the one asked for")
            net.load_state_dict(state["net"])
            if progress:
                print(f"Loaded the trained network from {path}")
            return net.to(device).eval(), History(state["history"])
        except Exception as err:  # a half-written or foreign file must never stop a lesson
            warnings.warn(f"Checkpoint {path} could not be used ({err}); training again.")
            path.unlink(missing_ok=True)
    partial = path.with_name(path.stem + ".partial.pt") if cache else None
    # a silent run (progress=False: a study's, lesson 4's) has no curve on screen: its held-out
    # accuracy is measured once, after the last epoch
    fit_settings = {k: v for k, v in settings.items() if k not in ("num_images", "width")}
    fit_settings["validate"] = "every epoch" if progress else "last epoch"
    try:
        history = fit(net, task, X, X_val=X_val, seed=seed, device=device, progress=progress,
                      checkpoint=partial, y=y, **fit_settings)
    except (RuntimeError, KeyError, EOFError, ValueError) as err:
        if not (partial and partial.exists()):
            raise
        warnings.warn(f"Partial checkpoint {partial} could not be resumed ({err}); starting over.")
        partial.unlink()
        net = build_net(task, arch, X.shape[1], settings["width"], seed)
        history = fit(net, task, X, X_val=X_val, seed=seed, device=device, progress=progress,
                      checkpoint=partial, y=y, **fit_settings)
    if cache:
        _atomic_save({"config": json.loads(json.dumps(config, default=str)), "net": net.state_dict(),
                      "history": dict(history)}, path)
        partial.unlink(missing_ok=True)
    return net, history
