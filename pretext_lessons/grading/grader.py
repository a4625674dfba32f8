"""`grade`: score submissions against solutions/ in separate kernels, with time limits, reports and a gradebook."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..notebook.execute import ROOT
from .assemble import assemble
from .catalog import catalog, identify, named_exercise
from .report import write_reports
from .runner import run_notebook
from .scoring import fixed_cell_errors, score

CELL_TIMEOUT = 120.0
NOTEBOOK_TIMEOUT = 600.0
GRACE = 120.0  # beyond the notebook's limit, for kernel start, restarts and shut-down


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def kernel_env(threads: int) -> dict:
    """Lesson 0: the environment of a grading kernel: grading mode on, headless plots, a share of the cores."""
    env = dict(os.environ)
    env.update(PRETEXT_LESSONS_GRADING="1", MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1",
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    return env


def _kill(pid_file: Path) -> None:
    # a kernel that outlived its client is ended by the pid it started with, if that is still our kernel
    try:
        pid = int(pid_file.read_text())
        if b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def execute(nb, workdir: Path, cell_timeout: float, timeout: float, threads: int = 1):
    """Lesson 0: run a notebook in place in a fresh kernel (its own process); returns an error text or None."""
    env = kernel_env(threads)
    env["PRETEXT_LESSONS_CHECKPOINTS"] = str(workdir / "checkpoints")  # a submission never sees another's network
    (workdir / "run").mkdir(exist_ok=True)
    pid_file = workdir / "kernel.pid"
    error = None
    with open(workdir / "kernel.log", "w") as log:
        try:
            asyncio.run(asyncio.wait_for(
                run_notebook(nb, cell_timeout, timeout, str(workdir / "run"), env=env, pid_file=pid_file,
                             kernel_log=log), timeout + GRACE))
        except asyncio.TimeoutError:
            error = f"grading was stopped after {timeout + GRACE:.0f} s"
        except Exception as err:  # noqa: BLE001 - e.g. a kernel that never starts; the report says so
            error = f"the notebook could not be run ({type(err).__name__}: {err})"
    if error:
        _kill(pid_file)
    return error


def _student(path: Path, exercise: str | None) -> str:
    stem = path.stem
    if exercise and exercise in stem:
        rest = stem.replace(exercise, "").strip("_- .")
        if rest:
            return rest
        for parent in path.parents:
            if parent.name and exercise not in parent.name:
                return parent.name
    return stem


def _blank(path: Path, student: str, exercise, status: str, message: str) -> dict:
    questions = {}
    if exercise is not None:
        questions = {name: {"points": 0.0, "auto_points": q.auto_points, "manual_points": q.manual_points,
                            "status": "not graded", "failures": [], "pending": [], "written_answers": {}}
                     for name, q in exercise.questions.items()}
    return {"submission": str(path), "student": student, "exercise": exercise.name if exercise else None,
            "status": status, "message": message, "questions": questions, "notes": [],
            "points": 0.0, "auto_points": exercise.auto_points if exercise else 0.0,
            "manual_points": exercise.manual_points if exercise else 0.0, "pending_points": 0.0, "seconds": 0.0}


def _read(path: Path):
    import nbformat

    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"the file is not valid notebook JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "the file is JSON but not a notebook (it has no list of cells)"
    try:
        return nbformat.reads(text, as_version=4), None
    except Exception as err:  # noqa: BLE001 - any nbformat failure is the submission's fault, reported
        return None, f"the file is not a readable notebook ({type(err).__name__}: {err})"


def grade_one(path, exercises: dict, exercise: str | None = None, cell_timeout: float = CELL_TIMEOUT,
              timeout: float = NOTEBOOK_TIMEOUT, threads: int = 1) -> dict:
    """Lesson 0: the report of one submission (never raises for a bad submission)."""
    path = Path(path)
    start = time.perf_counter()
    expected = exercise or named_exercise(path, exercises)
    student = _student(path, expected)
    nb, problem = _read(path)
    if nb is None:
        return _blank(path, student, exercises.get(expected), "invalid", problem)
    found, share = identify(nb, exercises)
    if found is None:
        return _blank(path, student, exercises.get(expected), "unknown_exercise",
                      f"the notebook's cells match no exercise of the course (at best {share:.0%} of an "
                      f"exercise's fixed cells)")
    if expected and found != expected:
        report = _blank(path, student, exercises[expected], "wrong_exercise",
                        f"this is a submission for {found}, not {expected} (its cells are {found}'s)")
        report["identified_as"] = found
        return report
    ex = exercises[found]
    graded, notes = assemble(ex, nb)
    workdir = Path(tempfile.mkdtemp(prefix="pretext-grade-"))
    try:
        error = execute(graded, workdir, cell_timeout, timeout, threads)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not any(c.metadata.get("grader") for c in graded.cells if c.cell_type == "code"):
        report = _blank(path, student, ex, "grader_error", error or "no cell was run")
    else:
        questions = score(ex, graded)
        notes += fixed_cell_errors(ex, graded)
        report = {"submission": str(path), "student": student, "exercise": found,
                  "status": "graded", "message": error or "", "questions": questions, "notes": notes,
                  "points": sum(q["points"] for q in questions.values()),
                  "auto_points": ex.auto_points, "manual_points": ex.manual_points,
                  "pending_points": sum(q["manual_points"] for q in questions.values() if q["pending"])}
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report


def grade(submissions, out=None, jobs: int = 1, exercise: str | None = None, solutions=None,
          cell_timeout: float = CELL_TIMEOUT, timeout: float = NOTEBOOK_TIMEOUT, progress: bool = False) -> list[dict]:
    """Lesson 0: grade notebooks (paths) against solutions/; `jobs` at a time; reports returned and, with `out`, written.

    Each submission runs in a fresh kernel with PRETEXT_LESSONS_GRADING=1, a per-cell and a
    per-notebook time limit; `out` gets one JSON report and one summary per submission and gradebook.csv.
    """
    if isinstance(submissions, (str, os.PathLike)):
        submissions = [submissions]
    paths = [Path(p) for p in submissions]
    if not paths:
        raise ValueError("submissions must name at least one notebook, got none")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"submissions must be notebook files; not found: {', '.join(missing)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    cell_timeout, timeout = _positive("cell_timeout", cell_timeout), _positive("timeout", timeout)
    exercises = catalog(solutions)
    if exercise is not None and exercise not in exercises:
        raise ValueError(f"exercise must be one of {sorted(exercises)}, got {exercise!r}")
    threads = max(1, (os.cpu_count() or 1) // jobs)

    def one(path):
        try:
            report = grade_one(path, exercises, exercise, cell_timeout, timeout, threads)
        except Exception as err:  # noqa: BLE001 - one odd submission must not cost the others their grades
            report = _blank(path, path.stem, exercises.get(exercise), "grader_error",
                            f"the grader failed on this file ({type(err).__name__}: {err})")
        if progress:
            print(f"{path}: {report['status']}, {report['points']:g}/{report['auto_points']:g} points "
                  f"({report['seconds']:.0f} s)", flush=True)
        return report

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        reports = list(pool.map(one, paths))
    if out is not None:
        write_reports(reports, Path(out))
    return reports
