"""environment.yml (conda) installs pyproject.toml's dependencies, not a copy of them; constraints.txt pins
versions pip can get and that pyproject.toml admits."""
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# torch and what comes with a particular torch build differ by platform and index: never pinned
UNPINNED = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*)$")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements() -> dict[str, Requirement]:
    project = pyproject()
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    out = {}
    for text in reqs:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name not in out or out[name].specifier == req.specifier, \
            f"pyproject.toml asks for {name} twice with different ranges"
        out[name] = req
    return out


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+!\-]+)", line)
        assert match, f"constraints.txt: expected name==version lines, got {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_environment_yml_installs_the_package_with_every_extra_and_lists_nothing_else():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert sorted(re.split(r"[<>=]", d)[0] for d in conda) == ["pip", "python"], \
        f"environment.yml must leave the dependencies to pyproject.toml; it lists {conda}"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    editable = [line for line in pip if line.startswith("-e .[")]
    assert len(editable) == 1, f"environment.yml must install the course with pip (-e .[...]), got {pip}"
    extras = set(editable[0][len("-e .["):-1].split(","))
    assert extras == set(pyproject()["optional-dependencies"]), (
        f"environment.yml installs the extras {sorted(extras)}, pyproject.toml has "
        f"{sorted(pyproject()['optional-dependencies'])}")
    assert "-c constraints.txt" in pip


def test_constraints_pin_versions_pyproject_admits_and_leave_torch_free():
    pins, reqs = constraints(), pyproject_requirements()
    assert pins, "constraints.txt pins nothing"
    assert "pretext-lessons" not in pins
    pinned_torch = sorted(name for name in pins if UNPINNED.match(name))
    assert pinned_torch == [], f"constraints.txt must not pin torch's build: {pinned_torch}"
    outside = {name: (pins[name], str(req.specifier)) for name, req in reqs.items()
               if name in pins and not req.specifier.contains(pins[name], prereleases=True)}
    assert outside == {}, f"constraints.txt pins versions pyproject.toml refuses (pin, range): {outside}"
    unpinned = sorted(name for name in reqs if name not in pins and not UNPINNED.match(name))
    assert unpinned == [], f"constraints.txt has no tested version of {unpinned}: run  make constraints"


def test_setup_installs_with_the_constraints_by_default():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "CONSTRAINTS=${CONSTRAINTS-constraints.txt}" in setup and '-c "$CONSTRAINTS"' in setup
    assert re.search(r"^constraints:.*\n\tbash scripts/constraints.sh", (ROOT / "Makefile").read_text(), re.M)


def test_the_ranges_admit_the_torch_pair_the_course_is_tested_with():
    reqs = pyproject_requirements()
    assert reqs["torch"].specifier.contains("2.14.1") and reqs["torchvision"].specifier.contains("0.29.1")
