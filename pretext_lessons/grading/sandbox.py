"""What a grading kernel can reach: a bubblewrap sandbox where one works, and the processes left to end.

With `bwrap` (Debian package `bubblewrap`) each kernel's file system is built from nothing: the
system's programs and libraries, the Python it runs, a copy of the package and the exercise's data,
read-only, and a private writable working folder (`visible_paths` lists them); no course folder, so
no `.git` history, no `solutions/`, no reports, no other submissions; no network, and only its own
processes (a pid namespace: when the kernel ends, everything it started ends with it). Without it
(`--no-sandbox` only), the grader still ends every process a submission started, found by a marker
variable in its environment that a new session does not shed.
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
UNSANDBOXED = "unsandboxed"  # what reports and the gradebook say of a submission graded with --no-sandbox
_said = set()


def say_once(message: str) -> None:
    """Print a note about the grader's set-up once per process."""
    if message not in _said:
        _said.add(message)
        print(f"grade: {message}", file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=1)
def bwrap_status() -> tuple[str | None, str]:
    """(path of a working bwrap, "") or (None, why there is no sandbox here)."""
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


def prepare_home(workdir: Path) -> dict:
    """A private home and data folder for a sandboxed kernel; the environment entries that name them.

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


# the system files a kernel needs from /etc (users, libraries, time zone, fonts); the rest of /etc stays out
ETC_FILES = ("passwd", "group", "nsswitch.conf", "hosts", "host.conf", "localtime", "timezone", "ld.so.cache",
             "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "mime.types", "os-release")
# the environment variables a grading kernel may inherit from the grader; everything else (tokens, proxies,
# paths to the grader's files) is left out and the grader sets its own (see grader.grading_env)
ENV_ALLOWED = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "PRETEXT_LESSONS_DATASET", "PRETEXT_LESSONS_RESULTS_CACHE")
PACKAGE = "pretext_lessons"
# copied from the course's package into a grading copy: code and the packaged visible tests, never caches
PACKAGE_SKIP = ("__pycache__", "*.pyc", "*.pyo", ".*")


def package_copy(dest: Path, source: Path | None = None) -> Path:
    """Copy the course's package into `dest`/pretext_lessons (no caches, no dot files), compiled; returns `dest`.

    The copy is what a sandboxed kernel imports: the course folder itself (its `.git`, `solutions/`,
    `exercises/`, build outputs) is never shown to a submission. It is compiled here because the
    kernel sees it read-only and could not write its own bytecode.
    """
    import compileall

    source = Path(source or ROOT / PACKAGE)
    dest = Path(dest)
    shutil.copytree(source, dest / PACKAGE, ignore=shutil.ignore_patterns(*PACKAGE_SKIP), dirs_exist_ok=True)
    compileall.compile_dir(dest / PACKAGE, quiet=1, workers=1)
    return dest


def python_paths() -> list[Path]:
    """The folders the kernel's Python runs from (the virtual environment and its base Python), read-only."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    exe = Path(sys.executable)
    paths += [exe.parent, exe.resolve().parent.parent]
    seen, out = set(), []
    for p in paths:
        p = Path(os.path.abspath(p))
        if p.exists() and p != Path("/") and p not in seen:
            seen.add(p)
            out.append(p)
    # a folder inside another one already bound needs no bind of its own
    return [p for p in out if not any(q != p and _inside(p, q) for q in out)]


TMPFS_BYTES = 512 * 2**20  # the sandbox's /tmp and /dev/shm, each


@functools.lru_cache(maxsize=4)
def _bwrap_has_size(bwrap: str) -> bool:
    try:
        return "--size" in subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def visible_paths(workdir: Path, package_root: Path) -> dict:
    """What a sandboxed kernel sees, by role: read-only system, Python, package, data; writable workdir.

    Documented in the README ("What a submission sees"); `bwrap_prefix` builds its command from it.
    """
    system = [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32") if Path(p).exists()]
    etc = [Path("/etc") / name for name in ETC_FILES if (Path("/etc") / name).exists()]
    fashion = data_dir().resolve() / "fashion-mnist"
    return {"system": system + etc, "python": python_paths(), "package": [Path(package_root)],
            "data": [fashion] if fashion.is_dir() else [], "writable": [Path(workdir)]}


def bwrap_prefix(bwrap: str, workdir: Path, package_root: Path) -> list[str]:
    """The command that starts a kernel in the sandbox (the kernel's own command follows it).

    The kernel's file system is built from nothing: the system's programs and libraries, a few
    files of /etc, the Python it runs, the package copy in `package_root` (see `package_copy`) and
    the exercise's data, all read-only; its working folder `workdir` writable; /tmp, /dev/shm and
    the rest empty. No course folder, no `.git`, no `solutions/`, no home, no other submission, no
    report. No network, its own processes (a pid namespace), its own session.
    """
    # the empty folders first: a bind made before a tmpfs on its parent would vanish under it. /tmp and
    # /dev/shm live in memory that RLIMIT_AS does not count: capped where bwrap can (--size, bwrap >= 0.8)
    size = ["--size", str(TMPFS_BYTES)] if _bwrap_has_size(bwrap) else []
    args = [bwrap, "--tmpfs", "/", "--dev", "/dev", "--proc", "/proc", *size, "--tmpfs", "/tmp",
            *size, "--tmpfs", "/dev/shm"]
    visible = visible_paths(workdir, package_root)
    for path in visible["system"]:
        if path.is_symlink() and path.parent == Path("/"):
            args += ["--symlink", os.readlink(path), str(path)]  # merged /usr: /bin -> usr/bin
        else:
            args += ["--ro-bind", str(path), str(path)]
    for path in visible["python"] + visible["package"]:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(workdir), str(workdir)]
    for fashion in visible["data"]:
        args += ["--ro-bind", str(fashion), str(workdir / "data" / "fashion-mnist")]
    # inside, the kernel's parent is the namespace's init: a kernel told its parent's pid would think it had died
    args += ["--unshare-all", "--die-with-parent", "--new-session", "--unsetenv", "JPY_PARENT_PID",
             "--chdir", str(workdir / "run"), "--"]
    return args


def marked_processes(token: str) -> list[int]:
    """The pids of processes whose environment carries MARKER=token (Linux /proc; [] elsewhere)."""
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
    """Kill the process groups `groups` and every process marked with `token`; how many marked ones there were.

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
