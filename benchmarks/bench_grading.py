"""Grading throughput: submissions per minute for the exercise notebooks, against plain nbclient and nbgrader.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_grading.py [--copies 2] [--jobs 2] [--solutions DIR]
                                                              [--exercises 00_introduction,02_jigsaw]

Each exercise in solutions/ is submitted `copies` times as its solution (full marks) and once as
its untouched release (zero). Baselines in the same run, on the same submissions: executing them
with plain nbclient (`pretext_lessons.notebook.execute.execute_notebook`, grading preset on, no
tests swapped in, no reports), one at a time; and nbgrader's `autograde` (one student at a time,
each with a checkpoint folder of its own as our grader gives each submission). Our grader runs
them with `--jobs 1` and with `--jobs N` (each kernel under its supervisor, in the sandbox where
bubblewrap works, with its memory limit).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_grading.py --class-size 30 --jobs 2 [--exercise 01_rotation]

grades a class of one exercise (`--class-size` submissions: its solution and its untouched release in
turn, each under a name of its own) with `grade --jobs N`, in the sandbox (grading refuses without
it), and prints submissions per minute against the bar of 20 a minute on an idle machine, and the
mean seconds per submission of each phase of grading (supervisor start, kernel start in the sandbox,
set-up cell, fixed cells, answer cells, fixed values kept, tests, ...). With `--baseline` it first
grades the same class with `--no-warm-up` (each submission trains the fixed cells' networks itself,
as before the grader trained them once) and prints the ratio of the two in the same run.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pretext_lessons.grading import grade, release  # noqa: E402
from pretext_lessons.grading.nbgrader_course import make_course  # noqa: E402
from pretext_lessons.grading.release import SOLUTIONS, solution_paths  # noqa: E402
from pretext_lessons.grading.sandbox import bwrap_status  # noqa: E402
from pretext_lessons.notebook.execute import execute_notebook, kernel_env  # noqa: E402


def submissions(solutions: Path, folder: Path, copies: int, names=None) -> list[Path]:
    """`copies` full-marks submissions and one untouched release per exercise."""
    released = folder / "released"
    release(solutions, released)
    paths = []
    for source in solution_paths(solutions):
        if names and source.stem not in names:
            continue
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
        env = kernel_env(PRETEXT_LESSONS_GRADING="1", PRETEXT_LESSONS_CHECKPOINTS=folder / "checkpoints" / str(i))
        nb, _ = execute_notebook(path, timeout=600, allow_errors=True, cwd=folder, env=env)
        failed = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
                  if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        if "student" in path.parent.parent.name and failed:
            raise RuntimeError(f"the baseline run of solution {path} failed in cells {failed}")
    return time.perf_counter() - start


def student_of(path: Path) -> str:
    return path.parent.parent.name if path.parent.parent.name.startswith("student") else "release"


def nbgrader_autograde(paths: list[Path], solutions: Path, folder: Path) -> float | None:
    """Seconds for nbgrader's `autograde` on the same submissions (None when nbgrader is not installed)."""
    if importlib.util.find_spec("nbgrader") is None:
        return None
    course = folder / "nbgrader-course"
    make_course(course, solutions, names=sorted({p.stem for p in paths}))
    env = dict(os.environ, **kernel_env(MPLBACKEND="Agg", PATH=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")])))

    def nbgrader_cli(*args, **extra):
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=dict(env, **extra),
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}")

    nbgrader_cli("generate_assignment", "*")  # the release step: not timed, as our release is not
    students = sorted({student_of(p) for p in paths})
    for path in paths:
        target = course / "submitted" / student_of(path) / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    start = time.perf_counter()
    for student in students:
        nbgrader_cli("autograde", "*", "--student", student,
                     PRETEXT_LESSONS_CHECKPOINTS=str(folder / "nbgrader-checkpoints" / student))
    return time.perf_counter() - start


def class_of(solutions: Path, folder: Path, size: int, exercise: str) -> list[Path]:
    """`size` submissions of one exercise: its solution and its untouched release in turn."""
    released = folder / "released"
    release(solutions, released)
    sources = {p.stem: p for p in solution_paths(solutions)}
    if exercise not in sources:
        raise ValueError(f"exercise must be one of {sorted(sources)}, got {exercise!r}")
    paths = []
    for i in range(size):
        source = sources[exercise] if i % 2 == 0 else released / f"{exercise}.ipynb"
        target = folder / "class" / f"student{i:03d}" / exercise / f"{exercise}.ipynb"
        target.parent.mkdir(parents=True)
        paths.append(Path(shutil.copy(source, target)))
    return paths


def phase_table(runs: dict) -> str:
    """Mean seconds per submission of each phase (reports' `profile`), one column per run."""
    names = list(dict.fromkeys(k for reports in runs.values() for r in reports for k in r.get("profile", {})))
    lines = [f"{'phase (mean s per submission)':32s}" + "".join(f"{name:>22s}" for name in runs)]
    for phase in names:
        means = [sum(r.get("profile", {}).get(phase, 0.0) for r in reports) / max(1, len(reports))
                 for reports in runs.values()]
        lines.append(f"{phase:32s}" + "".join(f"{m:22.2f}" for m in means))
    return "\n".join(lines)


def grade_class(size: int, jobs: int, exercise: str, solutions: Path, baseline_run: bool = False) -> None:
    """Grade a class of one exercise in the sandbox; print submissions per minute, phases, whether every grade is right."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = class_of(solutions, Path(tmp), size, exercise)
        print(f"{size} submissions of {exercise} (solution and release in turn); {os.cpu_count()} CPUs; "
              f"sandbox: {bwrap_status()[0] or bwrap_status()[1]}; load average {os.getloadavg()[0]:.1f} at start")
        arms = [("no warm-up (baseline)", False)] * baseline_run + [("grade", True)]
        runs, seconds = {}, {}
        for name, warm_up in arms:
            start = time.perf_counter()
            reports = grade(paths, out=Path(tmp) / f"reports-{warm_up}", jobs=jobs, solutions=solutions,
                            sandbox=True, warm_up=warm_up)
            seconds[name] = time.perf_counter() - start
            runs[name] = reports
            wrong = [r["submission"] for i, r in enumerate(sorted(reports, key=lambda r: r["submission"]))
                     if r["sandbox"] != "bubblewrap" or r["points"] != (r["auto_points"] if i % 2 == 0 else 0)]
            print(f"pretext-lessons grade --jobs {jobs}{'' if warm_up else ' --no-warm-up'}, sandbox on: "
                  f"{seconds[name]:.1f} s, {60 * size / seconds[name]:.1f} submissions per minute (bar: >= 20 on an "
                  f"idle machine); grades as expected: {not wrong} {wrong[:3]}; load average {os.getloadavg()[0]:.1f}")
        print(phase_table(runs))
        if baseline_run:
            print(f"grade against the no-warm-up baseline, same run: {seconds[arms[0][0]] / seconds['grade']:.2f}x "
                  f"the submissions per minute")
        print(f"load average {os.getloadavg()[0]:.1f} at the end (timings are inflated on a shared machine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=0,
                        help="grade a class of this many submissions of --exercise only (no baselines)")
    parser.add_argument("--exercise", default="01_rotation", help="the class's exercise (default 01_rotation)")
    parser.add_argument("--baseline", action="store_true",
                        help="with --class-size: first grade the class with --no-warm-up, and print the ratio")
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--solutions", default=None, help="default solutions/ (the test fixture when empty)")
    parser.add_argument("--exercises", default="", help="only these exercises, comma-separated (default all)")
    args = parser.parse_args()
    solutions = Path(args.solutions) if args.solutions else SOLUTIONS
    if not solution_paths(solutions):
        solutions = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "grading" / "solutions"
        print(f"solutions/ is empty: measuring the test fixture in {solutions}")
    if args.class_size:
        grade_class(args.class_size, args.jobs, args.exercise, solutions, args.baseline)
        return
    with tempfile.TemporaryDirectory() as tmp:
        wanted = {n for n in args.exercises.split(",") if n}
        paths = submissions(solutions, Path(tmp), args.copies, wanted)
        names = ", ".join(sorted({p.stem for p in paths}))
        sandbox = "bubblewrap sandbox" if bwrap_status()[0] else f"no sandbox ({bwrap_status()[1]})"
        print(f"{len(paths)} submissions of {names}; {os.cpu_count()} CPUs; {sandbox}; load average "
              f"{os.getloadavg()[0]:.1f} at start")
        rows = [("plain nbclient, one at a time (baseline)", baseline(paths, Path(tmp)))]
        for jobs in sorted({1, args.jobs}):
            start = time.perf_counter()
            reports = grade(paths, out=Path(tmp) / f"reports{jobs}", jobs=jobs, solutions=solutions)
            rows.append((f"pretext-lessons grade --jobs {jobs}", time.perf_counter() - start))
            full = [r for r in reports if "student" in r["submission"]]
            lost = [f"{r['submission']}: {r['points']:g}/{r['auto_points']:g}" for r in full
                    if r["points"] != r["auto_points"]]
            assert not lost, f"solutions lost points: {lost}"
            if jobs == 1:
                slowest = max(full, key=lambda r: r["seconds"])
                one = (slowest["exercise"], slowest["seconds"])
        nbgrader_seconds = nbgrader_autograde(paths, solutions, Path(tmp))
        if nbgrader_seconds is not None:
            rows.append(("nbgrader autograde (one student at a time)", nbgrader_seconds))
        print(f"{'run':45s} {'seconds':>8s} {'subs/min':>9s} {'vs baseline':>12s}")
        for name, seconds in rows:
            print(f"{name:45s} {seconds:8.1f} {60 * len(paths) / seconds:9.2f} {rows[0][1] / seconds:11.2f}x")
        ours = dict(rows)[f"pretext-lessons grade --jobs {args.jobs}"]
        if nbgrader_seconds is not None:
            print(f"pretext-lessons grade --jobs {args.jobs} vs nbgrader autograde: {nbgrader_seconds / ours:.2f}x "
                  f"the submissions per minute")
        else:
            print("nbgrader is not installed (pip install -e '.[instructor]'): no nbgrader row")
        print(f"slowest submission at --jobs 1: {one[0]}, {one[1]:.1f} s for one submission (bar: 60 s on 2 cores); "
              f"{one[1] / (rows[0][1] / len(paths)):.2f}x the baseline's mean seconds per notebook")
        print(f"load average {os.getloadavg()[0]:.1f} at the end (timings are inflated on a shared machine)")


if __name__ == "__main__":
    main()
