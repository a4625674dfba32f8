"""Lesson 7's study code: the probe view through the head, the control, fine-tuning per layer, the ordering verdicts."""
import pytest
import torch

from pretext_lessons.core.models import make_backbone
from pretext_lessons.core.task import check_task_batch
from pretext_lessons.experiments import bridge
from pretext_lessons.tasks.contrastive import ContrastiveTask, partner_index


def small_net():
    torch.manual_seed(0)
    return ContrastiveTask().build_net(make_backbone("cnn", 1, 4)).eval()


def test_the_probe_view_is_the_trunk_then_the_head_sharing_weights():
    net = small_net()
    view = bridge.probe_view(net)
    assert view.layer_names == net.trunk.layer_names + (bridge.PROJECTION,)
    X = torch.rand(3, 1, 28, 28)
    assert torch.allclose(view(X), net.head(net.trunk(X)))
    assert view.projection is net.head
    with pytest.raises(TypeError, match="net must be a ContrastiveNet"):
        bridge.probe_view(make_backbone("cnn", 1, 4))


def test_the_control_keeps_the_views_and_draws_partners_that_carry_nothing():
    X = torch.rand(50, 1, 16, 16)
    views, y = check_task_batch(bridge.ShuffledContrastiveTask(), X, seed=0)
    true_views, _ = ContrastiveTask().make_batch(X, torch.Generator().manual_seed(0))
    assert torch.equal(views, true_views)
    assert (y != torch.arange(100)).all()
    assert int((y == partner_index(50)).sum()) < 10
    assert bridge.ShuffledContrastiveTask().name != ContrastiveTask().name


def test_fine_tuning_a_layer_trains_a_copy_and_leaves_the_network_alone():
    net = small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    X, y = torch.rand(20, 1, 28, 28), torch.arange(20) % 4
    model = bridge.fine_tune_layer(net, "conv2", X, y, steps=3)
    assert model(X).shape == (20, 4)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="layer must be one of"):
        bridge.truncated(net.trunk, "res5")


def rows_for(probe_gap, tune_gap, noise=0.001):
    rows = []
    for split in range(4):
        wiggle = noise * (split - 1.5)
        for protocol, gap in (("probe", probe_gap), ("fine-tune", tune_gap)):
            rows.append(dict(task="masked", seed=0, split=split, layer="fc2", k=10, protocol=protocol,
                             accuracy=0.6 + gap + wiggle))
            rows.append(dict(task="rotation", seed=0, split=split, layer="fc2", k=10, protocol=protocol,
                             accuracy=0.6 + wiggle * 2))
    return rows


def test_orderings_differ_only_where_both_orderings_are_decided_and_opposite():
    opposite = bridge.ordering_verdicts(rows_for(-0.05, 0.05), "masked", "rotation", 10, "fc2")
    assert opposite["probe"].outcome == "worse" and opposite["fine-tune"].outcome == "better"
    assert opposite["interaction"].outcome == "better"
    assert bridge.orderings_differ(opposite).startswith("The orderings differ")
    same = bridge.ordering_verdicts(rows_for(0.05, 0.05), "masked", "rotation", 10, "fc2")
    assert bridge.orderings_differ(same).startswith("The orderings agree")
    unclear = bridge.ordering_verdicts(rows_for(0.0, 0.05, noise=0.02), "masked", "rotation", 10, "fc2")
    assert bridge.orderings_differ(unclear).startswith("The orderings: not shown")


def test_ablation_arms_add_colour_jitter_on_colour_images_only():
    gray, colour = bridge.ablation_arms(False), bridge.ablation_arms(True)
    assert "without colour jitter" in colour and "without colour jitter" not in gray
    assert all("crop" not in arm for name, arm in gray.items() if name == "without crop")


def test_the_map_names_each_task_with_its_source():
    text = bridge.map_table_text()
    for source in ("Table 2", "Fig. 8", "Table 3", "Table 1", "Fig. 9"):
        assert source in text
    assert len(text.splitlines()) == 2 + len(bridge.MAP)
