"""Threads for the machine as it is: the CPUs this process may use, and OpenMP threads that do not spin.

`os.cpu_count()` counts the machine's cores, not the ones a process gets: a CPU affinity mask
(`taskset`, a batch scheduler) or a container's CPU quota (cgroup v2 `cpu.max`, v1
`cpu.cfs_quota_us`) gives it fewer, and threads beyond those only wait for each other.
`usable_cpus` reads both; `thread_env` is the environment a kernel starts with (set before torch
loads: OpenMP reads it once), whose wait policy makes an idle OpenMP thread sleep at once instead
of spinning on a core that another process (a browser, a video call) needs. `training_threads`
goes one step further while a network trains on the CPU: where other processes keep some of those
CPUs busy right now, training takes only the free ones, since a thread that shares its core with a
busy process holds back every parallel step of the others.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# PASSIVE: libgomp's (PyTorch's OpenMP on Linux) idle threads sleep instead of spinning; KMP_BLOCKTIME=0
# does the same for Intel's OpenMP (some conda builds); both leave a busy loop's core to its owner
WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def affinity_cpus() -> int:
    """The number of CPUs in this process's affinity mask (all of them where the OS has no masks)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def quota_cpus(root=CGROUP_ROOT, proc_cgroup="/proc/self/cgroup") -> float | None:
    """The CPUs a cgroup quota allows this process (e.g. 1.5), or None without a quota.

    cgroup v2: `cpu.max` ("max 100000" or "QUOTA PERIOD") in the process's cgroup and its parents;
    v1: `cpu.cfs_quota_us` / `cpu.cfs_period_us` in the cpu controller's folder. The smallest
    quota on the way up to the root holds.
    """
    root = Path(root)
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # v2, unified
            for folder in _up_to(root, rel):
                limits.append(_v2_limit(folder / "cpu.max"))
        elif "cpu" in controllers.split(","):
            for base in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                if base.is_dir():
                    for folder in _up_to(base, rel):
                        limits.append(_v1_limit(folder))
                    break
    limits = [x for x in limits if x is not None]
    return min(limits) if limits else None


def _up_to(base: Path, rel: str):
    # the cgroup's folder and every parent up to the hierarchy's root (a container sees its own as "/")
    parts = [p for p in rel.strip("/").split("/") if p and p != ".."]
    for n in range(len(parts), -1, -1):
        folder = base.joinpath(*parts[:n])
        if folder.is_dir():
            yield folder


def _v2_limit(path: Path) -> float | None:
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _v1_limit(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cpus(root=CGROUP_ROOT, proc_cgroup="/proc/self/cgroup") -> int:
    """The CPUs this process may use: its affinity mask, capped by a container's CPU quota (rounded up), at least 1."""
    n = affinity_cpus()
    quota = quota_cpus(root, proc_cgroup)
    if quota is not None:
        n = min(n, max(1, math.ceil(quota - 1e-9)))
    return max(1, n)


def thread_env(threads: int | None = None, environ=None) -> dict:
    """The entries a kernel's environment gets: the OpenMP wait policy, and a thread count where the CPUs are limited.

    `threads` defaults to `usable_cpus()`, and is set (OpenMP, MKL, OpenBLAS) only where it is
    fewer than the machine's CPUs (an affinity mask or a quota): elsewhere torch's own choice, one
    thread per physical core, is kept. An entry already in `environ` (default: this process's
    environment), even empty, is kept: a student's or the grader's own choice wins.
    """
    environ = os.environ if environ is None else environ
    if threads is None:
        threads = usable_cpus()
        limited = threads < (os.cpu_count() or threads)
    else:
        limited = True
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    wanted = dict(WAIT_POLICY)
    if limited:
        wanted.update({k: str(threads) for k in THREAD_VARIABLES})
    return {k: v for k, v in wanted.items() if k not in environ}


def apply() -> int:
    """In this process: torch's intra-op threads capped at `usable_cpus()` unless $OMP_NUM_THREADS chose them; returns the count.

    torch starts with one thread per physical core of the machine, so a smaller affinity mask or
    a container's quota would leave threads waiting for CPUs they cannot have.
    """
    import torch

    if os.environ.get("OMP_NUM_THREADS"):  # torch read it when it loaded: a choice made outside wins
        return torch.get_num_threads()
    threads = min(torch.get_num_threads(), usable_cpus())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def cpu_times(cpus=None, stat="/proc/stat") -> tuple[int, int] | None:
    """(all, idle) clock ticks so far of the CPUs numbered in `cpus` (default: this process's affinity mask),
    from Linux's /proc/stat; None where it cannot be read."""
    if cpus is None:
        try:
            cpus = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            return None
    wanted = {f"cpu{n}" for n in cpus}
    total = idle = 0
    try:
        with open(stat) as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] in wanted:
                    values = [int(v) for v in fields[1:9]]
                    total, idle = total + sum(values), idle + values[3] + values[4]  # idle and iowait
    except (OSError, ValueError, IndexError):
        return None
    return (total, idle) if total else None


def busy_cpus(window: float = 0.1, times=cpu_times) -> float | None:
    """How many CPUs' worth of work other processes did over the next `window` seconds while this one slept."""
    before = times()
    time.sleep(window)
    after = times()
    if before is None or after is None or after[0] <= before[0]:
        return None
    total, idle = after[0] - before[0], after[1] - before[1]
    return (total - idle) / total * affinity_cpus()


def free_cpus(busy: float | None = None) -> int:
    """The usable CPUs (`usable_cpus`) that other processes are not keeping busy now, at least 1.

    A process that keeps at least half a CPU busy takes that CPU (`busy` rounded half up); `busy`
    defaults to `busy_cpus()`; where it cannot be measured every usable CPU counts as free.
    """
    usable = usable_cpus()
    busy = busy_cpus() if busy is None else busy
    if busy is None:
        return usable
    return max(1, min(usable, usable - math.floor(busy + 0.5)))


@contextlib.contextmanager
def training_threads(device_type: str = "cpu"):
    """Train on the CPUs that are free now (`free_cpus`), then give torch its threads back.

    Only on the CPU, and only where neither a student nor the grader chose the threads
    ($OMP_NUM_THREADS): their choice wins.
    """
    import torch

    before = torch.get_num_threads()
    if device_type != "cpu" or os.environ.get("OMP_NUM_THREADS") or before < 2:
        yield before
        return
    threads = min(before, free_cpus())
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)
