"""`grade`: score submissions against solutions/ in separate kernels, with time limits, reports and a gradebook."""
from __future__ import annotations

import ast
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..core.data import load_fashion_mnist
from ..core.validate import check_int, check_paths
from ..core.threads import usable_cpus
from ..notebook.execute import kernel_env
from .assemble import assemble
from .catalog import Exercise, catalog, identify, named_exercise
from .cells import STUDENT_ID, declared_student_id, is_answer, is_test, remove_hidden_tests, uses_student_id
from .rebind import rebind_plan, restore_code, snapshot_code
from .report import ReportWriter, slug, write_class_summary
from .sandbox import (ENV_ALLOWED, MARKER, UNSANDBOXED, bwrap_prefix, bwrap_status, end_processes, package_copy,
                      prepare_home, say_once)
from .scoring import fixed_cell_errors, score
from .warmup import WARM_UP_FROM, Warmup, copy_checkpoints, finished_checkpoints

CELL_TIMEOUT = 120.0
NOTEBOOK_TIMEOUT = 600.0
GRACE = 120.0  # beyond the notebook's limit, for kernel start, restarts and shut-down
# address space per kernel (RLIMIT_AS counts what is reserved, not used: importing torch already reserves much)
MEMORY_GB = 8.0
RUNNER = Path(__file__).with_name("runner.py")  # run as a file: the supervisor never imports the package
CHECK_MODULES = ("pretext_lessons.notebook.checks",)  # reloaded before each test: module patches undone


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def grading_env(threads: int, token: str, extra: dict | None = None, pythonpath: str | None = None) -> dict:
    """The whole environment of a grading kernel, built from an allow-list.

    Grading mode on, headless plots, a share of the cores, a marker, the variables of
    `sandbox.ENV_ALLOWED` the grader has (locale, time zone, the course's dataset choice), a PATH
    of the kernel's Python and the system, and `extra` (home, data, checkpoints). Nothing else of the
    grader's environment reaches a submission: no tokens, proxies or paths to the grader's files.
    `pythonpath` is where the kernel imports the package from (default: `kernel_env`'s).
    The marker (sandbox.MARKER=token) stays in the environment of every process the kernel starts,
    in whatever session, so the grader can end them all.
    """
    env = {k: os.environ[k] for k in ENV_ALLOWED if k in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    env["HOME"] = os.environ.get("HOME", str(Path.home()))
    env.update(kernel_env(PRETEXT_LESSONS_GRADING="1", MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1",
                          PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                          **{MARKER: token}))
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    for key in ("PRETEXT_LESSONS_DATA",):  # the grader's data cache, where it keeps Fashion-MNIST unsandboxed
        if key in os.environ:
            env.setdefault(key, os.environ[key])
    env.update(extra or {})
    return env


@dataclass
class Confinement:
    """How each kernel is held: the sandbox's bwrap (None: none), what it hides, the memory limit."""

    bwrap: str | None = None
    package_root: Path | None = None  # the package copy a sandboxed kernel imports (sandbox.package_copy)
    memory_bytes: int = 0

    @property
    def label(self) -> str:
        """What reports and the gradebook say: "bubblewrap", or "unsandboxed" (graded with --no-sandbox)."""
        return "bubblewrap" if self.bwrap else UNSANDBOXED


def preamble(exercise: Exercise) -> str:
    """The code run before each test cell: the exercise's own imports and helpers, bound again.

    The import statements and function definitions of the exercise's fixed cells (set-up, helpers),
    with the check helpers' module reloaded first, so that a student's `expect = lambda *a, **k: None`
    or `checks.expect = ...` is undone before a test runs. Names the answer cells define are left
    alone (they are the student's to define).
    """
    answers = set()
    fixed = []
    for cell in exercise.solution.cells:
        if cell.cell_type != "code" or is_test(cell):
            continue
        try:
            tree = ast.parse(remove_hidden_tests(cell.source))
        except SyntaxError:
            continue
        if is_answer(cell):
            answers |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            answers |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                        if isinstance(t, ast.Name)}
        else:
            fixed += [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    kept = []
    for node in fixed:
        if isinstance(node, ast.FunctionDef):
            if node.name not in answers:
                kept.append(node)
            continue
        aliases = [a for a in node.names if (a.asname or a.name.split(".")[0]) not in answers]
        if aliases:
            node.names = aliases
            kept.append(node)
    lines = ["import importlib as _grader_importlib, sys as _grader_sys",
             f"for _grader_name in {CHECK_MODULES!r}:",
             "    if _grader_name in _grader_sys.modules:",
             "        _grader_importlib.reload(_grader_sys.modules[_grader_name])",
             "del _grader_importlib, _grader_sys, _grader_name"]
    return "\n".join(lines + [ast.unparse(n) for n in kept]) + "\n"


def rebind_job(exercise: Exercise) -> dict:
    """The runner's rebind code for an exercise: {"snapshots": {fixed cell: code}, "tests": {test cell: code}}."""
    plan = rebind_plan(exercise.solution)
    return {"snapshots": {gid: snapshot_code(names) for gid, names in plan.snapshots.items()},
            "tests": {gid: restore_code(names) for gid, names in plan.tests.items()}}


def execute(nb, workdir: Path, cell_timeout: float, timeout: float, threads: int = 1,
            confinement: Confinement | None = None, code_before_tests: str = "",
            rebind: dict | None = None, checkpoints: Path | None = None,
            profile: dict | None = None) -> tuple[object, str | None, int]:
    """Run a notebook in a fresh kernel under a supervisor process of its own.

    Returns the executed notebook (or the one given, unexecuted, when the supervisor left no
    result), an error text or None, and the number of processes the submission left running
    (all ended here). `checkpoints`: a folder of the grader's own checkpoints (see warmup.py),
    copied into the kernel's own checkpoint folder first. `profile`, a dict, gets the wall
    seconds of each phase (runner.PHASES, and the grader's: preparing, supervisor, ending processes).
    """
    profile = {} if profile is None else profile
    start = time.perf_counter()
    confinement = confinement or Confinement()
    token = secrets.token_hex(12)
    run = workdir / "run"
    run.mkdir(exist_ok=True)
    extra = {"PRETEXT_LESSONS_CHECKPOINTS": str(run / ".checkpoints")}  # never another submission's network
    copy_checkpoints(checkpoints, run / ".checkpoints")  # a copy of the grader's own, never a shared folder
    prefix, pythonpath = [], None
    if confinement.bwrap:
        extra.update(prepare_home(workdir))
        prefix = bwrap_prefix(confinement.bwrap, workdir, confinement.package_root)
        pythonpath = str(confinement.package_root)
    nbformat.write(nb, workdir / "graded.ipynb")
    job = {"workdir": str(workdir), "notebook": str(workdir / "graded.ipynb"), "cwd": str(run),
           "env": grading_env(threads, token, extra, pythonpath), "cell_timeout": cell_timeout, "timeout": timeout,
           "grace": GRACE, "kernel_prefix": prefix, "memory_bytes": confinement.memory_bytes,
           "preamble": code_before_tests, "rebind": rebind or {"snapshots": {}, "tests": {}}}
    (workdir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    error, result = None, None
    profile["preparing"] = time.perf_counter() - start
    with open(workdir / "supervisor.log", "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(RUNNER), str(workdir / "job.json")], stdout=subprocess.PIPE,
                                stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout + 2 * GRACE)
        except subprocess.TimeoutExpired:
            out = b""
            error = f"grading was stopped after {timeout + 2 * GRACE:.0f} s"
        finally:
            profile["supervisor"] = time.perf_counter() - start
            start = time.perf_counter()
            left = end_processes(token, groups=[proc.pid])
            proc.kill()
            proc.wait()
            profile["ending processes"] = time.perf_counter() - start
    try:
        result = json.loads(out)
    except ValueError:
        error = error or (f"the grader's supervisor of this submission ended without a result (exit status "
                          f"{proc.returncode}): the submission's code may have killed it")
    if result is None:
        return nb, error, left
    if isinstance(result.get("profile"), dict):
        profile.update({k: v for k, v in result["profile"].items() if isinstance(v, (int, float))})
    return nbformat.from_dict(result["notebook"]), result["error"] or error, left


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
              timeout: float = NOTEBOOK_TIMEOUT, threads: int = 1, confinement: Confinement | None = None,
              executed_dir=None, warmup: Warmup | None = None) -> dict:
    """The report of one submission (never raises for a bad submission).

    `warmup` gives the grader's own checkpoints of the exercise (see warmup.py). The report's
    `profile` holds the wall seconds of each phase of its grading (see `execute`).
    """
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
    student_id, before_tests = declared_student_id(graded), preamble(ex)
    if student_id is not None:
        # the tests draw the question data of the id the student declared, whatever later cells reassign
        before_tests += f"{STUDENT_ID} = {student_id!r}\n"
    elif uses_student_id(ex.solution):
        notes.append(f"{STUDENT_ID} is not set to a plain string in its cell: the questions drawn from it "
                     f"could not run")
    job = rebind_job(ex)
    profile = {"reading and assembling": time.perf_counter() - start}
    checkpoints = warmup.checkpoints(found) if warmup is not None else None
    profile["warm-up"] = time.perf_counter() - start - profile["reading and assembling"]
    workdir = Path(tempfile.mkdtemp(prefix="pretext-grade-"))
    try:
        graded, error, left = execute(graded, workdir, cell_timeout, timeout, threads, confinement, before_tests,
                                      job, checkpoints, profile)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    scoring_start = time.perf_counter()
    if left:
        notes.append(f"{left} process{'es' * (left > 1)} the submission started {'were' if left > 1 else 'was'} "
                     f"still running after it and {'were' if left > 1 else 'was'} ended")
    kept = None
    if executed_dir is not None:
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
        kept = Path(executed_dir) / f"{slug(student)}-{found}-{digest}.ipynb"
        nbformat.write(graded, kept)
    if not any(c.metadata.get("grader") for c in graded.cells if c.cell_type == "code"):
        report = _blank(path, student, ex, "grader_error", error or "no cell was run")
    else:
        questions = score(ex, graded)
        notes += fixed_cell_errors(ex, graded)
        report = {"submission": str(path), "student": student, "exercise": found, "student_id": student_id,
                  "status": "graded", "message": error or "", "questions": questions, "notes": notes,
                  "points": sum(q["points"] for q in questions.values()),
                  "auto_points": ex.auto_points, "manual_points": ex.manual_points,
                  "pending_points": sum(q["manual_points"] for q in questions.values() if q["pending"])}
    if kept is not None:
        report["executed"] = str(kept)
    profile["scoring"] = time.perf_counter() - scoring_start
    report["profile"] = {k: round(v, 3) for k, v in profile.items()}
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report


def parse_shard(shard) -> tuple[int, int] | None:
    """"K/N" (or (K, N)) as (K, N) with 1 <= K <= N; None stays None."""
    if shard is None:
        return None
    parts = shard.split("/") if isinstance(shard, str) else shard
    try:
        k, n = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be K/N with whole numbers, e.g. 3/20, got {shard!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"shard must be K/N with 1 <= K <= N, got {shard!r}")
    return k, n


def shard_of(paths: list[Path], shard) -> list[Path]:
    """The submissions of shard K of N: every N-th of the paths sorted by name, from the K-th on."""
    k, n = parse_shard(shard)
    return sorted(paths, key=str)[k - 1::n]


def confinement(sandbox=True, memory_gb: float = MEMORY_GB, package_root=None) -> Confinement:
    """The sandbox and memory limit the kernels get.

    `sandbox` True (the default) requires bubblewrap and raises a RuntimeError saying why there is
    none; False grades without it (the instructor's explicit --no-sandbox), said once at start.
    """
    if sandbox not in (True, False):
        raise ValueError(f"sandbox must be True (require bubblewrap) or False (grade unsandboxed, --no-sandbox), "
                         f"got {sandbox!r}")
    if isinstance(memory_gb, bool) or not isinstance(memory_gb, (int, float)) or memory_gb < 0:
        raise ValueError(f"memory_gb must be a number of gigabytes >= 0 (0: no limit), got {memory_gb!r}")
    bwrap = None
    if sandbox:
        bwrap, why = bwrap_status()
        if bwrap is None:
            raise RuntimeError(f"grading needs the bubblewrap sandbox, and {why}. Without it a submission could read "
                               f"the solutions, the other submissions and the repository's history. Install it, or "
                               f"grade on a machine that holds nothing a submission may read with --no-sandbox "
                               f"(reports and the gradebook then say {UNSANDBOXED!r})")
    else:
        say_once(f"grading {UNSANDBOXED} (--no-sandbox): submissions can read and write what this account can "
                 f"(solutions, other submissions, the repository); every report and the gradebook say "
                 f"{UNSANDBOXED!r}. Kernels still run under a supervisor, with a memory limit, and every "
                 f"process they start is ended.")
    return Confinement(bwrap, Path(package_root) if package_root else None, int(memory_gb * 2**30))


def grade(submissions, out=None, jobs: int = 1, exercise: str | None = None, solutions=None,
          cell_timeout: float = CELL_TIMEOUT, timeout: float = NOTEBOOK_TIMEOUT, progress: bool = False,
          sandbox=True, memory_gb: float = MEMORY_GB, shard=None, executed_dir=None,
          warm_up: bool = True) -> list[dict]:
    """Grade notebooks (paths) against solutions/; `jobs` at a time; reports returned and, with `out`, written.

    Each submission runs in a fresh kernel with PRETEXT_LESSONS_GRADING=1, under a supervisor process
    of its own, with a per-cell and a per-notebook time limit and a memory limit (`memory_gb`, 0 for
    none), in the bubblewrap sandbox (`sandbox` True; False grades unsandboxed and says so in every report).
    `out` gets one JSON report and one summary per submission as each finishes, gradebook.csv, and at
    the end the class summary (class_summary.md and .png: outcomes, scores and failures per question).
    `shard` "K/N" grades only the K-th of N shares (see `shard_of`); `executed_dir` keeps each
    executed notebook. `warm_up` trains the networks of an exercise's fixed cells once, in the
    grader's own run of its release, for every exercise with WARM_UP_FROM submissions or more,
    and gives each submission a copy (see warmup.py); False: each submission trains its own.
    """
    paths = check_paths("submissions", submissions, "file", "notebook files")
    check_int("jobs", jobs)
    cell_timeout, timeout = _positive("cell_timeout", cell_timeout), _positive("timeout", timeout)
    if shard is not None:
        paths = shard_of(paths, shard)
    exercises = catalog(solutions)
    if exercise is not None and exercise not in exercises:
        raise ValueError(f"exercise must be one of {sorted(exercises)}, got {exercise!r}")
    held = confinement(sandbox, memory_gb)  # refuses here, before any submission runs, when there is no sandbox
    staging = Path(tempfile.mkdtemp(prefix="pretext-package-"))
    threads = max(1, usable_cpus() // jobs)  # the CPUs this process may use (affinity, quota), shared by the jobs
    try:
        if held.bwrap:
            held.package_root = package_copy(staging / "package")
            unpack_fashion_mnist()
        warmup = None
        if warm_up:
            warmup = Warmup(staging / "checkpoints", lambda name, folder: warm_checkpoints(
                exercises[name], folder, cell_timeout, timeout, threads, held),
                wanted=worth_warming(paths, exercises, exercise))
        return _grade_all(paths, exercises, out, jobs, exercise, cell_timeout, timeout, progress, held, executed_dir,
                          threads, warmup)
    finally:
        shutil.rmtree(staging, ignore_errors=True)



def unpack_fashion_mnist() -> None:
    """Unpack the Debian package's Fashion-MNIST into the grader's cache once, before any kernel starts,
    with the tensors its reader decoded (`core.data.processed_path`).

    The sandbox binds that cache read-only, so a kernel that found only .gz files there would unpack its
    own copy into its temporary folder, in every submission. Missing data is left to each submission's
    own error message.
    """
    for split in ("train", "test"):  # also keeps the decoded tensors there, so no kernel imports torchvision
        try:
            load_fashion_mnist(split, download=False)
        except (FileNotFoundError, OSError, ValueError):
            pass

def worth_warming(paths, exercises: dict, exercise: str | None = None) -> set:
    """The exercises with at least WARM_UP_FROM of the submissions `paths` (read and identified here)."""
    counts = {}
    for path in paths:
        name = exercise
        if name is None:
            try:
                nb, _ = _read(Path(path))
            except OSError:
                nb = None
            name = identify(nb, exercises)[0] if nb is not None else None
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return {name for name, n in counts.items() if n >= WARM_UP_FROM}


def warm_checkpoints(ex: Exercise, folder: Path, cell_timeout: float, timeout: float, threads: int,
                     held: Confinement) -> list[Path]:
    """Run exercise `ex`'s release (no tests) held as a submission is; keep its finished checkpoints in `folder`."""
    nb = nbformat.from_dict(json.loads(json.dumps(ex.released)))
    nb.cells = [c for c in nb.cells if not is_test(c)]
    workdir = Path(tempfile.mkdtemp(prefix="pretext-warm-"))
    try:
        execute(nb, workdir, cell_timeout, timeout, threads, held)
        folder.mkdir(parents=True, exist_ok=True)
        for f in finished_checkpoints(workdir / "run" / ".checkpoints"):
            shutil.copyfile(f, folder / f.name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return finished_checkpoints(folder)


def _grade_all(paths, exercises, out, jobs, exercise, cell_timeout, timeout, progress, held, executed_dir, threads,
               warmup=None):
    if executed_dir is not None:
        Path(executed_dir).mkdir(parents=True, exist_ok=True)
    writer = ReportWriter(Path(out)) if out is not None else None

    def one(path):
        try:
            report = grade_one(path, exercises, exercise, cell_timeout, timeout, threads, held, executed_dir, warmup)
        except Exception as err:  # noqa: BLE001 - one odd submission must not cost the others their grades
            report = _blank(path, path.stem, exercises.get(exercise), "grader_error",
                            f"the grader failed on this file ({type(err).__name__}: {err})")
        report["sandbox"] = held.label
        if writer is not None:
            writer.add(report)
        if progress:
            print(f"{path}: {report['status']}, {report['points']:g}/{report['auto_points']:g} points "
                  f"({report['seconds']:.0f} s)", flush=True)
        return report

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        reports = list(pool.map(one, paths))
    if writer is not None and reports:
        write_class_summary(reports, writer.out)
    return reports
