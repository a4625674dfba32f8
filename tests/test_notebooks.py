"""Every notebook of the course executes headless: lessons in order, solutions, and exercises up to their first stub.

Lessons run in lesson order in one checkpoint folder (tests/conftest.py gives the session a private
one, which the kernels inherit), so lesson 4 and 5 find the networks of lessons 1 to 3. Solutions and
exercises are run by the grader itself, once per session for every test that needs them (the
`graded_course` fixture of tests/conftest.py), in the grading preset. Seconds per notebook go to
build/notebook-times.json, which the README's syllabus table reports.
"""
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from pretext_lessons.core.stats import is_verdict_sentence
from pretext_lessons.notebook.execute import execute_notebook, kernel_env

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
TIMES = BUILD / "notebook-times.json"
FOLDERS = ("notebooks", "solutions", "exercises")
GRADING_VARIABLES = ("PRETEXT_LESSONS_GRADING", "NBGRADER_EXECUTION")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# ipywidgets' own text/plain, e.g. "VBox(children=(...))": a static render shows it as an empty box would be
BARE_WIDGET_REPR = re.compile(r"^\w+\(children=")
GOALS = re.compile(r"learning goals|this lesson,? you can", re.I)


def notebook_paths(folder: str) -> list[Path]:
    path = ROOT / folder
    return sorted(p for p in path.glob("*.ipynb") if not p.name.startswith(".")) if path.is_dir() else []


ALL = [pytest.param(folder, path, id=f"{folder}/{path.name}") for folder in FOLDERS for path in notebook_paths(folder)]
LESSONS = [pytest.param(path, id=path.name) for path in notebook_paths("notebooks")]


def notebook_env(grading: bool) -> dict:
    return kernel_env(**({"PRETEXT_LESSONS_GRADING": "1"} if grading else {}))


def load_average():
    """The 1-minute load average (None where the OS has none): it says how shared the CPU was while timing."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def children_cpu_seconds():
    """CPU seconds used by finished child processes (the kernels): unlike wall time, barely inflated by a busy CPU."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def record_time(key: str, seconds: float, load_before, outcome: str, cpu_before) -> None:
    """Merge one measurement into build/notebook-times.json (a partial run keeps the others)."""
    cpu_after = children_cpu_seconds() if cpu_before is not None else None
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    try:
        times = json.loads(TIMES.read_text())
    except (OSError, ValueError):
        times = {}
    times[key] = {"seconds": round(seconds, 1), "outcome": outcome, "cpus": os.cpu_count(),
                  "kernel_cpu_seconds": round(cpu_after - cpu_before, 1) if cpu_before is not None else None,
                  "load_average": [load_before, load_average()],
                  "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    TIMES.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")


def static_fallback_problems(nb) -> list[str]:
    """Outputs that a front end without widgets (nbconvert, GitHub) would show as an empty box."""
    problems = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW not in data or "image/png" in data:
                continue
            text = str(data.get("text/plain", "")).strip()
            if not text or BARE_WIDGET_REPR.match(text):
                problems.append(f"cell {index}: a widget output with no static fallback (text/plain {text[:60]!r})")
    return problems


