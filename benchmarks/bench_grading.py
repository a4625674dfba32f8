"""Grading throughput: submissions per minute for the exercise notebooks, one at a time and in parallel.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_grading.py [--copies 2] [--jobs N] [--solutions DIR]

Each exercise in solutions/ is submitted `copies` times as its solution (full marks) and once as
its untouched release (zero). Baseline in the same run: executing the same notebooks with plain
nbclient (`pretext_lessons.notebook.execute.execute_notebook`, grading preset on, no tests swapped in,
no reports), one at a time. Our grader runs them with `--jobs 1` and with `--jobs N`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pretext_lessons.grading import grade, release  # noqa: E402
from pretext_lessons.grading.release import SOLUTIONS, solution_paths  # noqa: E402
from pretext_lessons.notebook.execute import ROOT, execute_notebook  # noqa: E402


def submissions(solutions: Path, folder: Path, copies: int) -> list[Path]:
    """`copies` full-marks submissions and one untouched release per exercise."""
    released = folder / "released"
    release(solutions, released)
    paths = []
    for source in solution_paths(solutions):
        for i in range(copies):
            target = folder / f"student{i}" / source.stem / source.name
            target.parent.mkdir(parents=True)
            paths.append(Path(shutil.copy(source, target)))
        paths.append(released / source.name)
    return paths


def baseline(paths: list[Path], folder: Path) -> float:
    """Seconds to execute every notebook once with plain nbclient (no grading), each with its own checkpoints."""
    start = time.perf_counter()
    for i, path in enumerate(paths):
        env = {"PRETEXT_LESSONS_GRADING": "1", "PYTHONPATH": str(ROOT),
               "PRETEXT_LESSONS_CHECKPOINTS": str(folder / "checkpoints" / str(i))}
        nb, _ = execute_notebook(path, timeout=600, allow_errors=True, cwd=folder, env=env)
        failed = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
                  if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        if "student" in path.parent.parent.name and failed:
            raise RuntimeError(f"the baseline run of solution {path} failed in cells {failed}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--solutions", default=None, help="default solutions/ (the test fixture when empty)")
    args = parser.parse_args()
    solutions = Path(args.solutions) if args.solutions else SOLUTIONS
    if not solution_paths(solutions):
        solutions = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "grading" / "solutions"
        print(f"solutions/ is empty: measuring the test fixture in {solutions}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = submissions(solutions, Path(tmp), args.copies)
        names = ", ".join(p.stem for p in solution_paths(solutions))
        print(f"{len(paths)} submissions of {names}; {os.cpu_count()} CPUs; load average "
              f"{os.getloadavg()[0]:.1f} at start")
        rows = [("plain nbclient, one at a time (baseline)", baseline(paths, Path(tmp)))]
        for jobs in sorted({1, args.jobs}):
            start = time.perf_counter()
            reports = grade(paths, out=Path(tmp) / f"reports{jobs}", jobs=jobs, solutions=solutions)
            rows.append((f"pretext-lessons grade --jobs {jobs}", time.perf_counter() - start))
            full = [r for r in reports if "student" in r["submission"]]
            assert all(r["points"] == r["auto_points"] for r in full), "a solution lost points"
        print(f"{'run':45s} {'seconds':>8s} {'subs/min':>9s} {'vs baseline':>12s}")
        for name, seconds in rows:
            print(f"{name:45s} {seconds:8.1f} {60 * len(paths) / seconds:9.2f} {rows[0][1] / seconds:11.2f}x")
        print(f"load average {os.getloadavg()[0]:.1f} at the end (timings are inflated on a shared machine)")


if __name__ == "__main__":
    main()
