"""environment.yml (conda) and pyproject.toml (pip) describe the same environment."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge's name -> PyPI's name
NOT_IN_PYPROJECT = {"python", "pip"}


def split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    out = {}
    for name, spec in map(split, reqs):
        assert out.get(name, spec) == spec, f"pyproject.toml asks for {name} twice with different ranges"
        out[name] = spec
    return out


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = split(dep)
            name = CONDA_NAMES.get(name, name)
            if name not in NOT_IN_PYPROJECT:
                out[name] = spec
    return out


def test_same_packages_and_ranges():
    pip, conda = pyproject_requirements(), conda_requirements()
    only_pip, only_conda = sorted(set(pip) - set(conda)), sorted(set(conda) - set(pip))
    assert not only_pip, f"in pyproject.toml but not environment.yml: {only_pip}"
    assert not only_conda, f"in environment.yml but not pyproject.toml: {only_conda}"
    differ = {name: (pip[name], conda[name]) for name in pip if pip[name] != conda[name]}
    assert not differ, f"ranges differ (pyproject, environment.yml): {differ}"


def test_the_ranges_admit_the_torch_pair_the_course_is_tested_with():
    pip = pyproject_requirements()
    assert re.fullmatch(r">=2\.\d+,<3", pip["torch"]) and int(pip["torch"].split(".")[1].split(",")[0]) <= 14
    assert re.fullmatch(r">=0\.\d+,<1", pip["torchvision"]) and int(pip["torchvision"].split(".")[1].split(",")[0]) <= 29
