"""Where a lesson's time goes: wall seconds per phase (training, features, probes, ...), off unless asked for.

`benchmarks/bench_course.py` sets $PRETEXT_LESSONS_PROFILE to a file for each kernel; the
package's entry points are wrapped in `phase(name)`, which then adds the wall seconds spent inside
them to a per-process table and writes it to that file (JSON, {phase: seconds}) whenever the
outermost phase ends. Nested phases are counted once: time goes to the innermost phase running, so
features extracted inside a probe count as "features" and the probe's own fits as "probes", and the
table sums to the time spent inside any phase. With the variable unset, `phase` costs one check.
"""
from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

PROFILE_VARIABLE = "PRETEXT_LESSONS_PROFILE"
PHASES = ("training", "checkpoints", "features", "probes", "statistics", "plotting")

_file: Path | None = None
_table: dict[str, float] = {}
_stack: list[list] = []  # [name, start of its current exclusive stretch]


def configure(path=None) -> Path | None:
    """Profile into `path` (default: $PRETEXT_LESSONS_PROFILE; empty or unset: off); returns the file or None."""
    global _file
    path = os.environ.get(PROFILE_VARIABLE) if path is None else path
    _file = Path(path) if path else None
    _table.clear()
    _stack.clear()
    return _file


def enabled() -> bool:
    """Whether phases are being recorded in this process."""
    return _file is not None


def table() -> dict[str, float]:
    """The seconds recorded so far per phase (a copy)."""
    return dict(_table)


class phase:
    """`with phase("probes"):` or `@phase("probes")`: count the wall seconds inside as that phase (see the module)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = name

    def __enter__(self):
        if _file is not None:
            now = time.perf_counter()
            if _stack:  # the enclosing phase pauses while this one runs
                outer = _stack[-1]
                _table[outer[0]] = _table.get(outer[0], 0.0) + now - outer[1]
            _stack.append([self.name, now])
        return self

    def __exit__(self, *exc):
        if _file is not None and _stack:
            now = time.perf_counter()
            name, start = _stack.pop()
            _table[name] = _table.get(name, 0.0) + now - start
            if _stack:
                _stack[-1][1] = now  # the enclosing phase resumes
            else:
                _write()
        return False

    def __call__(self, fn):
        name = self.name

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if _file is None:
                return fn(*args, **kwargs)
            with phase(name):
                return fn(*args, **kwargs)

        return wrapped


def _write() -> None:
    try:
        tmp = _file.with_name(_file.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_table))
        os.replace(tmp, _file)
    except OSError:  # a profile must never stop a lesson
        pass


def profile_plotting() -> None:
    """Count matplotlib's drawing of figures (the inline backend's, at the end of a cell) as "plotting"."""
    if _file is None:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    if getattr(FigureCanvasBase.print_figure, "_profiled", False):
        return
    FigureCanvasBase.print_figure = phase("plotting")(FigureCanvasBase.print_figure)
    FigureCanvasBase.print_figure._profiled = True


configure()
