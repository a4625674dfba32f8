"""Lesson 5's downstream suite: probing one network on every downstream task, every layer, beside today's ten-class probe.

Run:  .venv/bin/python benchmarks/bench_downstream.py [--task random] [--arch cnn] [--repeats 3]

The baseline, measured in the same run on the same network: lesson 4's probe of that network on
the ten Fashion-MNIST classes (`probing.probe_network`, k=10, 2,000 test images, features
included). The suite: `suite.probe_suite` on every task of `downstream.TASKS` at the
lesson's sizes (`downstream.SIZES`), every layer, features included; making the suite's images
(`downstream.suite_data`) is timed apart, since a lesson makes them once per (seed, split) and
shares them between networks. Bar: the suite <= 30 s on a 2-core machine. Printed as seconds,
CPU seconds (user + sys of this process, less inflated by a busy machine than wall time) and the
ratio suite / ten-class probe.

`--task random` (default) probes random weights, so nothing is trained; a task name loads that
lesson's cached network (trained in the quick preset if missing). Timings are medians over
--repeats; on a busy machine they are inflated (the ratios much less).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from pretext_lessons.experiments import downstream, probing, suite
from pretext_lessons.experiments.table import RANDOM

# a benchmark times the fits: never read them back from the store of measured results
os.environ["PRETEXT_LESSONS_RESULTS_CACHE"] = "0"

BAR_SECONDS = 30.0


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def measure(fn, repeats: int):
    """Median wall and CPU seconds of `repeats` calls, and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), cpu_seconds()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(cpu_seconds() - c)
    return statistics.median(walls), statistics.median(cpus), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default=RANDOM,
                        help="random (default), supervised, or a registered task name (its cached network)")
    parser.add_argument("--arch", default="cnn", choices=("cnn", "resnet"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from bench_probe import load_net

    net, task = load_net(args.task, args.arch, args.seed)
    name = getattr(task, "name", task)
    split = probing.downstream_split((10,), args.seed, 2000)
    wall_ten, cpu_ten, _ = measure(lambda: probing.probe_network(net, task, args.arch, args.seed, ks=(10,),
                                                                   split=split), args.repeats)
    wall_data, cpu_data, data = measure(lambda: downstream.suite_data(args.seed, 0), args.repeats)
    wall_suite, cpu_suite, rows = measure(lambda: suite.probe_suite(net, task, args.arch, args.seed, 0, data),
                                          args.repeats)
    layers = len({r["layer"] for r in rows})
    print(f"{name} {args.arch} seed {args.seed}: {layers} layers; suite sizes {downstream.SIZES}")
    print(f"{'what':<56} {'wall s':>7} {'CPU s':>7} {'x ten-class':>11}")
    print(f"{'ten-class probe (lesson 4: k=10, 2,000 test)':<56} {wall_ten:>7.2f} {cpu_ten:>7.2f} {1:>11.2f}")
    print(f"{'making the suite images (once per seed, split)':<56} {wall_data:>7.2f} {cpu_data:>7.2f} "
          f"{wall_data / wall_ten:>11.2f}")
    print(f"{'the suite: ' + ', '.join(downstream.TASKS) + ', every layer':<56} {wall_suite:>7.2f} {cpu_suite:>7.2f} "
          f"{wall_suite / wall_ten:>11.2f}")
    for d in downstream.TASKS:
        best = max((r for r in rows if r["downstream"] == d), key=lambda r: r["val_score"])
        print(f"  {d:<8} ({downstream.TASKS[d].metric}): chosen layer {best['layer']}, {100 * best['score']:.1f}%")
    print(f"bar: the suite <= {BAR_SECONDS:.0f} s: {'met' if wall_suite <= BAR_SECONDS else 'NOT met'} "
          f"({wall_suite:.1f} s wall, {cpu_suite:.1f} CPU s; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
