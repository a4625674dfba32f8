"""Fast tests of what a grading kernel is given (issue 29): the sandbox's command line, the package copy,
the allow-listed environment, the refusal to grade unsandboxed, the preamble and the runner's verdicts.

None starts a kernel; tests/test_grader_isolation.py grades hostile submissions in the sandbox.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pretext_lessons.core import threads
from pretext_lessons.grading import grader, sandbox
from pretext_lessons.notebook.execute import ROOT


def _binds(args):
    """(kind, source, dest) for each bind or symlink in a bwrap command line."""
    out, i = [], 0
    while i < len(args):
        if args[i] in ("--ro-bind", "--bind", "--symlink"):
            out.append((args[i], args[i + 1], args[i + 2]))
            i += 3
        else:
            i += 1
    return out


def test_the_sandbox_starts_from_an_empty_root_and_shows_no_course_folder(tmp_path):
    package = sandbox.package_copy(tmp_path / "package")
    args = sandbox.bwrap_prefix("bwrap", tmp_path / "work", package)
    assert args[:3] == ["bwrap", "--tmpfs", "/"] and args[-1] == "--"
    assert {"--unshare-all", "--die-with-parent", "--new-session"} <= set(args)
    binds = _binds(args)
    sources = [Path(src) for kind, src, _ in binds if kind != "--symlink"]
    # the course folder, its history and solutions, the home folder: never bound, nor a folder above them
    for secret in (ROOT, ROOT / ".git", ROOT / "solutions", Path.home()):
        assert not any(secret == s or s in secret.parents for s in sources), (secret, sources)
    writable = [dest for kind, _, dest in binds if kind == "--bind"]
    assert writable == [str(tmp_path / "work")]
    assert ("--ro-bind", str(package), str(package)) in binds
    assert not any(s == Path("/etc") for s in sources)  # only the files of sandbox.ETC_FILES
    # tmpfs over /tmp comes before any bind: a bind under /tmp made before it would vanish
    assert args.index("/tmp") < args.index("--ro-bind")


def test_the_package_copy_has_the_code_and_no_caches_or_solutions(tmp_path):
    root = sandbox.package_copy(tmp_path)
    copied = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert "pretext_lessons/grading/grader.py" in copied and "pretext_lessons/grading/visible_tests.json" in copied
    assert not [p for p in copied if ".pyc" in p and "__pycache__" not in p]
    sources = [p for p in copied if p.endswith(".py")]
    # compiled here (the kernel sees it read-only), from the copy's own sources only
    assert all(Path(root, p).parent.joinpath("__pycache__").is_dir() for p in sources)
    assert not [p for p in copied if p.endswith(".ipynb") or "/." in p or p.startswith(".")]


def test_the_kernel_environment_is_an_allow_list(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("TZ", "Europe/Paris")
    env = grader.grading_env(2, "tok", {"HOME": str(tmp_path)}, pythonpath="/pkg")
    assert "secret-token" not in env.values() and "GITHUB_TOKEN" not in env and "HTTPS_PROXY" not in env
    assert not [k for k in env if "SECRET" in k or "PROXY" in k.upper() or "TOKEN" in k]
    assert env["TZ"] == "Europe/Paris" and env["PYTHONPATH"] == "/pkg" and env["HOME"] == str(tmp_path)
    assert env[sandbox.MARKER] == "tok" and env["PRETEXT_LESSONS_GRADING"] == "1" and env["OMP_NUM_THREADS"] == "2"
    allowed = set(sandbox.ENV_ALLOWED) | {"PATH", "HOME", "PYTHONPATH", "MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION",
                                          "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                          "PRETEXT_LESSONS_GRADING", "PRETEXT_LESSONS_DATA", sandbox.MARKER}
    allowed |= set(threads.WAIT_POLICY) | set(threads.THREAD_VARIABLES)  # the grader's own thread settings
    assert set(env) <= allowed, set(env) - allowed


def test_grading_refuses_to_run_unsandboxed_and_says_why(monkeypatch):
    monkeypatch.setattr(grader, "bwrap_status", lambda: (None, "bubblewrap (bwrap) is not installed; install it"))
    with pytest.raises(RuntimeError, match=r"needs the bubblewrap sandbox, and bubblewrap \(bwrap\) is not installed"
                                           r".*--no-sandbox"):
        grader.confinement(True)
    held = grader.confinement(False)
    assert held.bwrap is None and held.label == sandbox.UNSANDBOXED == "unsandboxed"
    with pytest.raises(ValueError, match="sandbox must be True .* or False .*, got 'auto'"):
        grader.confinement("auto")


@pytest.mark.slow
def test_the_command_line_refuses_without_a_sandbox_before_grading_anything(tmp_path):
    # a PATH without bwrap: the grader must stop with exit status 2 and its reason, writing no report
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "bwrap").exists()]
    fixture = Path(__file__).parent / "fixtures" / "grading" / "solutions"
    cmd = [sys.executable, "-m", "pretext_lessons", "grade", str(fixture / "90_toy.ipynb"), "--solutions",
           str(fixture), "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PATH=os.pathsep.join(path)), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert done.returncode == 2, done.stdout[-2000:]
    assert "grading needs the bubblewrap sandbox, and bubblewrap (bwrap) is not installed" in done.stdout
    assert "--no-sandbox" in done.stdout and not (tmp_path / "out").exists()


def _report(**changes):
    report = {"submission": "s/ann-90_toy.ipynb", "student": "ann", "exercise": "90_toy", "status": "graded",
              "message": "", "notes": [], "points": 3.0, "auto_points": 5.0, "manual_points": 2.0,
              "pending_points": 2.0, "sandbox": "bubblewrap",
              "questions": {"q1": {"points": 3.0, "auto_points": 5.0, "manual_points": 0.0, "status": "partial",
                                   "failures": [], "pending": [], "written_answers": {}},
                            "q3": {"points": 0.0, "auto_points": 0.0, "manual_points": 2.0, "status": "pending",
                                   "failures": [], "pending": ["q3"], "written_answers": {"q3": "text"}}}}
    report.update(changes)
    return report


def test_gradebook_columns_say_what_they_hold_and_mark_unsandboxed_rows():
    from pretext_lessons.grading.report import GRADEBOOK_COLUMNS, gradebook_rows, summary

    columns, rows = gradebook_rows([_report(), _report(submission="s/bob-90_toy.ipynb", student="bob",
                                                       sandbox="unsandboxed", points=5.0)])
    assert columns[:len(GRADEBOOK_COLUMNS)] == list(GRADEBOOK_COLUMNS) and "auto_points" not in columns
    ann, bob = rows
    assert (ann["points_earned"], ann["points_autograded"], ann["points_pending"]) == (3.0, 5.0, 2.0)
    assert (ann["q1"], ann["q3"]) == (3.0, "pending")
    assert (ann["sandbox"], bob["sandbox"]) == ("bubblewrap", "unsandboxed")
    assert "UNSANDBOXED" in summary(_report(sandbox="unsandboxed")) and "UNSANDBOXED" not in summary(_report())
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in GRADEBOOK_COLUMNS), "every gradebook column is documented"


# ---------- the runner's test verdicts (no kernel: the expression is evaluated as IPython's user_expressions does) ----------

def _evaluate(source, preamble="", namespace=None):
    """What the kernel's user_expressions would return for a test: (reply content, nonce)."""
    from pretext_lessons.grading import runner

    ns = {} if namespace is None else namespace
    nonce = "n0nce"
    expression = runner.verdict_expression(source, preamble, nonce)
    try:
        value = {"status": "ok", "data": {"text/plain": repr(eval(expression, ns, ns))}}
    except Exception as err:  # noqa: BLE001 - as IPython's user_expressions catches
        value = {"status": "error", "ename": type(err).__name__, "evalue": str(err), "traceback": []}
    return {"status": "ok", "user_expressions": {runner.TEST_KEY: value}}, nonce


