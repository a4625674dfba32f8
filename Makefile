# The course's commands. Each creates .venv on first use (scripts/setup.sh); the set-up runs again
# only when what it installs from changes (pyproject.toml, constraints.txt, the script itself).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECK_STAMP := $(VENV)/.installed-check

.PHONY: setup course test check constraints lab html release student clean

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

STUDENT_OUT ?= build/student
student: $(STAMP)  ## write the students' copy (lessons, released exercises, package, set-up; no solutions, no history) to $(STUDENT_OUT)
	rm -rf $(STUDENT_OUT)
	$(BIN)/python -m pretext_lessons student $(STUDENT_OUT)

lab: $(STAMP)  ## open the course in JupyterLab (lessons in notebooks/, exercises in exercises/)
	$(BIN)/jupyter lab --ServerApp.root_dir=. notebooks/00_introduction.ipynb

# The executed lessons are remade only when a lesson or the package changed.
EXECUTED := build/notebooks/.executed
$(EXECUTED): $(STAMP) $(wildcard notebooks/*.ipynb) $(wildcard pretext_lessons/*.py pretext_lessons/*/*.py)
	$(BIN)/python -m pretext_lessons course
	touch $@

html: $(EXECUTED)  ## the course as a website (sidebar, search, syllabus, figures), built offline: build/html/index.html
	$(BIN)/python -m pretext_lessons html

clean:
	rm -rf build .pytest_cache
