"""The course as a website (`python -m pretext_lessons html`): the executed lessons, readable before installing.

Sphinx with `myst-nb` and `sphinx-book-theme` (the `site` extra) turns the executed notebooks that
`python -m pretext_lessons course` leaves in build/notebooks into pages with a navigation sidebar,
search, the README's syllabus as the front page and a "run this lesson" box on every lesson. Nothing
is executed again and nothing is downloaded: the build runs offline. Widgets keep their static
picture (their live state needs a kernel).
"""
from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from .execute import BUILD, ROOT
from .html import notebook_title

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
COLAB = "https://colab.research.google.com/github/{repo}/blob/main/notebooks/{name}"
URL_VARIABLE = "PRETEXT_LESSONS_URL"
LESSON_FILE = re.compile(r"^\d\d[a-z]?_[\w-]+\.ipynb$")  # "03_relative_position", a lesson's part "03b_..."

CONF = '''# written by pretext_lessons.notebook.site: the website's Sphinx configuration
project = "pretext-lessons"
html_title = "pretext-lessons: self-supervised learning through pretext tasks"
extensions = ["myst_nb", "sphinx-mathjax-offline"]  # MathJax 3 from the package's own copy: no CDN, math offline
nb_execution_mode = "off"            # the notebooks are executed already (python -m pretext_lessons course)
myst_enable_extensions = ["dollarmath", "amsmath"]
html_theme = "sphinx_book_theme"
html_theme_options = {"show_toc_level": 2, "home_page_in_toc": True}
exclude_patterns = ["_build"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.xref_missing", "myst.header"]
'''


def github_repo(url: str | None) -> str | None:
    """"owner/name" of a github.com URL (https or git+https, with or without .git), else None."""
    if not url:
        return None
    m = re.match(r"^(?:git\+)?https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", url.strip())
    return f"{m.group(1)}/{m.group(2)}" if m else None


def run_box(name: str, repo: str | None) -> str:
    """The "run this lesson" box of lesson `name` (a notebook's file name), as MyST markdown."""
    local = (f"* **On your machine** (in the course's folder): `make lab`, then open `notebooks/{name}`; "
             f"or `.venv/bin/jupyter lab notebooks/{name}` once `make setup` has run.")
    if repo:
        colab = (f"* **On Colab**: [open `{name}` in Colab]({COLAB.format(repo=repo, name=name)}). Colab has no copy "
                 f"of the course's package: in a first cell run `%env {URL_VARIABLE}=https://github.com/{repo}`, "
                 f"and the settings cell installs it from there.")
    else:
        colab = (f"* **On Colab**: open `https://colab.research.google.com/github/` followed by "
                 f"`OWNER/REPO/blob/main/notebooks/{name}`, with the course's GitHub address in place of OWNER/REPO "
                 f"(this site was built without `{URL_VARIABLE}`, so it cannot say which), and in a first cell run "
                 f"`%env {URL_VARIABLE}=` with that address, so that the settings cell installs the course's package.")
    return "```{admonition} Run this lesson\n" + local + "\n" + colab + "\n```"


def front_page(readme: str, names: list[str]) -> str:
    """The site's front page: the README's title, opening paragraph and syllabus, and the sidebar's toctree."""
    title = next((l[2:].strip() for l in readme.splitlines() if l.startswith("# ")), "pretext-lessons")
    body = readme.split("\n## ", 1)[0].split("\n", 1)[-1].strip() if readme.startswith("# ") else ""
    syllabus = re.search(r"\n## Syllabus\n(.*?)(?=\n## |\Z)", readme, re.S)
    if syllabus is None:
        raise ValueError("readme must have a '## Syllabus' section, the site's front page")
    text = f"# {title}\n\n{body}\n\n## Syllabus\n{syllabus.group(1)}"
    text = re.sub(r"\]\(notebooks/(\d\d[a-z]?_[\w-]+)\.ipynb\)", r"](\1.ipynb)", text)
    text = re.sub(r"\[([^\]]+)\]\((?!https?:|#|\d\d[a-z]?_)[^)]*\)", r"\1", text)  # other files of the repository: plain text
    toc = "\n".join(Path(n).stem for n in names)
    return text.rstrip() + f"\n\n```{{toctree}}\n:hidden:\n:caption: Lessons\n\n{toc}\n```\n"


def site_notebook(nb, name: str, repo: str | None):
    """An executed lesson made ready for the site: widget views dropped, the run box after the title."""
    nb = nbformat.from_dict(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("widgets", None)
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
        if cell.cell_type == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not ("data" in o and not o["data"])]
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(run_box(name, repo)))
    for i, cell in enumerate(nb.cells):
        cell["id"] = cell.get("id") or f"site-{i}"
    return nb


def write_sources(executed, src, readme=None, repo_url=None) -> list[Path]:
    """The site's Sphinx sources in `src`: conf.py, the front page and the executed lessons."""
    executed, src = Path(executed), Path(src)
    pages = sorted(p for p in executed.glob("[0-9][0-9]*_*.ipynb") if LESSON_FILE.match(p.name))
    if not pages:
        raise FileNotFoundError(f"executed must be a folder of executed lessons (NN_*.ipynb), found none in "
                                f"{executed}: run `python -m pretext_lessons course` first")
    repo = github_repo(repo_url if repo_url is not None else os.environ.get(URL_VARIABLE))
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    readme_text = Path(readme or ROOT / "README.md").read_text(encoding="utf-8")
    (src / "index.md").write_text(front_page(readme_text, [p.name for p in pages]), encoding="utf-8")
    written = []
    for path in pages:
        nb = nbformat.read(path, as_version=4)
        notebook_title(nb)  # a lesson without a title cell fails here, by name
        nbformat.write(site_notebook(nb, path.name, repo), src / path.name)
        written.append(src / path.name)
    return written


def build_site(executed=None, out=None, readme=None, repo_url=None) -> Path:
    """Build the website from the executed lessons (default build/notebooks) into `out` (build/html).

    Offline: Sphinx reads the executed notebooks and writes static pages; nothing runs again.
    Returns the front page's path.
    """
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
        importlib.import_module("sphinx-mathjax-offline")  # the package's import name has hyphens
    except ImportError as error:
        raise ImportError(f"the website needs the site extra ({error.name} is missing): "
                          "pip install -e '.[site]'") from error
    executed = Path(executed or BUILD / "notebooks")
    out = Path(out or BUILD / "html")
    src = out.parent / f"{out.name}-src"
    write_sources(executed, src, readme, repo_url)
    if out.exists():
        shutil.rmtree(out)
    done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-d", str(src / "_doctrees"),
                           str(src), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sphinx failed with status {done.returncode}:\n{done.stderr[-3000:]}")
    return out / "index.html"
