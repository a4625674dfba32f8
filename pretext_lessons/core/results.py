"""Measured results kept beside the checkpoints, so that a second run reads what the first measured.

`train_or_load` caches a network; `load_or_measure` does the same for what is measured on it (the
probe's rows of lessons 1 to 6): it returns the rows stored under a key, else measures them and
stores them. The key holds everything the rows depend on: the network's weights (`state_fingerprint`),
the images and labels (`training.fingerprint`), the settings, and the source files of the code that
measures (`source_fingerprint`), so an edited probe or a retrained network is measured again.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from torch import nn

from .training import checkpoint_dir

RESULTS_VARIABLE = "PRETEXT_LESSONS_RESULTS_CACHE"  # "0" measures everything again (the checkpoints stay)


def state_fingerprint(net: nn.Module) -> str:
    """A short hash of a network's weights and buffers (names, shapes and values)."""
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def source_fingerprint(*modules) -> str:
    """A short hash of the source files of `modules` (module objects): the code that measures."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def results_dir() -> Path:
    """Where measured results are kept: the `results` folder of the checkpoint folder."""
    return checkpoint_dir() / "results"


def load_or_measure(kind: str, key: dict, measure) -> list[dict]:
    """The rows stored for (`kind`, `key`), else `measure()`'s rows, stored for the next run.

    `key` is a JSON-able dict of everything the rows depend on. Rows that do not survive a JSON
    round trip unchanged are returned but not stored; a stored file that cannot be read, or whose
    key differs, is measured again with a warning. $PRETEXT_LESSONS_RESULTS_CACHE=0 turns it off.
    """
    if not isinstance(kind, str) or not kind.isidentifier():
        raise ValueError(f"kind must be a short name made of letters, digits and underscores, got {kind!r}")
    if not isinstance(key, dict):
        raise TypeError(f"key must be a dict describing what the rows depend on, got {type(key).__name__}")
    if os.environ.get(RESULTS_VARIABLE, "1") == "0":
        return measure()
    key = json.loads(json.dumps(key, sort_keys=True, default=str))
    path = results_dir() / f"{kind}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]}.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") != key:
                raise ValueError("its key differs from the one asked for")
            return stored["rows"]
        except Exception as err:  # a half-written or foreign file must never stop a lesson
            warnings.warn(f"Stored results {path} could not be used ({err}); measuring again.")
            path.unlink(missing_ok=True)
    rows = measure()
    try:
        text = json.dumps({"key": key, "rows": rows})
    except (TypeError, ValueError):
        return rows
    if json.loads(text)["rows"] == rows:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return rows
