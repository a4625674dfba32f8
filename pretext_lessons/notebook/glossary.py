"""Lesson 0: the words you will meet: the course's glossary, as data.

Each entry is a term, what it is, where it is first used and how a definition of it reads:
`uses` finds the term in a lesson's prose, `defined_by` the words that define it. Lesson 0
prints the glossary (`glossary_markdown`), and a test walks every lesson's markdown in order and
checks that the first use of each term has its definition beside it (`first_use_problems`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

# term, its definition (one sentence or two, as lesson 0 prints it), what counts as a use of it
# (`uses`, a regular expression) and what counts as defining it (`defined_by`, looked for within
# WINDOW characters of the first use, same cell). The entries are data, kept in glossary.json.
GLOSSARY = tuple(json.loads((Path(__file__).with_name("glossary.json")).read_text(encoding="utf-8")))
WINDOW = 300  # characters between a term's first use and its definition, in the same cell
CODE_SPAN = re.compile(r"```.*?```|`[^`\n]{2,}`", re.S)  # code is not prose (a one-letter span, `C`, stays)
LINK = re.compile(r"\]\([^)]*\)|https?://\S+")


HEADING = re.compile(r"^#+ .*$", re.M)  # a heading names a topic; the prose under it defines


def prose(markdown: str) -> str:
    """A markdown cell's prose: headings, code spans and link targets blanked (positions kept)."""
    blank = lambda m: " " * len(m.group(0))
    return HEADING.sub(blank, LINK.sub(blank, CODE_SPAN.sub(blank, markdown)))


def glossary_markdown() -> str:
    """The "words you will meet" box, as markdown."""
    lines = ["Each is defined again where a lesson first uses it.", ""]
    lines += [f"- **{entry['term']}**: {entry['definition']}" for entry in GLOSSARY]
    return "\n".join(lines)


def first_use_problems(cells: list[str], lesson: str = "lesson") -> list[str]:
    """For markdown cells in reading order, the terms whose first use has no definition beside it."""
    if isinstance(cells, str) or not all(isinstance(c, str) for c in cells):
        raise TypeError(f"cells must be a list of markdown strings, got {type(cells).__name__}")
    problems = []
    texts = [prose(c) for c in cells]
    for entry in GLOSSARY:
        uses, defined = re.compile(entry["uses"]), re.compile(entry["defined_by"])
        for i, text in enumerate(texts):
            use = uses.search(text)
            if use is None:
                continue
            near = text[max(0, use.start() - WINDOW):use.end() + WINDOW]
            if not defined.search(near):
                snippet = " ".join(cells[i][max(0, use.start() - 60):use.end() + 60].split())
                problems.append(f"{lesson}, markdown cell {i}: '{entry['term']}' is first used without its "
                                f"definition within {WINDOW} characters: ...{snippet}...")
            break
    return problems
