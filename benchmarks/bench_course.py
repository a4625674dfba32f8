"""The whole course run: seconds per lesson, where they go, and the peak memory of the run (this process and its kernels).

Run:  .venv/bin/python benchmarks/bench_course.py [--fresh | --both] [lesson stems...]

`--fresh` trains everything from nothing (a new, empty checkpoint folder); without it, cached
checkpoints are used as a student's second run would; `--both` runs from nothing into a new folder,
then again from that folder's cache. Memory is the largest sum of resident set sizes over this
process and all its children, sampled every 0.1 s (target < 3 GB).

Per lesson, a profile (pretext_lessons/core/profile.py: each kernel writes its phases to the file
$PRETEXT_LESSONS_PROFILE names) splits the seconds into: kernel start and imports (starting the
kernel, the opening cells: settings and imports, and the gaps between cells), training (`fit`),
checkpoints (loading and saving trained networks), features (forward passes without gradients:
probe features, predictions, held-out pretext accuracy),
probes (linear classifiers and their cross-validation), statistics (intervals and verdicts),
plotting (drawing figures) and other (data, labels, printing, cached results). The tables are also
written to build/bench_course.json (per run: seconds per lesson and column, the date, the load
average), so the next round can read where a cached run's time went without running it again.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pretext_lessons.core.profile import PHASES, PROFILE_VARIABLE

COLUMNS = ("start+imports", *PHASES, "other")


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


def _seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return (end - start).total_seconds()


def lesson_profile(nb, total: float, phases: dict) -> dict:
    """One lesson's row: seconds per column of COLUMNS, which add up to `total`."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells = [_seconds(c) for c in code]
    # the lesson's opening cells: settings, then the cell that imports the course (the first three at most)
    opening = next((i + 1 for i, c in enumerate(code[:3]) if "pretext_lessons import" in c.source
                    or "import pretext_lessons" in c.source), 1)
    row = {"start+imports": max(0.0, total - sum(cells)) + sum(cells[:opening])}
    row.update({name: phases.get(name, 0.0) for name in PHASES})
    row["other"] = max(0.0, total - sum(row.values()))  # a phase outside PHASES counts here too
    return row


def run(names, label: str, profiles: Path) -> tuple[dict, float]:
    from pretext_lessons.notebook.execute import BUILD, execute_notebook, lesson_paths

    rows = {}
    start = time.perf_counter()
    for path in lesson_paths("notebooks"):
        if names and path.stem not in names:
            continue
        profile = profiles / f"{label}-{path.stem}.json"
        print(f"running {path.name} ({label}) ...", flush=True)
        nb, seconds = execute_notebook(path, BUILD / "notebooks" / path.name, env={PROFILE_VARIABLE: profile})
        phases = json.loads(profile.read_text()) if profile.exists() else {}
        rows[path.name] = dict(total=seconds, **lesson_profile(nb, seconds, phases))
        print(f"  done in {seconds:.0f} s", flush=True)
    return rows, time.perf_counter() - start


def print_table(rows: dict, wall: float, label: str) -> None:
    print(f"\n{label}: seconds per lesson and where they go")
    print(f"{'lesson':<34}{'total':>7}" + "".join(f"{c:>14}" for c in COLUMNS))
    sums = dict.fromkeys(("total", *COLUMNS), 0.0)
    for name, row in rows.items():
        print(f"{name:<34}{row['total']:7.0f}" + "".join(f"{row[c]:14.1f}" for c in COLUMNS))
        for k in sums:
            sums[k] += row[k]
    print(f"{'all lessons':<34}{sums['total']:7.0f}" + "".join(f"{sums[c]:14.1f}" for c in COLUMNS))
    print(f"{'wall (with this process)':<34}{wall:7.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fresh", action="store_true", help="train from nothing in an empty checkpoint folder")
    mode.add_argument("--both", action="store_true", help="from nothing in an empty folder, then from its cache")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    runs = ["from cache"]
    if args.fresh or args.both:
        os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = tempfile.mkdtemp(prefix="pretext-bench-")
        runs = ["from nothing"] + (["from cache"] if args.both else [])
    profiles = Path(tempfile.mkdtemp(prefix="pretext-profile-"))
    peak, stop = [0], threading.Event()
    sampler = threading.Thread(target=sample_peak, args=(stop, peak), daemon=True)
    sampler.start()
    results = {label: run(args.names, label, profiles) for label in runs}
    stop.set()
    sampler.join()
    for label, (rows, wall) in results.items():
        print_table(rows, wall, label)
    print(f"peak memory (this process + kernels): {peak[0] / 2**30:.2f} GB")
    saved = save(results, peak[0])
    print(f"tables saved to {saved}")


def save(results: dict, peak: int) -> Path:
    """The runs' tables as JSON in build/bench_course.json, beside the executed notebooks."""
    from pretext_lessons.notebook.execute import BUILD

    path = BUILD / "bench_course.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"measured": datetime.datetime.now().isoformat(timespec="seconds"),
                                "load_average": os.getloadavg()[0], "peak_memory_gb": round(peak / 2**30, 2),
                                "runs": {label: dict(wall=wall, lessons=rows) for label, (rows, wall) in results.items()}},
                               indent=1))
    return path


if __name__ == "__main__":
    main()
