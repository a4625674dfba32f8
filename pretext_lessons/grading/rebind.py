"""Which names each test reads from the exercise's fixed cells, so the grader can bind them again before it.

A hidden test that reads a value a fixed cell computed (`relpos_acc`, `q5_seeds`, `X_test`) would
read whatever an answer cell last put under that name: `relpos_acc = 0.99` in an answer would pass
a test about it. So the grader keeps a copy of each such value right after its fixed cell ran
(`snapshot_code`, in the kernel) and binds the copy again before each test that reads it
(`restore_code`). Imports and functions of fixed cells are bound again by the preamble
(grader.preamble); names an answer cell sets are the student's answers and are left alone.

Read from the cells' text, never by running them; tests/test_grading_sandbox.py walks every hidden
test of solutions/ and fails when one reads a fixed cell's value this plan leaves out.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .cells import STUDENT_ID, grade_id, is_answer, is_test, remove_hidden_tests

STORE = "_pretext_grader_fixed"  # the kernel's module (in sys.modules) that holds the copies


class _Binder(ast.NodeVisitor):
    """The names a cell binds at its top level (assignments, loops, with, imports, def, class)."""

    def __init__(self):
        self.values: set[str] = set()
        self.definitions: set[str] = set()  # imports, functions, classes: the preamble's to bind again

    def visit_FunctionDef(self, node):
        self.definitions.add(node.name)  # its body binds nothing at the top level

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    def visit_ListComp(self, node):  # a comprehension's variables are its own
        pass

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_Import(self, node):
        self.definitions |= {a.asname or a.name.split(".")[0] for a in node.names}

    visit_ImportFrom = visit_Import

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.values.add(node.id)


def _parse(source: str):
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def bound_names(source: str) -> tuple[set, set]:
    """(values, definitions) a cell binds at its top level; two empty sets for a cell that does not parse."""
    tree = _parse(source)
    binder = _Binder()
    if tree is not None:
        binder.visit(tree)
    return binder.values, binder.definitions


def read_names(source: str) -> set:
    """Every name a cell reads (anywhere: a function or comprehension it defines may read a global)."""
    tree = _parse(source)
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _free_names(node) -> set:
    """The names a function or class reads and never binds inside itself (arguments, assignments): its globals."""
    loads, local = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else local).add(n.id)
        elif isinstance(n, ast.arg):
            local.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            local |= {a.asname or a.name.split(".")[0] for a in n.names}
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not node:
            local.add(n.name)
    globals_ = {name for n in ast.walk(node) if isinstance(n, ast.Global) for name in n.names}
    return loads - (local - globals_)


def helper_reads(source: str) -> dict[str, set]:
    """Per function or class a cell defines at its top level, the global names its body reads."""
    tree = _parse(source)
    if tree is None:
        return {}
    return {node.name: _free_names(node)
            for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def reads_through(names: set, helpers: dict[str, set]) -> set:
    """`names` and every name read by the helpers among them, and by the helpers those read, and so on."""
    seen, todo = set(names), list(names)
    while todo:
        for name in helpers.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


@dataclass
class RebindPlan:
    """Per fixed cell, the values to keep a copy of after it; per test cell, the values to bind again before it."""

    snapshots: dict = field(default_factory=dict)  # fixed cell grade_id -> [names]
    tests: dict = field(default_factory=dict)  # test cell grade_id -> [names]


def rebind_plan(solution) -> RebindPlan:
    """The plan for a solutions notebook, from its cells' text.

    A test's name is bound again when the test reads it (itself, or through a helper function of
    a fixed cell it calls: `q3_images` reads the global `X_test`), does not bind it itself (then it
    recomputes it), some fixed cell before the test binds it as a value, and no answer cell of the
    exercise binds it (then it is the student's answer; STUDENT_ID is bound by the grader itself).
    The copy is taken after the last fixed cell before the test that binds it.
    """
    plan = RebindPlan()
    last_fixed: dict[str, str] = {}  # name -> grade_id of the last fixed cell that bound it
    helpers: dict[str, set] = {}  # a fixed cell's function or class -> the names it reads
    answers: set[str] = {STUDENT_ID}
    for cell in solution.cells:
        if cell.get("cell_type") == "code" and is_answer(cell):
            values, definitions = bound_names(remove_hidden_tests(cell.source))
            answers |= values | definitions
    for cell in solution.cells:
        if cell.get("cell_type") != "code":
            continue
        gid = grade_id(cell)
        if is_test(cell):
            own_values, own_definitions = bound_names(cell.source)
            reads = reads_through(read_names(cell.source), {k: v for k, v in helpers.items() if k not in answers})
            wanted = sorted((reads - own_values - own_definitions - answers) & set(last_fixed))
            if wanted:
                plan.tests[gid] = wanted
                for name in wanted:
                    names = plan.snapshots.setdefault(last_fixed[name], [])
                    if name not in names:
                        names.append(name)
        elif not is_answer(cell):
            values, definitions = bound_names(cell.source)
            for name in values:
                last_fixed[name] = gid
            for name in definitions - values:  # a later import or def of the name: the preamble's
                last_fixed.pop(name, None)
            helpers.update(helper_reads(cell.source))
    for names in plan.snapshots.values():
        names.sort()
    return plan


# Run in the kernel (exec'd by the runner with `_ns` the user's namespace and `_names` the names): keep a
# deep copy of each value (the value itself where it cannot be copied, e.g. a generator object).
SNAPSHOT = """\
import copy as _copy, sys as _sys, types as _types
_store = _sys.modules.setdefault({store!r}, _types.ModuleType({store!r})).__dict__.setdefault('values', {{}})
for _name in {names!r}:
    if _name in _ns:
        try:
            _store[_name] = _copy.deepcopy(_ns[_name])
        except Exception:
            _store[_name] = _ns[_name]
"""

RESTORE = """\
import copy as _copy, sys as _sys
_store = getattr(_sys.modules.get({store!r}), 'values', {{}})
for _name in {names!r}:
    if _name not in _store:
        raise RuntimeError('the grader kept no copy of ' + repr(_name) + ', which the test reads (did the cell '
                           'that computes it fail?)')
    try:
        _ns[_name] = _copy.deepcopy(_store[_name])
    except Exception:
        _ns[_name] = _store[_name]
"""


def snapshot_code(names) -> str:
    """Code (run with `_ns` the user's namespace) that keeps a copy of `names` in the kernel's store."""
    return SNAPSHOT.format(store=STORE, names=list(names))


def restore_code(names) -> str:
    """Code (run with `_ns` the user's namespace) that binds `names` again from the store; raises when one is missing."""
    return RESTORE.format(store=STORE, names=list(names))
