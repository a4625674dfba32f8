"""The syllabus's "student time" column: a student's reading and exercise time per lesson, estimated.

    python scripts/student_time.py            # print the estimates and the assumptions
    python scripts/student_time.py --write    # write them into README.md's syllabus table

The estimate, from the lessons and exercises as stored (no kernel is run):
- prose (markdown cells of the lesson and of its exercise notebook) at READING_WPM words a minute,
  slower than everyday reading, since it is technical and has formulas;
- code the student reads (the lesson's code cells) at CODE_SECONDS_PER_LINE a non-blank line;
- exercises at MINUTES_PER_POINT a graded point (the points of solutions/).
Running time is not in it: the CPU column beside it gives what the kernel takes.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READING_WPM = 150
CODE_SECONDS_PER_LINE = 3
MINUTES_PER_POINT = 3
HEADER = "student time: lesson + exercises"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _words(cells) -> int:
    return sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")


def _code_lines(cells) -> int:
    return sum(sum(1 for line in "".join(c["source"]).splitlines() if line.strip())
               for c in cells if c["cell_type"] == "code")


def _points(cells) -> float:
    return sum(float(c["metadata"].get("nbgrader", {}).get("points", 0)) for c in cells
               if c["metadata"].get("nbgrader", {}).get("grade"))


PART = re.compile(r"#{1,2} Part ([A-Z])\b")  # a heading that opens one part of a two-part exercise notebook


def exercise_cells(name: str, root: Path = ROOT) -> list[dict]:
    """The cells of lesson `name`'s exercises: solutions/NAME.ipynb, or the part of it that goes with the lesson.

    A lesson in two parts ("03_relative_position", "03b_chromatic_aberration") shares one exercise notebook
    (solutions/03_relative_position.ipynb) whose markdown headings "# Part A" and "# Part B" open each part's
    questions; the cells before the first part (introduction, settings) count for part A.
    """
    number, letter = re.match(r"(\d\d)([a-z]?)_", name).groups()
    solution = root / "solutions" / f"{name}.ipynb"
    if not solution.is_file():
        shared = sorted((root / "solutions").glob(f"{number}_*.ipynb")) if letter else []
        if not shared:
            return []
        solution = shared[0]
    cells, part, mine = _cells(solution), "A", []
    if not any(c["cell_type"] == "markdown" and PART.match("".join(c["source"])) for c in cells):
        return cells
    for c in cells:
        m = PART.match("".join(c["source"])) if c["cell_type"] == "markdown" else None
        part = m.group(1) if m else part
        if part == (letter or "a").upper():
            mine.append(c)
    return mine


def estimate(name: str, root: Path = ROOT) -> dict:
    """Minutes a student spends on lesson `name` (e.g. "00_introduction"): reading it, and its exercises."""
    lesson = root / "notebooks" / f"{name}.ipynb"
    if not lesson.is_file():
        raise FileNotFoundError(f"name must name a lesson in notebooks/, got {name!r} ({lesson} is missing)")
    cells = _cells(lesson)
    ex = exercise_cells(name, root)
    lesson_min = _words(cells) / READING_WPM + _code_lines(cells) * CODE_SECONDS_PER_LINE / 60
    exercise_min = _words(ex) / READING_WPM + _points(ex) * MINUTES_PER_POINT
    return {"lesson": lesson_min, "exercises": exercise_min, "words": _words(cells) + _words(ex),
            "points": _points(ex)}


def _fmt(minutes: float) -> str:
    return f"{round(minutes / 5) * 5:.0f} min" if minutes >= 10 else f"{max(1, round(minutes)):.0f} min"


def cell_text(e: dict) -> str:
    """The README cell: lesson and exercise minutes, rounded to 5."""
    return f"{_fmt(e['lesson'])} + {_fmt(e['exercises'])}"


def lessons(root: Path = ROOT) -> list[str]:
    return [p.stem for p in sorted((root / "notebooks").glob("[0-9][0-9]*_*.ipynb"))]


def total_text(estimates: list[dict]) -> str:
    hours = sum(e["lesson"] + e["exercises"] for e in estimates) / 60
    return f"**about {hours:.0f} hours**"


def rewrite(readme: str, root: Path = ROOT) -> str:
    """README text with the syllabus table's student-time column (added, or brought up to date)."""
    lines = readme.split("\n")
    start = next((i for i, l in enumerate(lines) if l.startswith("| lesson |") and "what you learn" in l), None)
    if start is None:
        raise ValueError("README.md has no syllabus table (a row starting '| lesson | what you learn')")
    has = HEADER in lines[start]
    ests = {name: estimate(name, root) for name in lessons(root)}

    def set_last(line, value):
        cells = line.rstrip().rstrip("|").rstrip().split(" | ")
        cells = cells[:-1] if has else cells
        return " | ".join(cells + [value]) + " |"

    lines[start] = set_last(lines[start], HEADER)
    lines[start + 1] = set_last(lines[start + 1], "---")
    i = start + 2
    while i < len(lines) and lines[i].startswith("|"):
        m = re.search(r"\(notebooks/(\d\d[a-z]?_\w+)\.ipynb\)", lines[i])
        if m and m.group(1) in ests:
            lines[i] = set_last(lines[i], cell_text(ests[m.group(1)]))
        elif "whole course" in lines[i]:
            lines[i] = set_last(lines[i], total_text(list(ests.values())))
        else:
            lines[i] = set_last(lines[i], "")
        i += 1
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write the column into README.md")
    args = ap.parse_args(argv)
    print(f"assumed: prose at {READING_WPM} words/min, lesson code at {CODE_SECONDS_PER_LINE} s/line, "
          f"{MINUTES_PER_POINT} min per exercise point")
    for name in lessons():
        e = estimate(name)
        print(f"{name:<28} {e['words']:>5} words, {e['points']:>4g} points: lesson {e['lesson']:4.0f} min, "
              f"exercises {e['exercises']:4.0f} min")
    if args.write:
        path = ROOT / "README.md"
        path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
