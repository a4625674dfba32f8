"""One network of a comparison, as every experiment passes it: the `Network` record.

`budgets.train_networks`, `summary.control_networks` and `summary.reference_networks` return
lists of them; the probing, suite, positive-control, transfer and fine-tuning functions read any
sequence that unpacks as (task, arch, seed, net), which a `Network` does, so a test may still pass
plain tuples.
"""
from __future__ import annotations

import dataclasses

from torch import nn

from ..core.task import PretextTask


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """A pretext, control or reference network and what it is.

    task: the PretextTask it was trained on (a `references.NoSignal` for a no-signal control, a
    `references.ProbedAs` for a reference shown images as a task shows them), or a baseline's name
    (`table.RANDOM`, `table.SUPERVISED`); arch: the architecture label of its results rows ("cnn",
    "resnet", "cnn-w8"); seed: its pretraining seed; net: the module; budget: what its pretraining or
    calibration read, dict(num_images, num_epochs), None where nothing was read.

    It unpacks, and indexes, as (task, arch, seed, net): the four things a results row is keyed by.
    """

    task: object
    arch: str
    seed: int
    net: nn.Module
    budget: dict | None = None

    def __post_init__(self):
        if not isinstance(self.task, (PretextTask, str)) or self.task == "":
            raise TypeError(f"task must be a PretextTask or a baseline's name, got {self.task!r}")
        if not isinstance(self.arch, str) or not self.arch:
            raise TypeError(f"arch must be a non-empty string, got {self.arch!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.net, nn.Module):
            raise TypeError(f"net must be a torch.nn.Module, got {type(self.net).__name__}")
        if self.budget is not None and set(self.budget) != {"num_images", "num_epochs"}:
            raise ValueError(f"budget must be None or dict(num_images, num_epochs), got {self.budget!r}")

    def __iter__(self):
        return iter((self.task, self.arch, self.seed, self.net))

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index):
        return (self.task, self.arch, self.seed, self.net)[index]

    @property
    def name(self) -> str:
        """The name of its results rows: the task's name, or the baseline's."""
        return self.task.name if isinstance(self.task, PretextTask) else self.task

    @property
    def preprocess(self):
        """How it is shown images: its task's preprocess, None (plain images) for a baseline."""
        return self.task.preprocess if isinstance(self.task, PretextTask) else None
