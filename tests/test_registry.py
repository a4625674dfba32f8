"""The task registry: a task registered outside the package goes through lesson 4's study and lesson 6's report."""
import dataclasses
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pretext_lessons
from pretext_lessons.core.task import PretextTask
from pretext_lessons.experiments import alignment, budgets, capstone, probing, suite
from pretext_lessons.experiments.table import PIXELS, RANDOM, SUPERVISED, best_layers, select
from pretext_lessons.tasks.registry import classic_tasks, course_tasks, register_task, registered_tasks, unregister_task


@dataclasses.dataclass
class HalfFlipTask(PretextTask):
    """A fourth task written as a student would: which half of the image was flipped upside down (2 classes)."""

    num_classes: int = 2
    name = "half_flip_test"

    def make_batch(self, X, generator):
        y = torch.randint(0, 2, (len(X),), generator=generator, device=X.device)
        half = X.shape[-2] // 2
        flipped = X.clone()
        top, bottom = flipped[:, :, :half].flip(-2), flipped[:, :, half:].flip(-2)
        flipped[:, :, :half] = torch.where(y.view(-1, 1, 1, 1) == 0, top, X[:, :, :half])
        flipped[:, :, half:] = torch.where(y.view(-1, 1, 1, 1) == 1, bottom, X[:, :, half:])
        return flipped, y


@pytest.fixture
def fourth_task():
    added = [name for name in (HalfFlipTask.name,) if name not in registered_tasks()]
    register_task(HalfFlipTask)
    yield HalfFlipTask
    for name in added:
        if name in registered_tasks():
            unregister_task(name)


@pytest.fixture
def grading_preset(monkeypatch, tmp_path):
    # the tiny preset, and a private checkpoint folder so nothing cached by the lessons is mixed in
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))


ROOT = Path(pretext_lessons.__file__).resolve().parent.parent


def test_the_lessons_tasks_are_registered_in_lesson_order():
    # lessons 1 to 3 are named after their tasks (01_rotation.ipynb, ...): the registry lists them in that order
    lessons = [p.stem.split("_", 1)[1] for p in sorted((ROOT / "notebooks").glob("0[1-9]_*.ipynb"))]
    classic = list(classic_tasks())
    assert classic and classic == [name for name in lessons if name in classic]
    assert list(registered_tasks())[:len(classic)] == classic
    tasks = course_tasks()
    assert all(isinstance(task, PretextTask) and task.name == name for name, task in tasks.items())


def test_a_registered_task_joins_the_course_tasks_and_can_leave(fourth_task):
    assert list(course_tasks())[-1] == "half_flip_test"
    assert isinstance(pretext_lessons.course_tasks()["half_flip_test"], HalfFlipTask)
    unregister_task("half_flip_test")
    assert "half_flip_test" not in course_tasks()


def test_registering_checks_the_class_and_its_name(fourth_task):
    register_task(HalfFlipTask)  # a notebook cell run twice: the same class again is fine
    with pytest.raises(TypeError, match="register_task takes a PretextTask subclass"):
        register_task(dict)

    @dataclasses.dataclass
    class Nameless(PretextTask):
        pass

    with pytest.raises(ValueError, match="must set a class attribute `name` of its own"):
        register_task(Nameless)

    @dataclasses.dataclass
    class Impostor(PretextTask):
        name = "rotation"

    with pytest.raises(ValueError, match="task name 'rotation' is taken by pretext_lessons.tasks.rotation.RotationTask"):
        register_task(Impostor)
    with pytest.raises(KeyError, match="name must be a registered task"):
        unregister_task("no_such_task")


@pytest.mark.slow
def test_a_fourth_task_goes_through_lesson_4_and_the_capstone_report(fourth_task, grading_preset):
    logged = []
    networks, pretext = budgets.train_networks(seeds={"cnn": (0,)}, log=logged.append)
    names = [task if isinstance(task, str) else task.name for task, *_ in networks]
    classic = list(classic_tasks())
    assert names == [*classic, "half_flip_test", SUPERVISED, RANDOM]
    assert [p["task"] for p in pretext] == names[:len(classic) + 1]
    assert any(line.startswith("half_flip_test") for line in logged)

    table = probing.probe_networks(networks, ks=(2,), num_test=50)
    rows = select(table, task="half_flip_test")
    trunk_layers = networks[len(classic)][3].trunk.layer_names
    assert [r["layer"] for r in rows] == list(trunk_layers)
    assert "half_flip_test" in {c.task for c in best_layers(table)}

    report_networks = capstone.classic_networks()
    assert [task.name for task, *_ in report_networks][-1] == "half_flip_test"
    report = capstone.layer_report(report_networks, k=2, num_splits=1)
    assert {r["task"] for r in report} >= {"half_flip_test", RANDOM, PIXELS}


