"""The pretext-task interface: how unlabelled images become inputs and pseudo labels.

A task is a small dataclass with three duties:

* ``make_batch(X, generator)``: float images ``X`` (N, C, H, W) in [0, 1], already on the
  training device, to ``(inputs, y)``: what the network reads and the pseudo labels
  (int64, 0 <= y < num_classes). All randomness comes from ``generator`` (a ``torch.Generator``
  on X's device), so a seed repeats a run exactly.
* ``build_net(trunk)``: the network that solves the task around a backbone. It must keep the
  backbone as its ``trunk`` attribute, so the layer-wise probes can read it on whole images.
  The default is the backbone followed by one linear layer.
* ``preprocess(X)``: how a whole image is shown to the trained trunk downstream (for a task
  that normalises each tile, the same normalisation); the default shows it as it is.

A task that predicts several things per input (lesson 7's masked task: every cell of every masked
patch) returns them flattened, ``labels_per_input`` (a class attribute or property, default 1)
labels per input in input order, and its network returns one row of logits per label; the fit
loop's cross-entropy and accuracy then run over labels, not inputs.

``num_classes`` and ``min_size`` (smallest image side accepted) are fields; every field
of the dataclass goes into the checkpoint key, so changing one retrains. A task whose geometry
fixes its smallest image (tiles, patches) declares ``min_size = dataclasses.field(default=...,
init=False)`` and computes it from that geometry in ``__post_init__``.
"""
from __future__ import annotations

import dataclasses
import hashlib

import torch
from torch import nn

from .validate import check_int


class PretextNet(nn.Module):
    """A backbone (`trunk`) and a linear `head` that predicts the pseudo label."""

    def __init__(self, trunk: nn.Module, num_classes: int):
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(trunk.out_features, num_classes)

    def forward(self, x):
        return self.head(self.trunk(x))


class MultiPartNet(nn.Module):
    """One shared trunk on each of K parts (N, K, C, h, w), features concatenated, a two-layer head.

    The network of every task that cuts its input into parts: the jigsaw's context-free network
    (K tiles) and relative position's late fusion (K = 2 patches). The parts meet only in the
    head, so the trunk never sees two of them together. `hidden` defaults to twice the trunk's
    features.
    """

    def __init__(self, trunk: nn.Module, num_parts: int, num_classes: int, hidden: int | None = None):
        super().__init__()
        self.trunk, self.num_parts = trunk, check_int("num_parts", num_parts)
        features = trunk.out_features
        hidden = 2 * features if hidden is None else check_int("hidden", hidden)
        self.head = nn.Sequential(nn.Linear(num_parts * features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, check_int("num_classes", num_classes)))

    def forward(self, parts: torch.Tensor) -> torch.Tensor:
        if parts.dim() != 5 or parts.shape[1] != self.num_parts:
            raise ValueError(f"parts must be (N, {self.num_parts}, C, h, w), {self.num_parts} parts per input, "
                             f"got shape {tuple(parts.shape)}")
        # all N * K parts through the trunk as one batch: the same weights see every position
        features = self.trunk(parts.flatten(0, 1))
        return self.head(features.reshape(len(parts), -1))


@dataclasses.dataclass
class PretextTask:
    """The base class of every pretext task (see the module docstring)."""

    num_classes: int = 2
    min_size: int = 1

    name = "task"
    labels_per_input = 1  # a class attribute, not a field: the classic tasks' checkpoint keys stay as they were

    def make_batch(self, X: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define make_batch(X, generator)")

    def build_net(self, trunk: nn.Module) -> nn.Module:
        return PretextNet(trunk, self.num_classes)

    def preprocess(self, X: torch.Tensor) -> torch.Tensor:
        return X

    def config(self) -> dict:
        """Everything that defines the task, for the checkpoint key (its code included)."""
        return {"task": type(self).__name__, "name": self.name, **dataclasses.asdict(self),
                "code": code_fingerprint(type(self))}


def _code_parts(code):
    yield code.co_code
    yield repr(code.co_names).encode()
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            yield from _code_parts(const)
        else:
            yield repr(const).encode()


def code_fingerprint(cls) -> str:
    """A hash of the methods a task class defines, so editing make_batch in a notebook retrains."""
    digest = hashlib.sha256()
    for klass in cls.__mro__:
        if klass is PretextTask or klass is object:
            break
        for name, value in sorted(vars(klass).items()):
            code = getattr(value, "__code__", None)
            if code is not None:
                digest.update(name.encode())
                for part in _code_parts(code):
                    digest.update(part)
    return digest.hexdigest()[:12]


@dataclasses.dataclass
class SupervisedTask(PretextTask):
    """Training with the true labels, the reference for "aligned" features (pass y to train_or_load)."""

    num_classes: int = 10

    name = "supervised"
    # the images of the pretext tasks' quick recipes: the reference every lesson compares with is
    # trained on the budget of the networks it is compared with
    presets = {"quick": dict(num_images=4000)}

    def make_batch(self, X, generator, y=None):
        if y is None:
            raise ValueError("SupervisedTask needs the true labels: call train_or_load(task, X=X, y=y)")
        return X, y


def check_task_batch(task: PretextTask, X: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a task on a batch and check its promises, with a message you can act on."""
    g = torch.Generator(device=X.device).manual_seed(seed)
    out = task.make_batch(X, g)
    name = type(task).__name__
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{name}.make_batch must return a pair (inputs, y), got {type(out).__name__}")
    inputs, y = out
    if not isinstance(inputs, torch.Tensor) or not inputs.dtype.is_floating_point:
        raise TypeError(f"{name}.make_batch: inputs must be a float tensor, got "
                        f"{getattr(inputs, 'dtype', type(inputs).__name__)}")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.dim() != 1:
        raise TypeError(f"{name}.make_batch: y must be a 1-D int64 tensor, got "
                        f"{getattr(y, 'dtype', type(y).__name__)} of shape {tuple(getattr(y, 'shape', ()))}")
    per_input = getattr(task, "labels_per_input", 1)
    if len(y) != per_input * len(inputs):
        raise ValueError(f"{name}.make_batch: {len(inputs)} inputs but {len(y)} labels"
                         + (f" (expected {per_input} per input)" if per_input != 1 else ""))
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= task.num_classes):
        raise ValueError(f"{name}.make_batch: expected labels in 0..{task.num_classes - 1}, "
                         f"got labels from {int(y.min())} to {int(y.max())}")
    again = task.make_batch(X, torch.Generator(device=X.device).manual_seed(seed))
    if not (torch.equal(again[0], inputs) and torch.equal(again[1], y)):
        raise ValueError(f"{name}.make_batch is not deterministic under a seed: draw all randomness "
                         "from the generator argument")
    return inputs, y
