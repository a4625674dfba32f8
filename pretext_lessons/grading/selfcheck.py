"""The students' self-check: `check("q1", "01_rotation")` runs a question's visible tests in their notebook.

The tests come from the released copy in exercises/ (hidden tests were removed there, and any
hidden region is removed again here), and run on a copy of the notebook's variables, so a check
never changes the student's own variables.
"""
from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .cells import grade_id, has_code, is_test, questions, read_notebook, remove_hidden_tests
from .release import EXERCISES

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


@dataclass
class TestOutcome:
    """Lesson 0: one visible test cell's result."""

    cell: str
    passed: bool
    message: str = ""


@dataclass
class CheckResult:
    """Lesson 0: what `check` found for each question; shown as text in the notebook."""

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


def exercise_notebook(exercise: str | None):
    """Lesson 0: the path of the released exercise notebook a self-check reads its tests from."""
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
        return path
    known = sorted(p.stem for p in EXERCISES.glob("*.ipynb"))
    # a renamed copy ("01_rotation-Copy1", "alice_01_rotation") still finds its exercise
    names = [name for name in known if name in path.stem]
    if not names:
        raise ValueError(f"exercise must be one of {known}, got {str(exercise)!r}")
    return EXERCISES / f"{max(names, key=len)}.ipynb"


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
    """Lesson 0: run one visible test cell on a copy of `namespace`; a message the student can act on."""
    from ..notebook.checks import CheckFailed

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
        return TestOutcome(name, False, f"{err}: run the answer cell (and the cells above it) first")
    except AssertionError as err:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
        line = lines[frames[-1].lineno - 1].strip() if frames else ""
        return TestOutcome(name, False, str(err) or f"this check failed: {line}")
    except Exception as err:  # noqa: BLE001 - any error in the student's code becomes a message
        return TestOutcome(name, False, f"your code raised {type(err).__name__}: {err}{_where(err, filename)}")
    return TestOutcome(name, True)


def check(question: str | None = None, exercise: str | None = None, namespace: dict | None = None) -> CheckResult:
    """Lesson 0: run the visible tests of `question` (all questions when None) of an exercise on your answers."""
    path = exercise_notebook(exercise)
    nb = read_notebook(path)
    found = questions(nb)
    if question is not None and not isinstance(question, str):
        raise TypeError(f"question must be a question name like 'q1', got {type(question).__name__}")
    if question is not None and question not in found:
        raise ValueError(f"question must be one of {list(found)} (the questions of {path.stem}), got {question!r}")
    ns = _namespace(namespace)
    tests = {grade_id(c): remove_hidden_tests(c.source) for c in nb.cells if is_test(c)}
    result = CheckResult(path.stem)
    for name, q in found.items():
        if question is not None and name != question:
            continue
        result.outcomes[name] = [run_test(tests[gid], gid, ns) for gid in q.tests if has_code(tests[gid])]
        if not q.tests:
            result.manual.add(name)
    return result
