#!/usr/bin/env bash
# Sets up everything the course needs on a Debian-like machine: the offline data set and the
# grader's sandbox (when apt-get is usable), a virtual environment in .venv and the package with
# its extras, at the tested versions of constraints.txt.
#   bash scripts/setup.sh              everything
#   bash scripts/setup.sh --apt-only   only the Debian packages (APT_PACKAGES)
#   CONSTRAINTS= bash scripts/setup.sh without the tested versions (newest that fit pyproject.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-lab,dev,instructor,site}
APT_PACKAGES=${APT_PACKAGES:-dataset-fashion-mnist bubblewrap}
CONSTRAINTS=${CONSTRAINTS-constraints.txt}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && { command -v sudo >/dev/null && sudo="sudo -n" || return 0; }
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "setup: could not install ${missing[*]} with apt-get (the course falls back to other sources)"
}

if command -v apt-get >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  apt_install $APT_PACKAGES
fi
[ "${1:-}" = "--apt-only" ] && exit 0

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
constrained=()
[ -n "$CONSTRAINTS" ] && [ -f "$CONSTRAINTS" ] && constrained=(-c "$CONSTRAINTS")
echo "setup: installing pretext-lessons[$EXTRAS] into .venv${constrained[*]:+ with ${constrained[*]}} (torch is large: the first time takes minutes)"
.venv/bin/python -m pip install -q "${constrained[@]}" -e ".[$EXTRAS]"
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
