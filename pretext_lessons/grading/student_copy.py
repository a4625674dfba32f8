"""`student`: the folder a class gets: lessons, released exercises, the package and the set-up; no solutions, no history."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..notebook.execute import ROOT
from .release import release

# what a student needs from the course folder, besides exercises/ (released afresh from solutions/)
STUDENT_FILES = ("README.md", "LICENSE", "Makefile", "pyproject.toml", "constraints.txt", "environment.yml",
                 "scripts/setup.sh")
STUDENT_FOLDERS = ("notebooks", "pretext_lessons")
SKIP = ("__pycache__", "*.pyc", "*.pyo", ".*", ".ipynb_checkpoints")
STUDENT_COMMAND = "python -m pretext_lessons student OUT"


def write_student_copy(out, root=None, solutions=None) -> list[Path]:
    """Write the students' copy of the course into the new or empty folder `out`; the files written.

    `exercises/` is released from `solutions/` here (hidden tests removed, answers replaced by
    stubs, by nbgrader's own preprocessors), never copied, so a stale or hand-edited exercises/
    cannot leak an answer. Lessons are copied as stored (without outputs); the package without
    caches; no `solutions/`, no `tests/`, no `.git` or any other dot file.
    """
    root = Path(root or ROOT)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"out must be a new or empty folder, got {out} (it holds files already)")
    if out.resolve() == root.resolve() or root.resolve() in out.resolve().parents and \
            out.resolve().relative_to(root.resolve()).parts[0] in STUDENT_FOLDERS:
        raise ValueError(f"out must lie outside the folders it copies, got {out}")
    out.mkdir(parents=True, exist_ok=True)
    for name in STUDENT_FILES:
        if (root / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, out / name)
    for name in STUDENT_FOLDERS:
        shutil.copytree(root / name, out / name, ignore=shutil.ignore_patterns(*SKIP))
    release(solutions or root / "solutions", out / "exercises")
    return sorted(p for p in out.rglob("*") if p.is_file())