def test_a_passing_test_returns_its_nonce_and_its_last_value():
    from pretext_lessons.grading.runner import TEST_KEY, read_verdict

    reply, nonce = _evaluate("assert answer == 3\nanswer / 2", namespace={"answer": 3})
    assert read_verdict(reply, TEST_KEY, nonce) == {"status": "ok", "value": "1.5"}
    reply, nonce = _evaluate("assert answer == 3", namespace={"answer": 3})
    assert read_verdict(reply, TEST_KEY, nonce) == {"status": "ok", "value": ""}


def test_a_failing_test_is_an_error_whatever_the_kernel_said_of_its_own_code():
    from pretext_lessons.grading.runner import TEST_KEY, read_verdict

    reply, nonce = _evaluate("assert answer == 3, 'answer must be 3'", namespace={"answer": 4})
    verdict = read_verdict(reply, TEST_KEY, nonce)
    assert (verdict["status"], verdict["ename"], verdict["evalue"]) == ("error", "AssertionError", "answer must be 3")
    # a kernel whose run_cell or user_expressions was patched: no value, or a value without the nonce
    assert read_verdict({"status": "ok", "user_expressions": {}}, TEST_KEY, nonce)["ename"] == "GraderError"
    forged = {"status": "ok", "user_expressions": {TEST_KEY: {"status": "ok", "data": {"text/plain": "'passed'"}}}}
    assert read_verdict(forged, TEST_KEY, nonce)["ename"] == "GraderError"
    assert read_verdict({"status": "error", "ename": "CellTimeoutError", "evalue": "longer than 5 s"},
                        TEST_KEY, nonce)["status"] == "timeout"


