"""The students' self-check: `check("q1", "01_rotation")` runs a question's visible tests in their notebook.

The tests come from the released copy in exercises/ when the course is a clone, else from the
visible tests shipped inside the package (`visible_tests.json`, written by `release`), so a pip
install checks as a clone does. Hidden tests are never there (any hidden region is removed
again here). Tests run on a copy of the notebook's variables, so a check never changes the
student's own variables.
"""
from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..notebook.checks import CheckFailed
from .cells import has_code, remove_hidden_tests
from .release import EXERCISES, read_visible_tests, visible_tests

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


@dataclass
class TestOutcome:
    """One visible test cell's result."""

    cell: str
    passed: bool
    message: str = ""


@dataclass
class CheckResult:
    """What `check` found for each question; shown as text in the notebook."""

    exercise: str
    outcomes: dict = field(default_factory=dict)  # question -> [TestOutcome]
    manual: set = field(default_factory=set)  # questions graded by hand only

    @property
    def passed(self) -> bool:
        return all(o.passed for outs in self.outcomes.values() for o in outs)

    def __repr__(self) -> str:
        lines = []
        for q, outs in self.outcomes.items():
            failed = [o for o in outs if not o.passed]
            if not outs:
                how = "by hand" if q in self.manual else "by hidden tests"
                lines.append(f"{q}: nothing to check here; it is graded {how}")
            elif failed:
                lines.append(f"{q}: {len(outs) - len(failed)} of {len(outs)} test cells pass")
                lines += [f"  - {o.cell}: {o.message}" for o in failed]
            else:
                lines.append(f"{q}: passes its visible tests ({len(outs)} test cell{'s' * (len(outs) > 1)})")
        if any(outs for outs in self.outcomes.values()):
            lines.append("(visible tests only: when your notebook is graded, hidden tests may check more)")
        return "\n".join(lines)

    __str__ = __repr__


def _session_notebook() -> str | None:
    # JupyterLab and VS Code tell the kernel which notebook it serves
    try:
        ns = get_ipython().user_ns  # noqa: F821 - only defined inside IPython
        for key in ("__session__", "__vsc_ipynb_file__"):
            if ns.get(key):
                return str(ns[key])
    except NameError:
        pass
    return os.environ.get("JPY_SESSION_NAME")


def exercise_tests(exercise: str | None) -> tuple[str, dict]:
    """An exercise's name and visible tests ({question: {"tests": [[cell, source]], "by": ...}}).

    `exercise` is a notebook path, an exercise name (a renamed copy's name finds its exercise),
    or None for the notebook this kernel serves.
    """
    if exercise is None:
        exercise = _session_notebook()
        if exercise is None:
            raise ValueError("exercise must be given when the notebook can't be detected, e.g. "
                             "check(\"q1\", \"01_rotation\")")
        exercise = Path(exercise).stem
    if not isinstance(exercise, (str, os.PathLike)):
        raise TypeError(f"exercise must be an exercise name like '01_rotation' or a notebook path, "
                        f"got {type(exercise).__name__}")
    path = Path(exercise)
    if path.suffix == ".ipynb" and path.is_file():
        return path.stem, visible_tests(path)
    # a clone reads exercises/; a pip install (no exercises/ beside the package) reads the package's copy
    folder = sorted(p.stem for p in Path(EXERCISES).glob("*.ipynb"))
    packaged = {} if folder else read_visible_tests()
    known = folder or sorted(packaged)
    # a renamed copy ("01_rotation-Copy1", "alice_01_rotation") still finds its exercise
    names = [name for name in known if name in path.stem]
    if not names:
        raise ValueError(f"exercise must be one of {known}, got {str(exercise)!r}")
    name = max(names, key=len)
    return name, (visible_tests(Path(EXERCISES) / f"{name}.ipynb") if folder else packaged[name])


def _namespace(namespace):
    if namespace is not None:
        if not isinstance(namespace, dict):
            raise TypeError(f"namespace must be a dict of variables, got {type(namespace).__name__}")
        return namespace
    try:
        return get_ipython().user_ns  # noqa: F821
    except NameError:
        return sys._getframe(2).f_globals


def _where(err: BaseException, test_name: str) -> str:
    """Where in the student's own code an error happened (not in the test, the package or a library)."""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        name = frame.filename
        if (name == test_name or "site-packages" in name or name.startswith(PACKAGE_DIR)
                or name.startswith("<frozen") or name == __file__):
            continue
        code = f": {frame.line.strip()}" if frame.line else ""
        return f" (in {frame.name}, line {frame.lineno}{code})"
    return ""


def _compile(source: str, filename: str):
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)  # tests may use magics
    except ImportError:
        pass
    return compile(source, filename, "exec")


def run_test(source: str, name: str, namespace: dict) -> TestOutcome:
    """Run one visible test cell on a copy of `namespace`; a message the student can act on."""
    filename = f"<test {name}>"
    lines = source.split("\n")
    try:
        exec(_compile(source, filename), dict(namespace))  # a copy: tests never overwrite the student's names
    except CheckFailed as err:
        return TestOutcome(name, False, str(err))
    except NotImplementedError:
        return TestOutcome(name, False, "not answered yet: replace `raise NotImplementedError()` in the answer "
                                        "cell with your code, then run that cell")
    except NameError as err:
        # an answer cell that still raises NotImplementedError never sets its names: the same as unanswered
        return TestOutcome(name, False, f"not answered yet: {err}; set it in the answer cell (in place of "
                                        f"`raise NotImplementedError()`), then run that cell and the cells above it")
    except AssertionError as err:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
        line = lines[frames[-1].lineno - 1].strip() if frames else ""
        return TestOutcome(name, False, str(err) or f"this check failed: {line}")
    except Exception as err:  # noqa: BLE001 - any error in the student's code becomes a message
        return TestOutcome(name, False, f"your code raised {type(err).__name__}: {err}{_where(err, filename)}")
    return TestOutcome(name, True)


def check(question: str | None = None, exercise: str | None = None, namespace: dict | None = None) -> CheckResult:
    """Run the visible tests of `question` (all questions when None) of an exercise on your answers."""
    name, found = exercise_tests(exercise)
    if question is not None and not isinstance(question, str):
        raise TypeError(f"question must be a question name like 'q1', got {type(question).__name__}")
    if question is not None and question not in found:
        raise ValueError(f"question must be one of {list(found)} (the questions of {name}), got {question!r}")
    ns = _namespace(namespace)
    result = CheckResult(name)
    for q, entry in found.items():
        if question is not None and q != question:
            continue
        tests = [(gid, remove_hidden_tests(source)) for gid, source in entry["tests"]]
        result.outcomes[q] = [run_test(source, gid, ns) for gid, source in tests if has_code(source)]
        if entry["by"] == "hand":
            result.manual.add(q)
    return result
