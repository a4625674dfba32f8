"""`release`: write the students' exercises/ from solutions/, as nbgrader's generate_assignment does."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from ..notebook.execute import ROOT
from .cells import ExerciseFormatError, grade_id, questions, read_notebook, remove_hidden_tests, validate

SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
RELEASE_COMMAND = "python -m pretext_lessons release"
# the visible tests of the course's exercises, inside the package: the self-check of a pip install reads them
PACKAGED_TESTS = Path(__file__).with_name("visible_tests.json")
def _nbgrader_steps() -> list:
    # imported here: nbgrader is the instructor extra, and the students' self-check imports this module
    try:
        from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions, ComputeChecksums, LockCells
    except ImportError as err:
        raise ModuleNotFoundError("releasing exercises uses nbgrader's own preprocessors; install the instructor "
                                  "extra: pip install -e '.[instructor]'") from err
    return [ClearSolutions(), ClearHiddenTests(), ClearOutput(), LockCells(), ComputeChecksums()]


def _released(nb):
    out = copy.deepcopy(nb)
    resources: dict = {}
    for step in _nbgrader_steps():
        out, resources = step.preprocess(out, resources)
    out.metadata.pop("celltoolbar", None)
    return out


def release_cell(cell):
    """The student's version of one cell (a new cell; the argument is left alone)."""
    single = nbformat.v4.new_notebook(cells=[copy.deepcopy(cell)],
                                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
    return _released(single).cells[0]


def release_notebook(nb, name: str = "notebook"):
    """The released notebook of a solutions notebook (validated first; a new notebook).

    Released by nbgrader's own preprocessors, as `nbgrader generate_assignment` does (answer regions
    become stubs, hidden tests vanish, outputs are cleared, cells locked and checksummed), so
    exercises/ is byte for byte what nbgrader releases; the validation before it is ours, to name
    every fault at once.
    """
    validate(nb, name)
    return _released(nb)


def notebook_text(nb) -> str:
    """The exact text a notebook is stored as (so two releases compare byte for byte)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def visible_tests(nb) -> dict:
    """A released notebook's (or path's) questions and their visible test cells, in order.

    {question: {"tests": [[grade_id, source], ...], "by": "tests" | "hand"}}; hidden regions removed.
    """
    if isinstance(nb, (str, Path)):
        nb = read_notebook(nb)
    cells = {grade_id(c): c for c in nb.cells if grade_id(c)}
    return {name: {"tests": [[gid, remove_hidden_tests(cells[gid].source)] for gid in q.tests],
                   "by": "tests" if q.tests else "hand"}
            for name, q in questions(nb).items()}


def visible_tests_text(texts: dict[str, str]) -> str:
    """The packaged visible tests (JSON text) of released notebooks given as file name -> text."""
    tests = {Path(name).stem: visible_tests(nbformat.reads(text, as_version=4)) for name, text in texts.items()}
    return json.dumps(tests, indent=1, sort_keys=True) + "\n"


def read_visible_tests() -> dict:
    """The packaged visible tests ({} when the file is missing or unreadable)."""
    try:
        return json.loads(PACKAGED_TESTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def solution_paths(solutions=None) -> list[Path]:
    """The solutions notebooks, in lesson order."""
    folder = Path(solutions or SOLUTIONS)
    if not folder.is_dir():
        raise FileNotFoundError(f"solutions must be a folder of exercise notebooks; {folder} does not exist")
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def released_texts(solutions=None) -> dict[str, str]:
    """File name -> released text for every solutions notebook; all problems raised together."""
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
    """Write exercises/ from solutions/ (and remove released notebooks whose solution is gone)."""
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
    """Why exercises/ differs from a fresh release of solutions/ (empty when in sync)."""
    out = Path(exercises or EXERCISES)
    texts = released_texts(solutions)
    problems = [f"{name}: missing from {out}" for name in texts if not (out / name).exists()]
    problems += [f"{name}: differs from the release of its solution" for name, text in texts.items()
                 if (out / name).exists() and (out / name).read_text(encoding="utf-8") != text]
    problems += [f"{p.name}: has no solution notebook" for p in sorted(out.glob("*.ipynb")) if p.name not in texts]
    if solutions is None and exercises is None and read_visible_tests() != json.loads(visible_tests_text(texts)):
        problems.append(f"{PACKAGED_TESTS.name}: the package's copy of the visible tests differs from the release")
    return problems