def test_an_opt_in_task_is_registered_but_left_out_of_the_lessons_unless_asked():
    @dataclasses.dataclass
    class LaterLessonTask(HalfFlipTask):
        name = "later_lesson_test"

    try:
        assert register_task(in_course=False)(LaterLessonTask) is LaterLessonTask
        assert "later_lesson_test" in registered_tasks()
        assert "later_lesson_test" not in course_tasks() and "later_lesson_test" not in classic_tasks()
        assert list(course_tasks(extra=("later_lesson_test",)))[-1] == "later_lesson_test"
        assert "later_lesson_test" not in {p["network"] for p in budgets.training_plan()}
        register_task(LaterLessonTask)  # registered again, in the course: the lessons include it
        assert "later_lesson_test" in course_tasks()
        with pytest.raises(ValueError, match="extra must name registered tasks"):
            course_tasks(extra=("no_such_task",))
        with pytest.raises(TypeError, match="in_course must be True or False"):
            register_task(in_course="no")
    finally:
        unregister_task("later_lesson_test")


def defined_tasks() -> dict[str, str]:
    """{qualified class name: module} of every PretextTask subclass defined in a module of pretext_lessons.tasks."""
    import pretext_lessons.tasks as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, PretextTask) and value.__module__ == module.__name__
                    and getattr(value, "name", PretextTask.name) != PretextTask.name):
                found[f"{value.__module__}.{value.__qualname__}"] = module.__name__
    return found


@pytest.mark.slow
def test_every_task_defined_in_the_tasks_folder_is_registered_by_importing_the_package():
    defined = defined_tasks()
    assert len(defined) >= 3, defined
    # a fresh interpreter: registered only if tasks/__init__.py imports the module (a forgotten import shows here)
    code = ("import pretext_lessons\nfrom pretext_lessons.tasks.registry import registered_tasks\n"
            "print('\\n'.join(f'{c.__module__}.{c.__qualname__}' for c in registered_tasks().values()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    registered = set(done.stdout.split())
    missing = sorted(set(defined) - registered)
    assert not missing, f"task classes defined in tasks/ but not registered on import (add @register_task and import " \
                        f"the module in tasks/__init__.py): {missing}"


def test_the_registration_check_finds_a_task_module_left_out(tmp_path, monkeypatch):
    import pretext_lessons.tasks as package

    (tmp_path / "forgotten_task_test.py").write_text(
        "import dataclasses\nfrom pretext_lessons.core.task import PretextTask\n\n\n@dataclasses.dataclass\n"
        "class ForgottenTask(PretextTask):\n    name = 'forgotten_test'\n")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    try:
        assert "pretext_lessons.tasks.forgotten_task_test.ForgottenTask" in defined_tasks()
    finally:
        sys.modules.pop("pretext_lessons.tasks.forgotten_task_test", None)


TINY_SUITE = dict(k=2, num_test=40, scenes_train=40, scenes_test=40, where_per_cell=2, where_test=32)


def lessons_4_and_5(tmp_path, name):
    """Lessons 4 and 5's experiment functions on the tiny preset, from an empty checkpoint folder: what they return."""
    import os

    os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = str(tmp_path / name)
    networks, pretext = budgets.train_networks(seeds={"cnn": (0,)}, log=None)
    table = probing.probe_networks(networks, ks=(2,), num_test=50, splits=(0, 1))  # two units: verdicts, not "not decided"
    return dict(plan=budgets.training_plan(seeds={"cnn": (0,)}), networks=networks, pretext=pretext, table=table,
                verdicts=alignment.verdicts(table, pretext),
                suite=suite.probe_suite_networks(networks, sizes=TINY_SUITE, tasks=("classes", "scenes")))


@pytest.mark.slow
def test_a_fourth_task_runs_through_lessons_4_and_5_and_changes_nothing_of_the_classic_tasks(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")  # the tiny preset
    monkeypatch.setenv("PRETEXT_LESSONS_RESULTS_CACHE", "0")  # everything measured, nothing read back
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    before = lessons_4_and_5(tmp_path, "three")
    register_task(HalfFlipTask)
    try:
        after = lessons_4_and_5(tmp_path, "four")  # trained again from nothing, in another folder
    finally:
        unregister_task(HalfFlipTask.name)
    toy = HalfFlipTask.name
    # the fourth task went through every step
    assert toy in {p["network"] for p in after["plan"]} and toy in {p["task"] for p in after["pretext"]}
    assert toy in {r["task"] for r in after["table"]} and toy in {r["task"] for r in after["suite"]}
    assert any(f"[{toy}, cnn" in line for line in after["verdicts"]["alignment"])
    # and changed nothing of the others: the same plans, weights, rows and verdicts
    assert [p for p in after["plan"] if p["network"] != toy] == before["plan"]
    old = {(n[0] if isinstance(n[0], str) else n[0].name, n[1], n[2]): n[3] for n in before["networks"]}
    new = {(n[0] if isinstance(n[0], str) else n[0].name, n[1], n[2]): n[3] for n in after["networks"] if n[0] != RANDOM
           and getattr(n[0], "name", n[0]) != toy}
    assert set(new) == set(old) - {k for k in old if k[0] == RANDOM}
    for key, net in new.items():
        a, b = old[key].state_dict(), net.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{key} changed"
    assert [r for r in after["table"] if r["task"] != toy] == before["table"]
    assert [r for r in after["suite"] if r["task"] != toy] == before["suite"]
    for kind, lines in before["verdicts"].items():
        if kind == "pretext":  # a description across every task's networks: the fourth task is one of them
            assert all(toy in line for line in after["verdicts"][kind]) and len(after["verdicts"][kind]) == len(lines)
        else:
            assert [line for line in after["verdicts"][kind] if toy not in line] == lines, kind
