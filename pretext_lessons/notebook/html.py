"""An executed, readable copy of the course as static HTML pages with an index (`python -m pretext_lessons html`)."""
from __future__ import annotations

import html
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from traitlets.config import Config

from .execute import BUILD

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pretext-lessons</title>
<style>body {{font-family: sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5}}</style></head>
<body><h1>pretext-lessons</h1>
<p>Self-supervised learning through pretext tasks: every lesson of the course, executed with the quick preset,
with its figures. The exercises are in <code>exercises/</code> of the course's repository.</p>
<ul>
{items}
</ul></body></html>
"""


def notebook_title(nb) -> str:
    """The first line of a notebook's first cell, without the markdown heading marks."""
    if not nb.cells:
        raise ValueError("nb must have at least one cell (the title), got an empty notebook")
    return "".join(nb.cells[0].source).strip().splitlines()[0].lstrip("# ").strip()


def write_html(executed=None, out=None) -> Path:
    """Each executed lesson in `executed` (default build/notebooks) as an HTML page in `out`, and an index.

    Widget state is dropped, so each explorer shows its static figure and the pages work offline.
    Returns the index's path.
    """
    executed = Path(executed or BUILD / "notebooks")
    out = Path(out or BUILD / "html")
    pages = sorted(executed.glob("[0-9]*.ipynb"))
    if not pages:
        raise FileNotFoundError(f"executed must be a folder of executed lessons (NN_*.ipynb), found none in {executed}: "
                                "run `python -m pretext_lessons course` first")
    config = Config()
    config.ClearMetadataPreprocessor.enabled = True
    exporter = HTMLExporter(config=config)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.html"):
        old.unlink()
    items = []
    for path in pages:
        nb = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(nb)
        page = out / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        items.append(f'<li><a href="{page.name}">{html.escape(notebook_title(nb))}</a></li>')
    index = out / "index.html"
    index.write_text(INDEX_TEMPLATE.format(items="\n".join(items)), encoding="utf-8")
    return index
