#!/usr/bin/env bash
# Writes constraints.txt: the versions installed in .venv, which are the versions the course was
# last tested with (`make constraints` after a green `make check`). scripts/setup.sh installs with
# them by default. Left out: the course itself, and torch with the packages that come with a
# particular torch build (CUDA libraries, triton), which differ by platform and index; their
# ranges in pyproject.toml still apply.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
{
  echo "# The versions the course was last tested with; written by \`make constraints\` (scripts/constraints.sh)."
  echo "# scripts/setup.sh installs with them (pip install -c constraints.txt); CONSTRAINTS= bash scripts/setup.sh ignores them."
  "$PY" -m pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null \
    | grep -vE '^(#|-e )' \
    | grep -viE '^(pretext-lessons|pretext_lessons|torch|torchvision|torchaudio|triton|nvidia-[^=]*|cuda-[^=]*|pip|setuptools|wheel)==' \
    | LC_ALL=C sort -f
} > constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"
