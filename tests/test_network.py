"""The Network record (experiments.network): what a comparison passes, unpacked as the results rows' key."""
import pytest
import torch

from pretext_lessons.core.models import make_backbone
from pretext_lessons.experiments.network import Network
from pretext_lessons.experiments.references import NoSignal, ProbedAs
from pretext_lessons.experiments.table import RANDOM
from pretext_lessons.tasks.jigsaw import JigsawTask
from pretext_lessons.tasks.rotation import RotationTask


def net():
    return make_backbone("cnn", 1, 4)


def test_a_network_unpacks_and_indexes_as_task_arch_seed_net():
    module = net()
    record = Network(RotationTask(), "cnn", 2, module, dict(num_images=100, num_epochs=1))
    task, arch, seed, got = record
    assert (arch, seed, got) == ("cnn", 2, module) and task is record.task
    assert len(record) == 4 and record[1] == "cnn" and record[3] is module and record[-1] is module


def test_name_and_preprocess_follow_the_task():
    jigsaw = JigsawTask()
    assert Network(jigsaw, "cnn", 0, net()).name == "jigsaw"
    assert Network(jigsaw, "cnn", 0, net()).preprocess == jigsaw.preprocess
    reference = Network(ProbedAs(base=jigsaw), "cnn", 0, net())
    assert reference.name == f"{RANDOM}-jigsaw"  # shown images as the jigsaw network is (checked below)
    assert Network(NoSignal(base=RotationTask()), "cnn", 0, net()).name == "no_signal-rotation"
    baseline = Network(RANDOM, "resnet", 1, net())
    assert baseline.name == RANDOM and baseline.preprocess is None and baseline.budget is None
    X = torch.rand(2, 1, 28, 28)
    assert torch.equal(reference.preprocess(X), jigsaw.preprocess(X))


@pytest.mark.parametrize("args, message", [
    ((None, "cnn", 0), "task must be a PretextTask or a baseline's name"),
    (("", "cnn", 0), "task must be a PretextTask or a baseline's name"),
    ((RANDOM, "", 0), "arch must be a non-empty string"),
    ((RANDOM, "cnn", 1.5), "seed must be an integer"),
    ((RANDOM, "cnn", True), "seed must be an integer"),
])
def test_bad_fields_are_named(args, message):
    with pytest.raises(TypeError, match=message):
        Network(*args, net())


def test_a_bad_module_or_budget_is_named():
    with pytest.raises(TypeError, match="net must be a torch.nn.Module, got str"):
        Network(RANDOM, "cnn", 0, "weights.pt")
    with pytest.raises(ValueError, match=r"budget must be None or dict\(num_images, num_epochs\)"):
        Network(RANDOM, "cnn", 0, net(), dict(images=100))