def test_the_preamble_runs_before_the_test_in_the_same_expression():
    from pretext_lessons.grading.runner import TEST_KEY, read_verdict

    # the answer cell reassigned the fixed data and the helper; the preamble binds both again
    ns = {"data": [0], "expect": lambda *a: None}
    preamble = "data = [1, 2]\ndef expect(ok, message):\n    assert ok, message\n"
    reply, nonce = _evaluate("expect(len(data) == 2, 'data was replaced')", preamble, ns)
    assert read_verdict(reply, TEST_KEY, nonce)["status"] == "ok"
    reply, nonce = _evaluate("expect(len(data) == 3, 'wrong length')", preamble, {"expect": lambda *a: None})
    assert read_verdict(reply, TEST_KEY, nonce)["evalue"] == "wrong length"


# ---------- the names a hidden test reads from fixed cells are bound again before it ----------

SOLUTION_PATHS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _top_level_values(source):
    """Names a cell assigns in its own scope (a walker of its own, independent of grading/rebind.py).

    Function, lambda, class and comprehension bodies are scopes of their own and are not entered.
    """
    import ast

    own_scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp,
                  ast.DictComp, ast.GeneratorExp)
    names = set()

    def visit(node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, own_scopes):
                visit(child)

    visit(ast.parse(source))
    return names


@pytest.mark.parametrize("path", SOLUTION_PATHS + [Path(__file__).parent / "fixtures" / "grading" / "solutions" /
                                                   "90_toy.ipynb"], ids=lambda p: p.stem)
