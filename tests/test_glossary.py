"""Lesson 0's glossary: every term is defined where each lesson first uses it."""
import json
import re
from pathlib import Path

import pytest

from pretext_lessons.notebook.glossary import GLOSSARY, first_use_problems, glossary_markdown, prose

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))


def markdown_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def test_every_entry_defines_itself_the_way_the_test_recognises():
    for entry in GLOSSARY:
        line = f"- **{entry['term']}**: {entry['definition']}"
        assert re.search(entry["uses"], prose(line)), entry["term"]
        assert re.search(entry["defined_by"], line), entry["term"]
    assert len({e["term"] for e in GLOSSARY}) == len(GLOSSARY)


def test_lesson_0_prints_the_glossary():
    assert any(glossary_markdown() in cell for cell in markdown_cells(ROOT / "notebooks" / "00_introduction.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_term_is_defined_at_its_first_use(path):
    problems = first_use_problems(markdown_cells(path), path.stem)
    assert not problems, "\n".join(problems)


def test_the_check_finds_an_undefined_first_use_and_accepts_a_defined_one():
    assert first_use_problems(["We fit it with L-BFGS.", "L-BFGS is a quasi-Newton method."])
    assert not first_use_problems(["We fit it with L-BFGS, a quasi-Newton optimiser.", "L-BFGS again."])
    assert not first_use_problems(["The grid `probe.C_GRID` is code, not prose."])
    with pytest.raises(TypeError, match="cells"):
        first_use_problems("one string")
