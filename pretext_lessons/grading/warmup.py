"""The networks an exercise's fixed cells train, trained once per class by the grader, copied to each submission.

A fixed cell such as exercise 1's `train_or_load(rotation.RotationTask(), ...)` trains a network
in every kernel that runs it: each submission has a checkpoint folder of its own, so that no
submission ever loads a file another one wrote (a checkpoint is a pickle: loading it runs code).
Grading a class, the grader first runs the exercise's release itself (its fixed cells and the
answer stubs, no tests, no student code) in a kernel held like any other, keeps the finished
checkpoints it wrote, and copies them into each later submission's own folder before its kernel
starts. A submission can still overwrite or add files in its own copy; it never reaches the
grader's. A fixed cell that needs an answer fails in the release and caches nothing, so such a
network is still trained by each submission, from its own answers.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

WARM_UP_FROM = 3  # an exercise with fewer submissions than this in one run is not worth a run of its own


def finished_checkpoints(folder: Path) -> list[Path]:
    """The whole checkpoint files in `folder` (no partial or temporary ones, no links)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.pt") if p.is_file() and not p.is_symlink()
                  and not p.name.endswith(".partial.pt"))


class Warmup:
    """Per exercise, the folder of checkpoints its release trained (see the module), trained on first need.

    `train(name, folder)` runs exercise `name`'s release and leaves its finished checkpoints in
    `folder`; `wanted` names the exercises worth it. `checkpoints(name)` never waits: while one
    grading thread trains an exercise's networks, the others grade without them.
    """

    def __init__(self, root: Path, train, wanted=()):
        self.root, self.train, self.wanted = Path(root), train, set(wanted)
        self.done: dict[str, Path | None] = {}
        self.busy: set[str] = set()
        self.lock = threading.Lock()

    def checkpoints(self, name: str) -> Path | None:
        """The folder of exercise `name`'s warm checkpoints, or None (not wanted, failed, or being trained now)."""
        if name not in self.wanted:
            return None
        with self.lock:
            if name in self.done:
                return self.done[name]
            if name in self.busy:
                return None
            self.busy.add(name)
        folder = self.root / name
        try:
            self.train(name, folder)
            found = folder if finished_checkpoints(folder) else None
        except Exception:  # noqa: BLE001 - without warm checkpoints each submission trains its own, as before
            found = None
        with self.lock:
            self.done[name] = found
            self.busy.discard(name)
        return found


def copy_checkpoints(source: Path | None, dest: Path) -> int:
    """Copy the finished checkpoints of `source` (None: none) into `dest`, a submission's own folder; how many."""
    files = finished_checkpoints(source) if source is not None else []
    if files:
        Path(dest).mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, Path(dest) / f.name)
    return len(files)
