"""The whole course run: seconds per lesson and the peak memory of the run (this process and its kernels).

Run:  .venv/bin/python benchmarks/bench_course.py [--fresh] [lesson stems...]

`--fresh` trains everything from nothing (a new, empty checkpoint folder); without it, cached
checkpoints are used as a student's second run would. Memory is the largest sum of resident
set sizes over this process and all its children, sampled every 0.1 s (target < 3 GB).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import psutil


def sample_peak(stop: threading.Event, peak: list) -> None:
    me = psutil.Process()
    while not stop.is_set():
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # a kernel that just exited
                pass
        peak[0] = max(peak[0], total)
        stop.wait(0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="train from nothing in an empty checkpoint folder")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    if args.fresh:
        os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = tempfile.mkdtemp(prefix="pretext-bench-")
    from pretext_lessons.notebook.execute import run_course

    peak, stop = [0], threading.Event()
    sampler = threading.Thread(target=sample_peak, args=(stop, peak), daemon=True)
    sampler.start()
    start = time.perf_counter()
    times = run_course(names=args.names or None)
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    print("\nlesson                                  seconds")
    for name, seconds in times.items():
        print(f"{name:<40}{seconds:7.0f}")
    print(f"{'total':<40}{wall:7.0f}")
    print(f"peak memory (this process + kernels): {peak[0] / 2**30:.2f} GB")


if __name__ == "__main__":
    main()
