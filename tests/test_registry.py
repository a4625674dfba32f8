"""The task registry: a task registered outside the package goes through lesson 4's study and lesson 6's report."""
import dataclasses

import pytest
import torch

import pretext_lessons
from pretext_lessons.core.task import PretextTask
from pretext_lessons.experiments import budgets, capstone, probing
from pretext_lessons.experiments.table import PIXELS, RANDOM, SUPERVISED, best_layers, select
from pretext_lessons.tasks import registry
from pretext_lessons.tasks.registry import course_tasks, register_task, registered_tasks, unregister_task


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
    before = registered_tasks()
    register_task(HalfFlipTask)
    yield HalfFlipTask
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


@pytest.fixture
def grading_preset(monkeypatch, tmp_path):
    # the tiny preset, and a private checkpoint folder so nothing cached by the lessons is mixed in
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))


def test_the_lessons_tasks_are_registered_in_lesson_order():
    assert list(registered_tasks())[:3] == ["rotation", "jigsaw", "relative_position"]
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


def test_a_fourth_task_goes_through_lesson_4_and_the_capstone_report(fourth_task, grading_preset):
    logged = []
    networks, pretext = budgets.train_networks(seeds={"cnn": (0,)}, log=logged.append)
    names = [task if isinstance(task, str) else task.name for task, *_ in networks]
    assert names == ["rotation", "jigsaw", "relative_position", "half_flip_test", SUPERVISED,
                     RANDOM]
    assert [p["task"] for p in pretext] == names[:4]
    assert any(line.startswith("half_flip_test") for line in logged)

    table = probing.probe_networks(networks, ks=(2,), num_test=50)
    rows = select(table, task="half_flip_test")
    trunk_layers = networks[3][3].trunk.layer_names
    assert [r["layer"] for r in rows] == list(trunk_layers)
    assert "half_flip_test" in {c.task for c in best_layers(table)}

    report_networks = capstone.classic_networks()
    assert [task.name for task, *_ in report_networks][-1] == "half_flip_test"
    report = capstone.layer_report(report_networks, k=2, num_splits=1)
    assert {r["task"] for r in report} >= {"half_flip_test", RANDOM, PIXELS}
