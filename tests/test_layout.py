"""The package's layers: each folder imports only from the folders before it, and internal imports sit at the top."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pretext_lessons"
# what each folder may import from inside the package (docs/CONVENTIONS.md, "The package")
ALLOWED = {
    "core": {"core"},
    "notebook": {"core", "notebook"},
    "tasks": {"core", "notebook", "tasks"},
    "experiments": {"core", "notebook", "tasks", "experiments"},
    "grading": {"core", "notebook", "grading"},
}
EVERY_MODULE = sorted(PACKAGE.rglob("*.py"))
MODULES = [p for p in EVERY_MODULE if p.parent != PACKAGE]  # the top-level __init__ and __main__ may import all


def internal_imports(path: Path):
    """(folder imported, line, inside a function?) for every import of the package's own modules in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    folder = path.relative_to(PACKAGE).parts[0]
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = path.relative_to(PACKAGE).parts[:-1][:len(path.relative_to(PACKAGE).parts) - node.level]
            target = list(parts) + (node.module.split(".") if node.module else [])
            if not target:  # `from .. import x` at the top: x is a folder
                target = [alias.name for alias in node.names]
            yield (target[0] if target else folder), node.lineno, id(node) in nested
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pretext_lessons."):
            yield node.module.split(".")[1], node.lineno, id(node) in nested


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_folder_imports_only_the_layers_before_it(path):
    folder = path.relative_to(PACKAGE).parts[0]
    wrong = [f"line {line}: imports {target}" for target, line, _ in internal_imports(path)
             if target not in ALLOWED[folder]]
    assert not wrong, f"{path.relative_to(PACKAGE)} ({folder} may import {sorted(ALLOWED[folder])}): {wrong}"


@pytest.mark.parametrize("path", EVERY_MODULE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_package_s_own_imports_sit_at_the_top_of_each_module(path):
    hidden = [f"line {line}: {target}" for target, line, inside in internal_imports(path) if inside]
    assert not hidden, f"{path.relative_to(PACKAGE)} imports package modules inside functions: {hidden}"


def test_every_folder_is_known():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(ALLOWED)


MAX_LINES = 600  # a module longer than this says at its top why it must be


@pytest.mark.parametrize("path", EVERY_MODULE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_the_line_limit_without_saying_why(path):
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n") + 1
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert lines <= MAX_LINES or f"over {MAX_LINES} lines" in docstring, (
        f"{path.relative_to(PACKAGE)} has {lines} lines: split it, or say at its top why it is over {MAX_LINES} lines")


def private_imports(path: Path):
    """Private names (one leading underscore) that `path` takes from another module of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = set()  # names bound to the package's own modules: `from . import probing`, `from ..core import probe as p`
    for node in ast.walk(tree):
        internal = isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("pretext_lessons"))
        if internal:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}"
                modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            yield f"line {node.lineno}: {node.value.id}.{node.attr}"


@pytest.mark.parametrize("path", EVERY_MODULE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_uses_another_module_s_private_names(path):
    found = list(private_imports(path))
    assert not found, f"{path.relative_to(PACKAGE)} uses private names of other modules (make them public where they live): {found}"


def test_the_private_import_check_finds_one(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from .probe import _one_thread\nfrom . import probe\nprobe._fit(1)\n")
    assert len(list(private_imports(module))) == 2