def test_every_name_a_hidden_test_reads_from_a_fixed_cell_is_bound_again(path):
    """An answer cell can rebind any name; a test may read one only if the grader binds it again or it is an answer."""
    import ast

    from pretext_lessons.grading.cells import grade_id, is_answer, is_test, read_notebook, remove_hidden_tests
    from pretext_lessons.grading.rebind import rebind_plan

    nb = read_notebook(path)
    plan = rebind_plan(nb)
    answers = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and is_answer(cell):
            answers |= _top_level_values(remove_hidden_tests(cell.source))
            answers |= {n.name for n in ast.parse(remove_hidden_tests(cell.source)).body
                        if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    fixed, kept, missing, helpers = set(), {}, [], {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if is_test(cell):
            reads = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)
                     and isinstance(n.ctx, ast.Load)}
            # and what the fixed cells' helpers it calls read from the notebook's globals, at any depth
            todo = [n for n in reads if n in helpers and n not in answers]
            while todo:
                for name in helpers[todo.pop()] - reads:
                    reads.add(name)
                    if name in helpers and name not in answers:
                        todo.append(name)
            exposed = (reads & fixed) - answers - _top_level_values(cell.source) - {"STUDENT_ID"}
            bound = set(plan.tests.get(grade_id(cell), []))
            missing += [f"{grade_id(cell)} reads {name!r}" for name in sorted(exposed - bound)]
            for name in bound:  # and the copy is taken after a fixed cell that sets it, before the test
                assert name in kept, f"{grade_id(cell)}: no copy of {name!r} is taken before it"
        elif not is_answer(cell):
            values = _top_level_values(cell.source)
            fixed |= values
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    inner = {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
                    inner |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                    helpers[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                                          and isinstance(n.ctx, ast.Load)} - inner
            for name in plan.snapshots.get(grade_id(cell), []):
                assert name in values, f"{grade_id(cell)} does not set {name!r}, yet a copy is taken after it"
                kept[name] = grade_id(cell)
    assert missing == [], f"{path.name}: hidden tests read fixed values the grader does not bind again: {missing}"


def test_the_plan_binds_relpos_acc_again_for_exercise_3_q5():
    from pretext_lessons.grading.cells import read_notebook
    from pretext_lessons.grading.rebind import rebind_plan

    plan = rebind_plan(read_notebook(ROOT / "solutions" / "03_relative_position.ipynb"))
    assert {"relpos_acc", "untrained_acc", "q5_seeds"} <= set(plan.tests["q5_tests"])
    assert {"relpos_acc", "untrained_acc", "q5_seeds"} <= set(plan.snapshots["q5_data"])


def test_a_name_a_test_reads_through_a_fixed_helper_is_bound_again():
    """Exercise 1's q3_images reads the global X_test: an answer cell reassigning X_test must not change the test's images."""
    import nbformat

    from pretext_lessons.grading.rebind import rebind_plan

    def cell(source, gid, **flags):
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade_id": gid, **flags}})

    nb = nbformat.v4.new_notebook(cells=[
        cell("X_test = load()\nscale = 2", "setup"),
        cell("def images(i):\n    local = i\n    return pick(X_test, local)\n\ndef pick(X, i):\n    return X[i] * scale",
             "helpers"),
        cell("def answer(X):\n    return X", "q1", solution=True),
        cell("X = images(0)\nassert answer(X) is X", "q1_tests", grade=True, points=1)])
    plan = rebind_plan(nb)
    assert plan.tests == {"q1_tests": ["X_test", "scale"]}  # through images, then pick; not `local` or `X`
    assert plan.snapshots == {"setup": ["X_test", "scale"]}


def test_snapshot_and_restore_bind_a_kept_copy_again():
    from pretext_lessons.grading.rebind import restore_code, snapshot_code

    ns = {"relpos_acc": [0.5, 0.6], "other": 1}
    exec(snapshot_code(["relpos_acc"]), {"_ns": ns})
    ns["relpos_acc"][0] = 0.99  # an answer cell changes it in place, then rebinds it
    ns["relpos_acc"] = [0.99, 0.99]
    exec(restore_code(["relpos_acc"]), {"_ns": ns})
    assert ns["relpos_acc"] == [0.5, 0.6]
    with pytest.raises(RuntimeError, match="kept no copy of 'never_set'"):
        exec(restore_code(["never_set"]), {"_ns": ns})
    import sys

    sys.modules.pop("_pretext_grader_fixed", None)


# ---------- the students' copy ----------

def _lines(text):
    return {line.strip() for line in text.splitlines() if len(line.strip()) >= 12}


def _cell_lines(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return set().union(*[_lines(c.source) for c in nb.cells]) if nb.cells else set()


@pytest.mark.slow
def test_the_students_copy_holds_no_hidden_test_no_model_answer_and_no_history(tmp_path):
    from pretext_lessons.grading.cells import SOLUTION, parse_markers, read_notebook
    from pretext_lessons.grading.release import release
    from pretext_lessons.grading.scoring import hidden_lines
    from pretext_lessons.grading.catalog import load_exercise

    out = tmp_path / "class"
    done = subprocess.run([sys.executable, "-m", "pretext_lessons", "student", str(out)], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    names = {p.relative_to(out).as_posix() for p in files}
    assert {"notebooks/00_introduction.ipynb", "exercises/01_rotation.ipynb", "pretext_lessons/__init__.py",
            "pyproject.toml", "scripts/setup.sh", "Makefile"} <= names
    assert not [n for n in names if n.startswith(("solutions/", "tests/", "build/")) or "/." in n or n.startswith(".")
                or "__pycache__" in n], "no solutions, tests, history or caches"
    # what a student may see anyway: the released exercises and the package's and lessons' own lines
    public = set()
    released = tmp_path / "released"
    release(ROOT / "solutions", released)
    for path in released.glob("*.ipynb"):
        public |= _cell_lines(path)
    for path in (ROOT / "pretext_lessons").rglob("*.py"):
        public |= _lines(path.read_text())
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        public |= _cell_lines(path)
    secret = set()
    for path in SOLUTION_PATHS:
        secret |= set(hidden_lines(load_exercise(path)))
        for cell in read_notebook(path).cells:
            lines, _ = parse_markers(cell.source)
            secret |= {line.text.strip() for line in lines if line.region == SOLUTION and line.marker is None
                       and len(line.text.strip()) >= 12}
    secret -= public
    assert len(secret) > 50  # the solutions do hold answers and hidden tests this check looks for
    leaks = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        found = secret & (_cell_lines(path) if path.suffix == ".ipynb" else _lines(text))
        leaks += [f"{path.relative_to(out)}: {line}" for line in sorted(found)]
        if path.suffix == ".ipynb":
            assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, path
    assert leaks == []


def test_the_students_copy_refuses_a_folder_with_files(tmp_path):
    from pretext_lessons.grading.student_copy import write_student_copy

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match="out must be a new or empty folder"):
        write_student_copy(tmp_path / "full")


# ---------- the preamble ----------

def test_the_preamble_binds_the_fixed_cells_imports_and_helpers_again_and_not_the_answers():
    import ast

    from pretext_lessons.grading.catalog import load_exercise
    from pretext_lessons.grading.cells import is_answer, read_notebook

    exercise = load_exercise(ROOT / "solutions" / "01_rotation.ipynb")
    code = grader.preamble(exercise)
    tree = ast.parse(code)
    imported = {a.asname or a.name.split(".")[0] for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"torch", "show_images"} <= imported
    assert "importlib.reload" in code.replace("_grader_importlib", "importlib")
    answers = {n.name for c in read_notebook(exercise.path).cells if c.cell_type == "code" and is_answer(c)
               for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef)}
    assert answers and not (answers & defined), "the student's own functions are never replaced"
    # it runs: a namespace whose helper was replaced gets the module's own back
    from pretext_lessons.notebook import checks

    ns = {"expect": lambda *a, **k: None}
    exec(grader.preamble(load_exercise(Path(__file__).parent / "fixtures" / "grading" / "solutions" /
                                       "90_toy.ipynb")), ns)
    assert ns["expect"] is checks.expect
