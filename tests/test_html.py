"""`python -m pretext_lessons html`: executed lessons as static pages with an index."""
import nbformat
import pytest

from pretext_lessons.__main__ import main
from pretext_lessons.notebook import html


def lesson(title, text):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nGoals."), nbformat.v4.new_code_cell("print(1)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.cells[1].metadata["widgets"] = {"state": "dropped"}
    return nb


def test_every_executed_lesson_becomes_a_page_listed_by_its_title(tmp_path):
    executed, out = tmp_path / "notebooks", tmp_path / "html"
    executed.mkdir()
    nbformat.write(lesson("Lesson A", "output of A"), executed / "00_a.ipynb")
    nbformat.write(lesson("Lesson B & more", "output of B"), executed / "01_b.ipynb")
    out.mkdir()
    (out / "stale.html").write_text("old")
    index = html.write_html(executed, out)
    assert sorted(p.name for p in out.glob("*.html")) == ["00_a.html", "01_b.html", "index.html"]
    assert "output of B" in (out / "01_b.html").read_text()
    text = index.read_text()
    assert '<a href="00_a.html">Lesson A</a>' in text and "Lesson B &amp; more" in text


def test_without_executed_lessons_it_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `python -m pretext_lessons course` first"):
        html.write_html(tmp_path, tmp_path / "html")


def test_the_command_line_has_the_command(tmp_path, monkeypatch, capsys):
    executed = tmp_path / "build" / "notebooks"
    executed.mkdir(parents=True)
    nbformat.write(lesson("Lesson A", "x"), executed / "00_a.ipynb")
    monkeypatch.setattr(html, "BUILD", tmp_path / "build")
    assert main(["html", "--plain"]) == 0
    assert (tmp_path / "build" / "html" / "index.html").exists()
    assert "index.html" in capsys.readouterr().out
