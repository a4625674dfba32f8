"""`python -m pretext_lessons html`: the course as a website, built offline from executed lessons."""
import base64
import re

import nbformat
import pytest

from pretext_lessons.__main__ import main
from pretext_lessons.notebook import site

pytest.importorskip("myst_nb", reason="the website needs the site extra: pip install -e '.[site]'")
pytest.importorskip("sphinx_book_theme", reason="the website needs the site extra: pip install -e '.[site]'")

# a 1 x 1 red PNG: the figure a lesson's cell printed
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003010100"
    "c9fe92ef0000000049454e44ae426082")).decode()
README = """# pretext-lessons

The course's opening paragraph.

## Syllabus

| lesson | what you learn |
| --- | --- |
| [0. Intro](notebooks/00_intro.ipynb) | the start, see [the benchmark](benchmarks/bench_course.py) |
| [1. Next](notebooks/01_next.ipynb) | more |

## Install

Not on the front page.
"""


def lesson(title, text):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nGoals, with $x^2$."),
                nbformat.v4.new_code_cell("plot()"), nbformat.v4.new_code_cell("explorer()")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text),
                           nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={
        site.WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0}, "text/plain": "VBox(...)"})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    executed = root / "notebooks"
    executed.mkdir()
    nbformat.write(lesson("Lesson 0: Intro", "output of intro"), executed / "00_intro.ipynb")
    nbformat.write(lesson("Lesson 1: Next", "output of next"), executed / "01_next.ipynb")
    (root / "README.md").write_text(README)
    index = site.build_site(executed, root / "html", readme=root / "README.md",
                            repo_url="https://github.com/someone/pretext-lessons.git")
    return root / "html", index


def words(html):
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def test_front_page_is_the_syllabus_with_a_sidebar_to_every_lesson(built):
    out, index = built
    text = index.read_text()
    assert "opening paragraph" in words(text)
    assert "Syllabus" in text and "Not on the front page" not in text
    assert 'href="00_intro.html"' in text and 'href="01_next.html"' in text
    assert "benchmarks/bench_course.py" not in text  # a repository file, not a page: plain text
    assert (out / "search.html").exists() and (out / "searchindex.js").exists()


def test_each_lesson_has_its_outputs_its_figure_and_a_run_box(built):
    out, _ = built
    page = (out / "01_next.html").read_text()
    assert "output of next" in page and "Run this lesson" in page
    assert "https://colab.research.google.com/github/someone/pretext-lessons/blob/main/notebooks/01_next.ipynb" in page
    assert "PRETEXT_LESSONS_URL" in words(page) and "make lab" in words(page)
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert any((out / src).is_file() for src in images)
    assert "widget-view" not in page and "VBox(...)" in page  # the widget's static fallback


def test_every_script_and_the_math_are_served_by_the_site_itself(built):
    out, _ = built
    page = (out / "01_next.html").read_text()
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)
    assert sources and not [s for s in sources if re.match(r"(https?:)?//", s)], sources
    mathjax = [s for s in sources if "mathjax" in s.lower()]
    assert mathjax and all((out / s).is_file() for s in mathjax), mathjax
    assert "x^2" in page  # the formula, for MathJax to typeset in the browser


def test_a_lesson_in_two_parts_gives_two_pages_in_order(tmp_path):
    text = site.front_page(README.replace("01_next", "01b_next"), ["00_intro.ipynb", "01b_next.ipynb"])
    assert "](01b_next.ipynb)" in text and text.split("toctree")[1].split()[-3:-1] == ["00_intro", "01b_next"]
    for name in ("03_a.ipynb", "03b_b.ipynb", "04_c.ipynb", "notes.ipynb", "03x.ipynb"):
        nbformat.write(lesson(f"Lesson {name}", "x"), tmp_path / name)
    names = [p.name for p in site.write_sources(tmp_path, tmp_path / "src", readme=None)]
    assert names == ["03_a.ipynb", "03b_b.ipynb", "04_c.ipynb"]


def test_without_a_github_url_the_run_box_gives_the_pattern():
    box = site.run_box("00_intro.ipynb", site.github_repo("https://example.org/course.git"))
    assert "OWNER/REPO" in box and "PRETEXT_LESSONS_URL" in box
    assert site.github_repo("git+https://github.com/a/b.git") == "a/b"


def test_without_executed_lessons_it_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `python -m pretext_lessons course` first"):
        site.build_site(tmp_path, tmp_path / "html")


@pytest.mark.slow  # a second Sphinx build: the fixture's covers the fast tier
def test_the_command_line_builds_the_site(tmp_path, capsys):
    executed = tmp_path / "notebooks"
    executed.mkdir()
    nbformat.write(lesson("Lesson 0: Intro", "x"), executed / "00_intro.ipynb")
    assert main(["html", "--executed", str(executed), "--out", str(tmp_path / "html")]) == 0
    assert (tmp_path / "html" / "00_intro.html").exists()
    assert "index.html" in capsys.readouterr().out
