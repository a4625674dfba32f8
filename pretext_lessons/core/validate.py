"""Argument checks shared by the whole package: each error names the argument, what was expected and what came."""
from __future__ import annotations

import numbers
import os
from pathlib import Path

import torch


def check_int(name: str, value, lowest: int = 1, highest: int | None = None, hint: str = "") -> int:
    """`value` as an int in lowest..highest (a bool is not an int here), else a ValueError naming `name`.

    `hint` is added to the message, e.g. " (cells are 9 px)".
    """
    if highest is not None:
        wanted = f"an integer in {lowest}..{highest}"
    else:
        wanted = {1: "a positive integer", 0: "a non-negative integer"}.get(lowest, f"an integer >= {lowest}")
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not ok or value < lowest or (highest is not None and value > highest):
        # a ValueError for a wrong type too, so callers catch one kind of bad argument
        raise ValueError(f"{name} must be {wanted}{hint}, got {value!r}")
    return int(value)


def check_generator(generator, device=None, name: str = "generator"):
    """`generator` as a torch.Generator on `device` (None passes: torch's global random state).

    A generator on another device than the data would fail deep inside torch with a message about
    devices; this says which argument to change.
    """
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__}")
    if device is not None:
        want, have = torch.device(device), generator.device
        # "cuda" and "cuda:0" are the same device when one of them leaves the index open
        if want.type != have.type or (None not in (want.index, have.index) and want.index != have.index):
            raise ValueError(f"{name} must live on the data's device ({want}), got one on {have}; "
                             f"make it with torch.Generator(device=X.device)")
    return generator


def check_paths(name: str, paths, kind: str = "file", what: str = "files") -> list[Path]:
    """One path or several as a non-empty list of Paths that exist as `kind` ("file" or "dir").

    `what` names them in the message, e.g. "notebook files".
    """
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError(f"{name} must name at least one of the {what}, got none")
    exists = Path.is_file if kind == "file" else Path.is_dir
    missing = [str(p) for p in paths if not exists(p)]
    if missing:
        raise FileNotFoundError(f"{name} must be {what}; not found: {', '.join(missing)}")
    return paths
