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

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf build .pytest_cache
