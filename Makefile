# The course's commands. Each creates .venv on first use (scripts/setup.sh); the set-up runs again
# only when what it installs from changes (pyproject.toml, constraints.txt, the script itself).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECK_STAMP := $(VENV)/.installed-check

.PHONY: setup course test check constraints lab html release clean

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

# the full check also drives a browser: Debian's chromium, installed once beside the rest
$(CHECK_STAMP): $(STAMP)
	APT_PACKAGES="dataset-fashion-mnist bubblewrap chromium" bash scripts/setup.sh --apt-only
	touch $(CHECK_STAMP)

setup: $(STAMP)

course: $(STAMP)  ## execute every lesson headless into build/notebooks
	$(BIN)/python -m pretext_lessons course

test: $(STAMP)  ## the fast tier: no kernels, notebooks, browser or training beyond the tiny preset
	$(BIN)/python -m pytest -q -m "not slow"

check: $(CHECK_STAMP)  ## everything: the fast tier, every notebook, both graders, the browser (what CI runs)
	$(BIN)/python -m pytest -q

constraints: $(STAMP)  ## write constraints.txt from .venv (after a green `make check`: the tested versions)
	bash scripts/constraints.sh

release: $(STAMP)  ## write exercises/ from solutions/ (instructors)
	$(BIN)/python -m pretext_lessons release

lab: $(STAMP)  ## open the course in JupyterLab (lessons in notebooks/, exercises in exercises/)
	$(BIN)/jupyter lab --ServerApp.root_dir=. notebooks/00_introduction.ipynb

# The executed lessons are remade only when a lesson or the package changed.
EXECUTED := build/notebooks/.executed
$(EXECUTED): $(STAMP) $(wildcard notebooks/*.ipynb) $(wildcard pretext_lessons/*.py)
	$(BIN)/python -m pretext_lessons course
	touch $@

# Widget state is dropped so that each explorer shows its static figure: the pages work offline.
html: $(EXECUTED)  ## an executed, readable copy of the course with its figures: build/html/index.html
	rm -rf build/html
	$(BIN)/jupyter nbconvert --to html --output-dir build/html --ClearMetadataPreprocessor.enabled=True \
		$(filter-out %/.executed,$(wildcard build/notebooks/*.ipynb))
	$(BIN)/python -c "$$HTML_INDEX"
	@echo "open build/html/index.html"

define HTML_INDEX
import html, json, pathlib
out, executed = pathlib.Path("build/html"), pathlib.Path("build/notebooks")
items = []
for page in sorted(out.glob("[0-9]*.html")):
    cells = json.loads((executed / (page.stem + ".ipynb")).read_text(encoding="utf-8"))["cells"]
    title = "".join(cells[0]["source"]).strip().splitlines()[0].lstrip("# ").strip()
    items.append(f'<li><a href="{page.name}">{html.escape(title)}</a></li>')
page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pretext-lessons</title>
<style>body {{font-family: sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5}}</style></head>
<body><h1>pretext-lessons</h1>
<p>Self-supervised learning through pretext tasks: every lesson of the course, executed with the quick preset,
with its figures. The exercises are in <code>exercises/</code> of the course's repository.</p>
<ul>
{chr(10).join(items)}
</ul></body></html>
"""
(out / "index.html").write_text(page, encoding="utf-8")
print(f"wrote {out / 'index.html'} ({len(items)} lessons)")
endef
export HTML_INDEX

clean:
	rm -rf build .pytest_cache
