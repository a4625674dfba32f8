"""The grader against hostile submissions (issue 17): each batch is graded by the command line in a
process of its own, as an instructor runs it, so a submission that kills its parent cannot take
the test session with it.

Without the sandbox: a submission that kills its parent, redefines or patches the test helpers,
leaves processes running or allocates beyond the memory limit costs only itself. With bubblewrap
(skipped where it cannot start, a failure under CI=true): it cannot write outside its working folder,
read solutions/ or the repository's history.
"""
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pretext_lessons.grading.cells import grade_id, read_notebook
from pretext_lessons.grading.sandbox import bwrap_status
from pretext_lessons.notebook.execute import ROOT, kernel_env

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "grading" / "solutions"
TOY = FIXTURES / "90_toy.ipynb"
CELL_TIMEOUT = 60
MEMORY_GB = 6  # the test's limit; the hog asks for twice as much
RIGHT_COUNT = "def count_labels(y, num_classes):\n    return torch.bincount(y, minlength=num_classes)"
WRONG_COUNT = "def count_labels(y, num_classes):\n    return torch.zeros(num_classes, dtype=torch.int64)"
RIGHT_FLIP = "def flip_batch(X):\n    return X.flip(-1)"
WRONG_FLIP = "def flip_batch(X):\n    return X * 0"


def _answer(nb, gid, body):
    next(c for c in nb.cells if grade_id(c) == gid).source = body


def _write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _submission(released_toy: Path, folder: Path, student: str, q1: str, q2: str) -> Path:
    nb = read_notebook(released_toy)
    _answer(nb, "q1", q1)
    _answer(nb, "q2", q2)
    return _write(nb, folder / f"{student}-90_toy.ipynb")


def grade_cli(paths, out: Path, *options) -> subprocess.CompletedProcess:
    """`python -m pretext_lessons grade` in a process of its own; the test reads what it wrote."""
    cmd = [sys.executable, "-m", "pretext_lessons", "grade", *map(str, paths), "--solutions", str(FIXTURES),
           "--out", str(out), "--cell-timeout", str(CELL_TIMEOUT), "--timeout", "400", *options]
    env = dict(os.environ, **kernel_env())
    return subprocess.run(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=1800)


def reports_in(out: Path) -> dict:
    """Student -> report, from the JSON files the grader wrote."""
    found = {}
    for path in out.glob("*.json"):
        data = json.loads(path.read_text())
        found[data["student"]] = data
    return found


def processes_with(token: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline and b"pytest" not in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, released_toy):
    """One batch without the sandbox: a solution and a submission per attack; graded by the command line."""
    folder = tmp_path_factory.mktemp("hostile")
    token = secrets.token_hex(8)
    subs = [
        _write(read_notebook(TOY), folder / "ann-90_toy.ipynb"),
        # kills the process that started its kernel, and that process's group
        _submission(released_toy, folder, "killer",
                    "import os, signal\ntry:\n    os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)\n"
                    "finally:\n    os.kill(os.getppid(), signal.SIGKILL)\n" + RIGHT_COUNT, RIGHT_FLIP),
        # wrong answers, with the helpers the tests use redefined (q1) and patched in their module (q2)
        _submission(released_toy, folder, "redefiner",
                    WRONG_COUNT + "\nexpect = lambda *a, **k: None\nexpect_tensor = lambda x, *a, **k: x\n"
                                  "expect_close = lambda *a, **k: None",
                    WRONG_FLIP + "\nimport pretext_lessons.notebook.checks as _c\n"
                                 "_c.expect = lambda *a, **k: None\n_c.expect_tensor = lambda x, *a, **k: x\n"
                                 "_c.expect_close = lambda *a, **k: None"),
        # starts a process in a new session and a double-forked daemon, both meant to outlive grading
        _submission(released_toy, folder, "spawner",
                    "import os, subprocess, sys\n"
                    f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(900)', '{token}'], "
                    "start_new_session=True)\n"
                    "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                    f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(900)', "
                    f"'{token}-daemon'])\n    os._exit(0)\n" + RIGHT_COUNT, RIGHT_FLIP),
        # asks for twice the memory limit in q1, answers q2 right
        _submission(released_toy, folder, "hog",
                    f"_big = torch.empty({2 * MEMORY_GB} * 2**30, dtype=torch.uint8)\n" + RIGHT_COUNT, RIGHT_FLIP),
    ]
    out = folder / "reports"
    done = grade_cli(subs, out, "--jobs", "2", "--memory", str(MEMORY_GB), "--no-sandbox")
    return done, out, token


def test_a_submission_killing_its_parent_costs_only_itself(hostile):
    done, out, _ = hostile
    assert done.returncode == 0, done.stdout[-3000:]
    reports = reports_in(out)
    assert set(reports) == {"ann", "killer", "redefiner", "spawner", "hog"}, done.stdout[-3000:]
    assert reports["ann"]["status"] == "graded" and reports["ann"]["points"] == 5
    assert reports["spawner"]["points"] == 5 and reports["hog"]["status"] == "graded"
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert sorted(r["student"] for r in rows) == sorted(reports)
    killer = reports["killer"]  # it killed the supervisor its kernel ran under: reported as not graded, and why
    assert killer["points"] == 0 and killer["status"] == "grader_error", killer
    assert "ended without a result" in killer["message"] and "may have killed it" in killer["message"], killer


