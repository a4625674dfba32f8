"""A busy laptop: lesson 1 from nothing beside one busy process as a ratio to idle, and whether PASSIVE stays.

Run:  .venv/bin/python benchmarks/bench_busy.py            (both parts, about 6 minutes idle)
      .venv/bin/python benchmarks/bench_busy.py --lesson   (part 1 only)   --policy  (part 2 only)

Part 1: lesson 1 runs headless in a fresh kernel and a fresh, empty checkpoint folder, idle and
beside one busy process, with the course's kernel environment (core/threads.py: threads for the
CPUs this process may use, OpenMP threads that sleep when idle); it prints busy/idle against the
bar (<= 2.5). The busy process is a pure-Python loop (one core, as a browser tab or a video call
takes) that this script starts before each busy run and ends after it, even on an error.
Part 2: the OpenMP wait policy. Rotation's quick training alone (no cache), each run in a new
Python process so the OpenMP settings apply before torch loads, with the course's policy (PASSIVE)
and with OpenMP's default, idle and beside the busy process; it prints PASSIVE/default for each
and decides: PASSIVE stays unless it makes the idle run more than 5% slower (PASSIVE/default idle
> 1.05), whatever it saves beside a busy process.
Runs are interleaved (idle, busy, idle, busy, ...) and the medians compared. Measure on an
otherwise idle machine: other load makes "idle" busy too.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pretext_lessons.core.threads import THREAD_VARIABLES, WAIT_POLICY, thread_env, usable_cpus  # noqa: E402

TRAIN = """
import json, sys, time
from pretext_lessons.core.training import train_or_load
from pretext_lessons.tasks.rotation import RotationTask
import torch
start = time.perf_counter()
train_or_load(RotationTask(), arch="cnn", preset="quick", seed=0, progress=False, cache=False,
              num_images=int(sys.argv[1]))
print(json.dumps(dict(seconds=time.perf_counter() - start, threads=torch.get_num_threads())))
"""


# a pure-Python spin on one core that also ends when this script does (killed, or ended by `timeout`)
BUSY = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(100000):
        pass
"""


@contextmanager
def busy_process(busy: bool):
    """One process spinning on a core while the block runs (nothing when `busy` is False); ended after."""
    if not busy:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", BUSY, str(os.getpid())])
    try:
        time.sleep(0.5)  # let it take its core
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def train_seconds(num_images: int, policy: str) -> tuple[float, int]:
    """Seconds of rotation's quick training in a new process, with the course's wait policy or OpenMP's default."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_POLICY}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(thread_env(environ=env))
    if policy == "default":
        for k in WAIT_POLICY:
            env.pop(k, None)
    env["PRETEXT_LESSONS_CHECKPOINTS"] = tempfile.mkdtemp(prefix="pretext-busy-")
    out = subprocess.run([sys.executable, "-c", TRAIN, str(num_images)], env=env, capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["threads"]


def lesson_seconds() -> float:
    """Seconds of lesson 1 from nothing: a fresh kernel, a fresh checkpoint folder."""
    from pretext_lessons.notebook.execute import BUILD, ROOT as COURSE, execute_notebook

    folder = tempfile.mkdtemp(prefix="pretext-busy-")
    path = COURSE / "notebooks" / "01_rotation.ipynb"
    _, seconds = execute_notebook(path, BUILD / "busy" / path.name, env={"PRETEXT_LESSONS_CHECKPOINTS": folder})
    return seconds


def interleaved(measure, repeats: int, conditions=("idle", "busy")) -> dict:
    """The median of `repeats` runs of `measure()` in each condition ("idle", "busy"), taken in turn."""
    times = {label: [] for label in conditions}
    for _ in range(repeats):
        for label in times:
            with busy_process(label == "busy"):
                times[label].append(measure())
            print(f"  {label}: {times[label][-1]:.1f} s", flush=True)
    return {label: statistics.median(t) for label, t in times.items()}


BUSY_BAR = 2.5  # lesson 1 beside one busy process, as a multiple of its idle time
PASSIVE_IDLE_LIMIT = 1.05  # PASSIVE stays unless it makes the idle run more than 5% slower than OpenMP's default


def wait_policy_decision(passive_idle: float, default_idle: float, limit: float = PASSIVE_IDLE_LIMIT
                         ) -> tuple[bool, str]:
    """Whether the course keeps OMP_WAIT_POLICY=PASSIVE, from the idle seconds with it and with OpenMP's default."""
    for name, value in (("passive_idle", passive_idle), ("default_idle", default_idle)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    ratio = passive_idle / default_idle
    if ratio > limit:
        return False, (f"drop PASSIVE: idle, PASSIVE/default = {ratio:.2f} > {limit} (it slows an idle machine "
                       f"by {ratio - 1:.0%}); remove it from core/threads.py's WAIT_POLICY and the README")
    return True, f"keep PASSIVE: idle, PASSIVE/default = {ratio:.2f} <= {limit}"


def lesson_part(repeats: int) -> float:
    print("part 1: lesson 1 (01_rotation) from nothing, idle and beside one busy process:", flush=True)
    t = interleaved(lesson_seconds, repeats)
    ratio = t["busy"] / t["idle"]
    print(f"lesson 1 from nothing: idle {t['idle']:.0f} s, beside one busy process {t['busy']:.0f} s, "
          f"busy/idle {ratio:.2f} (bar <= {BUSY_BAR}: {'met' if ratio <= BUSY_BAR else 'NOT met'})", flush=True)
    return ratio


def policy_part(repeats: int, num_images: int) -> bool:
    print(f"part 2: rotation's quick training ({num_images} images), OpenMP wait policy PASSIVE and default, "
          f"idle and beside one busy process ({repeats} runs each, medians):", flush=True)
    results, threads = {}, []

    def measure(policy):
        seconds, n = train_seconds(num_images, policy)
        threads.append(n)
        return seconds

    for policy in ("PASSIVE", "default"):
        print(f" {policy}:", flush=True)
        results[policy] = interleaved(functools.partial(measure, policy), repeats)
    print(f"  torch threads {threads[0]}")
    for policy, t in results.items():
        print(f"{policy:>8}: idle {t['idle']:.1f} s, busy {t['busy']:.1f} s, busy/idle {t['busy'] / t['idle']:.2f}")
    for label in ("idle", "busy"):
        print(f"{label}: PASSIVE/default time {results['PASSIVE'][label] / results['default'][label]:.2f}")
    keep, sentence = wait_policy_decision(results["PASSIVE"]["idle"], results["default"]["idle"])
    print(sentence)
    return keep


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--lesson", action="store_true", help="part 1 only: lesson 1 idle and busy")
    part.add_argument("--policy", "--short", action="store_true",
                      help="part 2 only: rotation's training with both wait policies, and the decision")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each (default: 1 for the lesson, 3 for part 2)")
    parser.add_argument("--num-images", type=int, default=12000, help="part 2: training images (quick: 12000)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` or kill: end the busy process on the way out
    print(f"{os.cpu_count()} CPUs, {usable_cpus()} usable by this process, load average "
          f"{os.getloadavg()[0]:.1f}; kernels' environment: {thread_env() or 'as inherited'}; "
          f"set here: { {k: os.environ[k] for k in (*THREAD_VARIABLES, *WAIT_POLICY) if k in os.environ} }")
    if not args.policy:
        lesson_part(args.repeats or 1)
    if not args.lesson:
        policy_part(args.repeats or 3, args.num_images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
