"""`release`: write the students' exercises/ from solutions/, as nbgrader's generate_assignment does."""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import nbformat

from ..notebook.execute import ROOT
from .cells import (CODE_STUB, SOLUTION, TEXT_STUB, ExerciseFormatError, grade_id, has_region, is_answer, meta,
                    questions, read_notebook, remove_hidden_tests, replace_solutions, validate)

SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
RELEASE_COMMAND = "python -m pretext_lessons release"
# the visible tests of the course's exercises, inside the package: the self-check of a pip install reads them
PACKAGED_TESTS = Path(__file__).with_name("visible_tests.json")
# nbconvert's ClearOutputPreprocessor drops these view settings too
VIEW_METADATA = ("collapsed", "scrolled")


def release_cell(cell):
    """Lesson 0: the student's version of one cell (a new cell; the argument is left alone)."""
    cell = copy.deepcopy(cell)
    m = meta(cell)
    stub = CODE_STUB if cell.cell_type == "code" else (TEXT_STUB,)
    if is_answer(cell):
        cell.source = (replace_solutions(cell.source, stub) if has_region(cell.source, SOLUTION)
                       else "\n".join(stub))
    if m.get("grade"):
        cell.source = remove_hidden_tests(cell.source)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in VIEW_METADATA:
        cell.metadata.pop(key, None)
    # nbgrader's LockCells: students may not delete graded or locked cells, nor edit tests
    if m and (m.get("solution") or m.get("grade") or m.get("locked")):
        cell.metadata["deletable"] = False
        if not m.get("solution"):
            cell.metadata["editable"] = False
    if m:
        # as nbgrader's ComputeChecksums, so exercises/ is exactly what nbgrader would release
        cell.metadata.nbgrader["cell_type"] = cell.cell_type
        cell.metadata.nbgrader["checksum"] = nbgrader_checksum(cell)
    return cell


def nbgrader_checksum(cell) -> str:
    """Lesson 0: nbgrader's checksum of a cell (md5 of source, type, flags, grade_id and points)."""
    m = meta(cell)
    solution, grade = bool(m.get("solution")), bool(m.get("grade"))
    locked = False if solution else (True if grade else bool(m.get("locked")))
    parts = [cell.source, cell.cell_type, str(grade), str(solution), str(locked), m["grade_id"]]
    if grade:
        parts.append(str(float(m["points"])))
    return hashlib.md5("".join(parts).encode("utf-8")).hexdigest()


def release_notebook(nb, name: str = "notebook"):
    """Lesson 0: the released notebook of a solutions notebook (validated first; a new notebook)."""
    validate(nb, name)
    out = copy.deepcopy(nb)
    out.cells = [release_cell(cell) for cell in nb.cells]
    out.metadata.pop("celltoolbar", None)
    return out


def notebook_text(nb) -> str:
    """Lesson 0: the exact text a notebook is stored as (so two releases compare byte for byte)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def visible_tests(nb) -> dict:
    """Lesson 0: a released notebook's (or path's) questions and their visible test cells, in order.

    {question: {"tests": [[grade_id, source], ...], "by": "tests" | "hand"}}; hidden regions removed.
    """
    if isinstance(nb, (str, Path)):
        nb = read_notebook(nb)
    cells = {grade_id(c): c for c in nb.cells if grade_id(c)}
    return {name: {"tests": [[gid, remove_hidden_tests(cells[gid].source)] for gid in q.tests],
                   "by": "tests" if q.tests else "hand"}
            for name, q in questions(nb).items()}


def visible_tests_text(texts: dict[str, str]) -> str:
    """Lesson 0: the packaged visible tests (JSON text) of released notebooks given as file name -> text."""
    tests = {Path(name).stem: visible_tests(nbformat.reads(text, as_version=4)) for name, text in texts.items()}
    return json.dumps(tests, indent=1, sort_keys=True) + "\n"


def read_visible_tests() -> dict:
    """Lesson 0: the packaged visible tests ({} when the file is missing or unreadable)."""
    try:
        return json.loads(PACKAGED_TESTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def solution_paths(solutions=None) -> list[Path]:
    """Lesson 0: the solutions notebooks, in lesson order."""
    folder = Path(solutions or SOLUTIONS)
    if not folder.is_dir():
        raise FileNotFoundError(f"solutions must be a folder of exercise notebooks; {folder} does not exist")
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def released_texts(solutions=None) -> dict[str, str]:
    """Lesson 0: file name -> released text for every solutions notebook; all problems raised together."""
    texts, problems = {}, []
    for path in solution_paths(solutions):
        try:
            texts[path.name] = notebook_text(release_notebook(read_notebook(path), path.name))
        except ExerciseFormatError as err:
            problems += err.problems
    if problems:
        raise ExerciseFormatError(problems)
    return texts


def release(solutions=None, exercises=None) -> list[Path]:
    """Lesson 0: write exercises/ from solutions/ (and remove released notebooks whose solution is gone)."""
    out = Path(exercises or EXERCISES)
    texts = released_texts(solutions)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.ipynb"):
        if stale.name not in texts:
            stale.unlink()
    written = []
    for name, text in texts.items():
        target = out / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(target)
    if solutions is None and exercises is None:  # the course's own release: the package carries its tests
        packaged = visible_tests_text(texts)
        if not PACKAGED_TESTS.exists() or PACKAGED_TESTS.read_text(encoding="utf-8") != packaged:
            PACKAGED_TESTS.write_text(packaged, encoding="utf-8")
    return written


def out_of_sync(solutions=None, exercises=None) -> list[str]:
    """Lesson 0: why exercises/ differs from a fresh release of solutions/ (empty when in sync)."""
    out = Path(exercises or EXERCISES)
    texts = released_texts(solutions)
    problems = [f"{name}: missing from {out}" for name in texts if not (out / name).exists()]
    problems += [f"{name}: differs from the release of its solution" for name, text in texts.items()
                 if (out / name).exists() and (out / name).read_text(encoding="utf-8") != text]
    problems += [f"{p.name}: has no solution notebook" for p in sorted(out.glob("*.ipynb")) if p.name not in texts]
    if solutions is None and exercises is None and read_visible_tests() != json.loads(visible_tests_text(texts)):
        problems.append(f"{PACKAGED_TESTS.name}: the package's copy of the visible tests differs from the release")
    return problems