def test_redefined_or_patched_helpers_do_not_pass_a_test(hostile):
    _, out, _ = hostile
    report = reports_in(out)["redefiner"]
    assert report["status"] == "graded"
    assert report["points"] == 0, report["questions"]
    q1 = report["questions"]["q1"]["failures"][0]["message"]
    assert "count_labels([0, 1, 1, 3], 4): expected [1, 2, 0, 1], got [0, 0, 0, 0]" in q1


def test_no_process_of_a_graded_submission_survives_it(hostile):
    _, out, token = hostile
    assert processes_with(token) == []
    notes = reports_in(out)["spawner"]["notes"]
    assert any("the submission started" in n and "ended" in n for n in notes), notes


def test_a_submission_beyond_its_memory_limit_is_reported_out_of_memory(hostile):
    _, out, _ = hostile
    report = reports_in(out)["hog"]
    q1, q2 = report["questions"]["q1"], report["questions"]["q2"]
    messages = " ".join(f["message"] for f in q1["failures"])
    assert q1["points"] == 0 and "out of memory" in messages and f"limit of {MEMORY_GB:g} GB" in messages, q1
    assert q2["points"] == 3, q2


# ---------- the sandbox ----------

BWRAP, WHY_NOT = bwrap_status()


def need_sandbox():
    """Skip where bubblewrap cannot start, except in CI (CI=true), where that is a failure."""
    if BWRAP is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI must run the sandbox tests, but there is no working sandbox here: {WHY_NOT}")
        pytest.skip(f"no working sandbox here: {WHY_NOT}")


def test_the_sandbox_keeps_a_submission_in_its_working_folder(tmp_path, released_toy):
    need_sandbox()
    token = secrets.token_hex(8)
    folder = tmp_path / "submissions"
    out = tmp_path / "reports"
    targets = [ROOT / f"escape-{token}", Path.home() / f"escape-{token}", folder / f"escape-{token}",
               out / f"escape-{token}", Path("/tmp") / f"escape-{token}", Path("/var/tmp") / f"escape-{token}"]
    writes = "".join(f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError:\n    pass\n" for t in targets)
    # the repository's history: `git show` from the course folder, or its objects read directly
    history = (f"import subprocess\n_git = subprocess.run(['git', '-C', {str(ROOT)!r}, 'show', "
               f"'HEAD:solutions/01_rotation.ipynb'], capture_output=True, text=True)\n"
               f"assert _git.returncode != 0 and not _git.stdout, 'the history is readable'\n"
               f"assert not __import__('os').path.exists({str(ROOT / '.git')!r})\n")
    reads = f"_solution = open({str(TOY)!r}).read()\n"
    subs = [_submission(released_toy, folder, "escaper", writes + history + RIGHT_COUNT, reads + RIGHT_FLIP),
            _write(read_notebook(TOY), folder / "ann-90_toy.ipynb")]
    try:
        done = grade_cli(subs, out, "--sandbox")
        assert done.returncode == 0, done.stdout[-3000:]
        reports = reports_in(out)
        assert reports["ann"]["points"] == 5 and reports["ann"]["sandbox"] == "bubblewrap"
        escaper = reports["escaper"]
        assert escaper["questions"]["q1"]["points"] == 2, escaper  # its own folder and the rest of the cell worked
        q2 = escaper["questions"]["q2"]
        assert q2["points"] == 0 and any("No such file" in f["message"] or "denied" in f["message"]
                                         for f in q2["failures"]), q2
        assert [str(t) for t in targets if t.exists()] == []
    finally:
        for t in targets:
            if t.exists():
                t.unlink()


def test_unsandboxed_grading_is_refused_unless_asked_and_then_labelled(tmp_path):
    path = shutil.copy(TOY, tmp_path / "ann-90_toy.ipynb")
    env_path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                               if not (Path(p) / "bwrap").exists())
    cmd = [sys.executable, "-m", "pretext_lessons", "grade", str(path), "--solutions", str(FIXTURES),
           "--out", str(tmp_path / "out")]
    env = dict(os.environ, **kernel_env(), PATH=env_path)
    refused = subprocess.run(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=600)
    assert refused.returncode == 2 and "bubblewrap (bwrap) is not installed" in refused.stdout, refused.stdout
    assert not (tmp_path / "out").exists()
    done = subprocess.run(cmd + ["--no-sandbox"], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stdout.count("grading unsandboxed (--no-sandbox)") == 1
    report = reports_in(tmp_path / "out")["ann"]
    assert report["points"] == 5 and report["sandbox"] == "unsandboxed"
    assert "UNSANDBOXED" in (tmp_path / "out" / "ann-90_toy.txt").read_text()
    rows = list(csv.DictReader(open(tmp_path / "out" / "gradebook.csv")))
    assert [r["sandbox"] for r in rows] == ["unsandboxed"]
