"""The exercises a grader knows: each solutions notebook, its release, questions and fingerprints."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .cells import grade_id, is_answer, item_kind, points_of, questions, read_notebook, source_hash
from .release import SOLUTIONS, release_notebook, solution_paths

MATCH_THRESHOLD = 0.34  # share of an exercise's fixed cells a submission must contain to count as that exercise


@dataclass
class Exercise:
    """One exercise: its solutions notebook, released notebook, questions and cell fingerprints."""

    name: str
    path: Path
    solution: object
    released: object
    questions: dict
    fingerprints: frozenset

    @property
    def auto_points(self) -> float:
        return sum(q.auto_points for q in self.questions.values())

    @property
    def manual_points(self) -> float:
        return sum(q.manual_points for q in self.questions.values())

    def items(self) -> list[dict]:
        """Every graded cell in order: question, grade_id, kind, points, how it is graded, whether it needs the lesson's idea."""
        return [dict(question=gid.split("_", 1)[0], grade_id=gid, kind=kind, points=points_of(cell),
                     graded="by hand" if is_answer(cell) else "by tests", needs_idea=needs_idea)
                for cell in self.solution.cells if (gid := grade_id(cell)) and points_of(cell)
                for kind, needs_idea in [item_kind(cell)]]

    def balance(self) -> dict:
        """The issue's bars for this exercise, computed from its cells: points, autograded share, share passing without the idea."""
        items = self.items()
        auto = [i for i in items if i["graded"] == "by tests"]
        total, auto_points = sum(i["points"] for i in items), sum(i["points"] for i in auto)
        without = sum(i["points"] for i in auto if not i["needs_idea"])
        return dict(points=total, auto_points=auto_points, auto_share=auto_points / total if total else 0.0,
                    without_idea_points=without, without_idea_share=without / auto_points if auto_points else 0.0,
                    kinds=sorted({i["kind"] for i in items}))

    def match(self, hashes: set) -> float:
        """The share of this exercise's fixed (non-answer) cells found in a set of cell hashes."""
        return len(self.fingerprints & hashes) / max(1, len(self.fingerprints))


def load_exercise(path) -> Exercise:
    """Read and release one solutions notebook."""
    path = Path(path)
    solution = read_notebook(path)
    released = release_notebook(solution, path.name)
    fixed = frozenset(source_hash(c.source) for c in released.cells
                      if grade_id(c) and not is_answer(c) and c.source.strip())
    return Exercise(path.stem, path, solution, released, questions(solution), fixed)


@functools.lru_cache(maxsize=8)
def _catalog(folder: str, stamp: tuple) -> dict[str, Exercise]:
    return {p.stem: load_exercise(p) for p in solution_paths(folder)}


def catalog(solutions=None) -> dict[str, Exercise]:
    """Name -> Exercise for every solutions notebook (re-read when a file changes)."""
    folder = Path(solutions or SOLUTIONS).resolve()
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in solution_paths(folder))
    return _catalog(str(folder), stamp)


def identify(nb, exercises: dict[str, Exercise]) -> tuple[str | None, float]:
    """The exercise a notebook's cells belong to (None when none matches) and the share matched."""
    hashes = {source_hash(c.get("source", "")) for c in nb.get("cells", [])}
    best, share = None, 0.0
    for name, ex in exercises.items():
        s = ex.match(hashes)
        if s > share:
            best, share = name, s
    return (best, share) if share >= MATCH_THRESHOLD else (None, share)


def named_exercise(path: Path, exercises: dict[str, Exercise]) -> str | None:
    """The exercise a file's name or folders name (longest match first), else None."""
    for part in [path.stem] + [p.name for p in path.parents][:3]:
        hits = [name for name in exercises if name in part]
        if hits:
            return max(hits, key=len)
    return None


def kinds_table(exercises: dict[str, Exercise]) -> str:
    """Per exercise, its bars (points, autograded share, share without the idea) and each graded item.

    An item reads `grade_id kind points`, with `hand` for one graded by hand and `*` for one that passes
    without the lesson's idea.
    """
    lines = []
    for name, ex in exercises.items():
        b = ex.balance()
        lines.append(f"{name}: {b['points']:g} points, autograded {b['auto_points']:g} ({b['auto_share']:.0%}), "
                     f"autograded without the lesson's idea {b['without_idea_points']:g} "
                     f"({b['without_idea_share']:.0%}); {len(b['kinds'])} kinds")
        lines.append("    " + "; ".join(f"{i['grade_id']} {i['kind']} {i['points']:g}"
                                        + (" hand" if i["graded"] == "by hand" else "")
                                        + ("" if i["needs_idea"] else " *") for i in ex.items()))
    return "\n".join(lines) + "\n"
