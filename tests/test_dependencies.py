"""pyproject.toml declares what the package imports: runtime imports as dependencies, nothing declared and unused."""
import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pretext_lessons"
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"PIL": "pillow", "skimage": "scikit-image", "sklearn": "scikit-learn", "IPython": "ipython",
                 "yaml": "pyyaml"}
# imported only inside the function that needs them: nbgrader by instructor commands (grading/release.py
# says why), the site builders by `python -m pretext_lessons html` (notebook/site.py)
EXTRA_IMPORTS = {"nbgrader": "instructor", "myst_nb": "site", "sphinx_book_theme": "site"}
# declared and needed, but never imported: the kernel that the notebooks run in
NOT_IMPORTED = {"ipykernel"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = lambda reqs: {normalise(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in reqs}  # noqa: E731
    return names(project["dependencies"]), {k: names(v) for k, v in project["optional-dependencies"].items()}


def imported(folder: Path = PACKAGE) -> dict[str, set[str]]:
    """{distribution: modules importing it} for every third-party import of the package."""
    out = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "pretext_lessons":
                    continue
                out.setdefault(normalise(DISTRIBUTIONS.get(top, top)), set()).add(path.name)
    return out


def test_every_import_of_the_package_is_declared_where_it_belongs():
    runtime, extras = declared()
    found = imported()
    assert {"torch", "scipy", "nbformat"} <= set(found)  # the scan sees the package's imports
    missing = {dist: sorted(paths) for dist, paths in found.items()
               if dist not in runtime and dist not in {normalise(k) for k in EXTRA_IMPORTS}}
    assert not missing, f"imported by the package but not in pyproject's dependencies: {missing}"
    for module, extra in EXTRA_IMPORTS.items():
        assert normalise(module) in extras[extra], f"{module} must be declared in the [{extra}] extra"


def test_every_runtime_dependency_is_imported_by_the_package():
    runtime, _ = declared()
    unused = runtime - set(imported()) - NOT_IMPORTED
    assert not unused, (f"declared as runtime dependencies but never imported by the package (move them to an extra, "
                        f"e.g. [lab] for the front end): {sorted(unused)}")


def test_the_front_end_and_the_test_tools_are_extras():
    runtime, extras = declared()
    assert "jupyterlab" in extras["lab"] and "jupyterlab" not in runtime
    assert "pytest" in extras["dev"] and "pytest" not in runtime


def test_the_setup_script_and_the_conda_file_install_every_extra_the_tests_use():
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    default = set(re.search(r"EXTRAS=\$\{EXTRAS:-([\w,]+)\}", setup).group(1).split(","))
    conda = set(re.search(r"-e \.\[([\w,]+)\]", (ROOT / "environment.yml").read_text(encoding="utf-8")).group(1).split(","))
    _, extras = declared()
    assert default == conda == set(extras), (default, conda, set(extras))


def test_the_scan_sees_an_undeclared_import(tmp_path):
    (tmp_path / "m.py").write_text("import numpy\nfrom some_unknown_library.sub import thing\nimport os\n")
    found = imported(tmp_path)
    assert set(found) == {"numpy", "some-unknown-library"}
