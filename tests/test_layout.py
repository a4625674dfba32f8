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
