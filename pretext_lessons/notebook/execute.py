"""Executing notebooks headless: the course run, the tests and the grader all go through here."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

from ..core.data import DATASET_VARIABLE, resolve_dataset
from ..core.threads import thread_env

ROOT = Path(__file__).resolve().parents[2]  # the course folder: notebooks/, exercises/, solutions/
BUILD = ROOT / "build"
PRESET_CHOICES = ("quick", "full")  # what the course command's --preset writes into each lesson's settings cell
_PRESET_LINE = re.compile(r"^PRESET\s*=\s*(\"[^\"]*\"|'[^']*')", re.MULTILINE)


class SlicedChannel(AsyncZMQSocketChannel):
    """A kernel channel that waits for a message in slices of a second, up to the caller's timeout.

    One long wait on the socket can miss the wake-up of a message that arrived (seen after cells
    that open widgets): the client then sat until the cell's whole time limit although the reply
    was there. Waiting again every second looks at the socket afresh.
    """

    async def get_msg(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=step)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedKernelClient(AsyncKernelClient):
    """The kernel client of every notebook the course executes (see `SlicedChannel`)."""

    shell_channel_class = Type(SlicedChannel)
    iopub_channel_class = Type(SlicedChannel)


def kernel_env(**extra) -> dict:
    """The environment entries a kernel needs to import this package (PYTHONPATH), plus `extra`.

    The one place the kernels' PYTHONPATH is built (the grader, the tests, the benchmarks). The course
    folder comes first, as an absolute path: a kernel starts in its notebook's folder, where a relative
    entry (e.g. ".") would not find the package.
    """
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT)] + [str(Path(p).resolve()) for p in inherited
                                                         if Path(p).resolve() != ROOT])}
    # the threads and OpenMP wait policy for the CPUs this process may use (core/threads.py); a
    # thread count in `extra` (the grader's share per job) sets the pools' size instead
    threads = extra.get("OMP_NUM_THREADS")
    env.update(thread_env(int(threads) if threads else None))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def lesson_paths(folder: str = "notebooks") -> list[Path]:
    """The notebooks of a course folder, in lesson order."""
    path = ROOT / folder
    if not path.is_dir():
        raise FileNotFoundError(f"folder must be one of the course's folders (notebooks, solutions, exercises); "
                                f"{path} does not exist")
    return sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))


def set_preset(nb, preset: str) -> bool:
    """Write `PRESET = "<preset>"` in the notebook's settings cell (the first code cell that sets PRESET).

    Returns whether a cell was changed (a notebook without a PRESET line is left as it is); the line's
    comment is kept, so the executed copy shows the value it ran with.
    """
    if preset not in PRESET_CHOICES:
        raise ValueError(f"preset must be one of {PRESET_CHOICES}, got {preset!r}")
    for cell in nb.cells:
        if cell.cell_type == "code" and _PRESET_LINE.search(cell.source):
            cell.source = _PRESET_LINE.sub(f'PRESET = "{preset}"', cell.source, count=1)
            return True
    return False


def execute_notebook(path, out_path=None, timeout: int = 600, env: dict | None = None,
                     allow_errors: bool = False, cwd=None, preset: str | None = None):
    """Run a notebook top to bottom in a fresh kernel; returns the executed notebook and seconds.

    `env` entries are set in the kernel's environment (e.g. the grading variable), on top of the
    threads and wait policy of `core.threads.thread_env`; the executed copy is written to
    `out_path` when given, even when a cell fails (the error is re-raised).
    `preset` replaces the settings cell's PRESET (`set_preset`).
    """
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if preset is not None:
        set_preset(nb, preset)
    env = {**thread_env(), **(env or {})}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    # Unix sockets in a folder of its own: kernels started at the same time by other processes (a
    # second test run, a grading shard) cannot take this kernel's TCP ports between their choice and
    # their binding, which leaves a client waiting for a reply that went elsewhere
    sockets = Path(tempfile.mkdtemp(prefix="pretext-kernel-"))
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "k"),
                            connection_file=str(sockets / "kernel.json"),
                            client_class="pretext_lessons.notebook.execute.SlicedKernelClient")
    client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        seconds = time.perf_counter() - start
        # a kernel manager handed to the client is not shut down by it: end the kernel here
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(sockets, ignore_errors=True)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if out_path is not None:
            out_path = Path(out_path)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out_path)
    return nb, seconds


def run_course(folder: str = "notebooks", out_dir=None, names=None, dataset=None,
               preset: str | None = None) -> dict[str, float]:
    """Execute every lesson in order, keep the executed copies in build/, return seconds per lesson.

    With `dataset` (a name or a folder of images) every lesson runs on it: the kernels get
    $PRETEXT_LESSONS_DATASET, which `use_dataset` in each lesson prefers to the notebook's DATASET line.
    With `preset` ("quick" or "full") each lesson's settings cell says PRESET = preset (`set_preset`).
    """
    if preset is not None and preset not in PRESET_CHOICES:
        raise ValueError(f"preset must be one of {PRESET_CHOICES}, got {preset!r}")
    out_dir = Path(out_dir or BUILD / folder)
    env = None
    if dataset is not None:
        env = {DATASET_VARIABLE: resolve_dataset(dataset).name}  # a bad value fails here, before any kernel starts
    times = {}
    for path in lesson_paths(folder):
        if names and path.stem not in names:
            continue
        print(f"running {path.relative_to(ROOT)} ...", flush=True)
        _, seconds = execute_notebook(path, out_dir / path.name, env=env, preset=preset)
        times[path.name] = seconds
        print(f"  done in {seconds:.0f} s -> {out_dir / path.name}", flush=True)
    return times