def verdict_problems(nb) -> list[str]:
    """Printed lines that speak as a verdict without the interval, seeds and splits that core.stats.verdict states."""
    problems = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            for line in out.get("text", "").splitlines():
                if line.lstrip().startswith("Verdict") and not is_verdict_sentence(line):
                    problems.append(f"cell {index}: {line[:100]!r}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("path", LESSONS)
def test_lesson_executes(path, monkeypatch):
    for name in GRADING_VARIABLES:  # lessons are timed in their own preset, never the grading one
        monkeypatch.delenv(name, raising=False)
    out = BUILD / "executed" / "notebooks" / path.name
    load_before, cpu_before = load_average(), children_cpu_seconds()
    nb, seconds = execute_notebook(path, out, env=notebook_env(False))
    record_time(f"notebooks/{path.name}", seconds, load_before, "ok", cpu_before)
    assert static_fallback_problems(nb) == [], f"{path.name}: widgets without a static picture (see {out})"
    # every verdict a lesson prints comes from core.stats: it carries its interval and its seeds x splits
    assert verdict_problems(nb) == [], f"{path.name}: verdicts not made by core.stats.verdict (see {out})"


def _first_failure(nb):
    for index, cell in enumerate(nb.cells):
        info = cell.get("metadata", {}).get("grader", {})
        if cell.cell_type == "code" and info.get("status", "ok") != "ok":
            return index, info
    return None, None


@pytest.mark.slow
@pytest.mark.parametrize("folder, path", [p for p in ALL if p.values[0] != "notebooks"])
def test_exercise_notebook_executes(folder, path, graded_course):
    """Solutions run to the end and exercises stop at their first stub, in the grading preset.

    Each was executed once for the whole session by the grader (the `graded_course` fixture), which
    runs the notebook as a student's kernel would, with the solution's test cells.
    """
    released = folder == "exercises"
    report = graded_course[(path.stem, released)]
    nb = nbformat.read(report["executed"], as_version=4)
    record_time(f"{folder}/{path.name}", report["seconds"], None, "stopped at a stub" if released else "ok", None)
    index, info = _first_failure(nb)
    if released:
        assert info is not None and info.get("ename") == "NotImplementedError", (
            f"{path.name} must stop at its first unsolved stub with NotImplementedError, but stopped with "
            f"{info} (executed copy: {report['executed']})")
        return
    assert info is None, f"{path.name}: cell {index} failed: {info} (executed copy: {report['executed']})"
    assert static_fallback_problems(nb) == [], f"{path.name}: widgets without a static picture"


@pytest.mark.parametrize("path", LESSONS)
def test_lesson_has_the_course_shape(path):
    """Learning goals first, one settings cell (preset, seed, device), a summary with pointers to the exercises last."""
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    assert len(cells) >= 3, f"{path.name}: expected a title, a settings cell and a summary, got {len(cells)} cells"
    first, second, last = cells[0], cells[1], cells[-1]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), (
        f"{path.name}: the first cell must be a markdown title (# ...), got a {first.cell_type} cell")
    assert GOALS.search(first.source) and re.search(r"^\s*(\d+\.|[-*]) ", first.source, re.M), (
        f"{path.name}: the first cell must state the learning goals as a list")
    assert second.cell_type == "code", f"{path.name}: the second cell must be the settings cell (code)"
    for name in ("PRESET", "SEED", "DEVICE"):
        assert re.search(rf"^{name}\s*=", second.source, re.M), f"{path.name}: the settings cell must set {name}"
    assert last.cell_type == "markdown" and "summary" in last.source.lower(), (
        f"{path.name}: the last cell must be a markdown summary")
    assert "exercises/" in last.source, f"{path.name}: the summary must point to the exercises (exercises/...)"


@pytest.mark.parametrize("folder, path", ALL)
def test_notebook_is_stored_without_outputs(folder, path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"
    stored = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert stored == [], f"{folder}/{path.name}: cells {stored} are stored with outputs; clear them before committing"


INSTALL_BLOCK_START = "# Where the course is not installed"
REPOSITORY_URL = re.compile(r"git\+(https?|ssh)://|github\.com|gitlab\.com|bitbucket\.org", re.I)


def install_block(source: str) -> str:
    """The lines of a settings cell that make the course importable (Colab, a bare kernel), from its comment on."""
    start = source.find(INSTALL_BLOCK_START)
    if start < 0:
        return ""
    lines = source[start:].split("\n")
    block = [lines[0]]
    for line in lines[1:]:  # the block ends at the first blank line
        if not line.strip():
            break
        block.append(line)
    return "\n".join(block)


@pytest.mark.parametrize("folder, path", [p for p in ALL if p.values[0] != "notebooks"])
def test_exercise_has_the_lessons_install_block_in_its_settings_cell(folder, path):
    lesson = install_block(nbformat.read(notebook_paths("notebooks")[0], as_version=4).cells[1].source)
    assert "PRETEXT_LESSONS_URL" in lesson
    second = nbformat.read(path, as_version=4).cells[1]
    assert second.cell_type == "code" and install_block(second.source) == lesson, (
        f"{folder}/{path.name}: the second cell must carry the lessons' install block (PRETEXT_LESSONS_URL)")


@pytest.mark.parametrize("folder, path", ALL)
def test_no_notebook_hard_codes_a_repository_url(folder, path):
    text = path.read_text(encoding="utf-8")
    found = sorted({m.group(0) for m in REPOSITORY_URL.finditer(text)})
    assert found == [], f"{folder}/{path.name} names a repository ({found}); use PRETEXT_LESSONS_URL instead"
