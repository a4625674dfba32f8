"""A busy laptop: lesson 1 from nothing with one other busy process, against the same run idle.

Run:  .venv/bin/python benchmarks/bench_busy.py [--repeats 1]           (lesson 1; target: busy/idle <= 2.5)
      .venv/bin/python benchmarks/bench_busy.py --short [--repeats 3] [--num-images 12000]

The busy process is a pure-Python loop (one core, as a browser tab or a video call takes) that
this script starts before each busy run and ends after it. Lesson 1 runs headless in a fresh
kernel and a fresh, empty checkpoint folder each time, with the course's kernel environment
(core/threads.py: threads for the CPUs this process may use, OpenMP threads that sleep when idle).
`--short` times rotation's quick training alone (no cache), each run in a new Python process so
the OpenMP settings apply before torch loads, with the course's wait policy (PASSIVE) and with
OpenMP's default, idle and busy: the ratio busy/idle for each, and PASSIVE/default for each.
Runs are interleaved (idle, busy, idle, busy, ...) and the medians compared. Measure on an
otherwise idle machine: other load makes "idle" busy too.
"""
from __future__ import annotations

import argparse
import json
import os
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


@contextmanager
def busy_process(busy: bool):
    """One process spinning on a core while the block runs (nothing when `busy` is False); ended after."""
    if not busy:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
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


def interleaved(measure, repeats: int) -> dict:
    times = {"idle": [], "busy": []}
    for _ in range(repeats):
        for label in times:
            with busy_process(label == "busy"):
                times[label].append(measure())
            print(f"  {label}: {times[label][-1]:.1f} s", flush=True)
    return {label: statistics.median(t) for label, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="rotation's quick training alone, both wait policies")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each (default: 1 for the lesson, 3 short)")
    parser.add_argument("--num-images", type=int, default=12000, help="--short: training images (quick: 12000)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.short else 1)
    print(f"{os.cpu_count()} CPUs, {usable_cpus()} usable by this process, load average "
          f"{os.getloadavg()[0]:.1f}; kernels' environment: {thread_env() or 'as inherited'}; "
          f"set here: { {k: os.environ[k] for k in (*THREAD_VARIABLES, *WAIT_POLICY) if k in os.environ} }")
    if not args.short:
        print("lesson 1 (01_rotation) from nothing, idle and with one busy process:")
        t = interleaved(lesson_seconds, repeats)
        print(f"lesson 1 from nothing: idle {t['idle']:.0f} s, busy {t['busy']:.0f} s, "
              f"busy/idle {t['busy'] / t['idle']:.2f} (target <= 2.5)")
        return 0
    results = {}
    for policy in ("PASSIVE", "default"):
        print(f"rotation's quick training ({args.num_images} images), OpenMP wait policy {policy}:")
        threads = []

        def measure():
            seconds, n = train_seconds(args.num_images, policy)
            threads.append(n)
            return seconds

        results[policy] = interleaved(measure, repeats)
        print(f"  torch threads {threads[0]}")
    for policy, t in results.items():
        print(f"{policy:>8}: idle {t['idle']:.1f} s, busy {t['busy']:.1f} s, busy/idle {t['busy'] / t['idle']:.2f}")
    for label in ("idle", "busy"):
        print(f"{label}: PASSIVE/default time {results['PASSIVE'][label] / results['default'][label]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
