# The course's commands. Each creates .venv on first use (scripts/setup.sh).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup course test lab html release clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

course: $(STAMP)  ## execute every lesson headless into build/notebooks
	$(BIN)/python -m pretext_lessons course

test: $(STAMP)  ## the test suite (what CI runs)
	APT_PACKAGES="dataset-fashion-mnist chromium" bash scripts/setup.sh
	$(BIN)/python -m pytest -q

release: $(STAMP)  ## write exercises/ from solutions/ (instructors)
	$(BIN)/python -m pretext_lessons release

lab: $(STAMP)  ## open the course in JupyterLab (lessons in notebooks/, exercises in exercises/)
	$(BIN)/jupyter lab --ServerApp.root_dir=. notebooks/00_introduction.ipynb

# The executed lessons are remade only when a lesson or the package changed.
EXECUTED := build/notebooks/.executed
$(EXECUTED): $(STAMP) $(wildcard notebooks/*.ipynb) $(wildcard pretext_lessons/*.py pretext_lessons/*/*.py)
	$(BIN)/python -m pretext_lessons course
	touch $@

html: $(EXECUTED)  ## an executed, readable copy of the course with its figures: build/html/index.html
	$(BIN)/python -m pretext_lessons html

clean:
	rm -rf build .pytest_cache
