"""What a grading kernel can reach: a bubblewrap sandbox where one works, and the processes left to end.

With `bwrap` (Debian package `bubblewrap`) each kernel sees the system read-only, a private
writable working folder, an empty home, no `solutions/`, no reports, no other submissions, no
network, and only its own processes (a pid namespace: when the kernel ends, everything it started
ends with it). Without it, the grader still ends every process a submission started, found by a
marker variable in its environment that a new session does not shed.
"""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..core.data import data_dir
from ..notebook.execute import ROOT

MARKER = "PRETEXT_LESSONS_GRADING_RUN"  # set in a kernel's environment; its value names the submission's run
INSTALL_HINT = "install it with: sudo apt-get install bubblewrap"
_said = set()


def say_once(message: str) -> None:
    """Lesson 0: print a note about the grader's set-up once per process."""
    if message not in _said:
        _said.add(message)
        print(f"grade: {message}", file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=1)
def bwrap_status() -> tuple[str | None, str]:
    """Lesson 0: (path of a working bwrap, "") or (None, why there is no sandbox here)."""
    path = shutil.which("bwrap")
    if path is None:
        return None, f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
    probe = [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
             "--die-with-parent", "--", "/bin/sh", "-c", "exit 0"]
    try:
        done = subprocess.run(probe, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"bwrap could not be run ({err})"
    if done.returncode != 0:
        # typically: user namespaces are disabled for this user, or the container forbids mounts
        return None, f"bwrap cannot create its namespaces here ({done.stderr.strip()[:200] or done.returncode})"
    return path, ""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _existing(paths) -> list[Path]:
    seen, out = set(), []
    for p in paths:
        if p is None:
            continue
        p = Path(p).resolve()
        if p.exists() and p not in seen:
            seen.add(p)
            out.append(p)
    return out


def prepare_home(workdir: Path) -> dict:
    """Lesson 0: a private home and data folder for a sandboxed kernel; the environment entries that name them.

    Fashion-MNIST is bound read-only from the grader's cache; small caches (jigsaw permutations,
    matplotlib's font list) are copied so the kernel neither recomputes them nor writes to ours.
    """
    home, data = workdir / "home", workdir / "data"
    home.mkdir(parents=True, exist_ok=True)
    (data / "fashion-mnist").mkdir(parents=True, exist_ok=True)
    real = data_dir()
    if (real / "permutations").is_dir():
        shutil.copytree(real / "permutations", data / "permutations", dirs_exist_ok=True)
    mpl_cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    if mpl_cache.is_dir():
        (home / "mpl").mkdir(exist_ok=True)
        for f in mpl_cache.glob("fontlist-*.json"):
            shutil.copy(f, home / "mpl" / f.name)
    return {"HOME": str(home), "PRETEXT_LESSONS_DATA": str(data), "MPLCONFIGDIR": str(home / "mpl"),
            "XDG_CACHE_HOME": str(home / ".cache")}


def bwrap_prefix(bwrap: str, workdir: Path, hide=()) -> list[str]:
    """Lesson 0: the command that starts a kernel in the sandbox (the kernel's own command follows it).

    Read-only: the whole system. Private and empty: /tmp, /dev/shm, the home folder, and every folder
    in `hide` (solutions, reports, submissions). Writable: `workdir` only. No network, own processes.
    """
    home = Path.home().resolve()
    masked = [Path("/tmp"), Path("/dev/shm")]
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--tmpfs", "/dev/shm"]
    if home != Path("/") and home.exists():
        args += ["--tmpfs", str(home)]
        masked.append(home)
    # what the kernel needs from a folder made private above (the course and its Python, e.g. a clone
    # under /tmp or in the grader's home) comes back, read-only
    needed = _existing([ROOT, sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent])
    for path in needed:
        if any(_inside(path, folder) for folder in masked):
            args += ["--ro-bind", str(path), str(path)]
    for path in _existing(hide):
        if path != Path("/") and not any(_inside(keep, path) for keep in _existing([ROOT, sys.prefix])):
            args += ["--tmpfs", str(path)]
    args += ["--bind", str(workdir), str(workdir)]
    fashion = data_dir().resolve() / "fashion-mnist"
    if fashion.is_dir():
        args += ["--ro-bind", str(fashion), str(workdir / "data" / "fashion-mnist")]
    # inside, the kernel's parent is the namespace's init: a kernel told its parent's pid would think it had died
    args += ["--unshare-all", "--die-with-parent", "--unsetenv", "JPY_PARENT_PID", "--chdir", str(workdir / "run"),
             "--"]
    return args


def marked_processes(token: str) -> list[int]:
    """Lesson 0: the pids of processes whose environment carries MARKER=token (Linux /proc; [] elsewhere)."""
    wanted = f"{MARKER}={token}".encode()
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if wanted in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def end_processes(token: str, groups=()) -> int:
    """Lesson 0: kill the process groups `groups` and every process marked with `token`; how many marked ones there were.

    A process may fork while its siblings die, so the scan repeats until it finds none.
    """
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    ended = set()
    for _ in range(20):
        pids = marked_processes(token)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                ended.add(pid)
            except OSError:
                pass
        time.sleep(0.05)
    return len(ended)
