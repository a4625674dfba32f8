"""Lesson 7's study code: the probe view through the head, the control, fine-tuning per layer, the ordering verdicts."""
import pytest
import torch

from pretext_lessons.core import results
from pretext_lessons.core.models import make_backbone
from pretext_lessons.core.probe import fit_linear, layer_features
from pretext_lessons.core.task import check_task_batch
from pretext_lessons.experiments import bridge, probing
from pretext_lessons.tasks.contrastive import ContrastiveTask, partner_index
from pretext_lessons.tasks.masked import MaskedTask


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


def test_fine_tuning_a_layer_starts_from_the_probe_and_leaves_the_network_alone():
    net = small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    X, y = torch.rand(24, 1, 28, 28), torch.arange(24) % 4
    start, _ = bridge.fine_tune_layer(net, "conv2", X, y, C=1.0, recipes=(dict(lr=1e-2, steps=0),))
    probe = fit_linear(layer_features(net.trunk, X, ["conv2"])["conv2"], y, 1.0, tol=probing.PROBE_TOL)
    assert torch.allclose(start(X), probe(layer_features(net.trunk, X, ["conv2"])["conv2"]).float(), atol=1e-4)
    model, chosen = bridge.fine_tune_layer(net, "conv2", X, y, C=1.0, recipes=(dict(lr=1e-3, steps=3),
                                                                              dict(lr=1e-2, steps=3)))
    assert model(X).shape == (24, 4) and chosen["lr"] in (1e-3, 1e-2) and len(chosen["cv"]) == 2
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not any(m.training for m in model.modules())  # BatchNorm's statistics were never re-estimated
    with pytest.raises(ValueError, match="layer must be one of"):
        bridge.fine_tune_layer(net, "res5", X, y, C=1.0)
    with pytest.raises(ValueError, match="recipes must be"):
        bridge.fine_tune_layer(net, "conv2", X, y, C=1.0, recipes=(dict(lr=0, steps=3),))


@pytest.mark.slow
def test_probe_and_fine_tune_reads_back_what_a_fresh_run_measures(monkeypatch, tmp_path):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv(results.RESULTS_VARIABLE, raising=False)
    calls = []
    real = bridge.fine_tune_layer
    monkeypatch.setattr(bridge, "fine_tune_layer", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    networks = {0: [(MaskedTask(), MaskedTask().build_net(make_backbone("cnn", 1, 4)).eval())]}
    settings = dict(layers=["conv2"], ks=(2,), num_splits=2, recipes=(dict(lr=1e-2, steps=2),), num_test=40)
    first = bridge.probe_and_fine_tune(networks, **settings)
    assert len(calls) == 2 and {r["protocol"] for r in first} == {"probe", "fine-tune"}
    assert bridge.probe_and_fine_tune(networks, **settings) == first and len(calls) == 2  # read back
    monkeypatch.setenv(results.RESULTS_VARIABLE, "0")
    assert bridge.probe_and_fine_tune(networks, **settings) == first and len(calls) == 4  # measured afresh


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


def test_verdicts_replicate_over_pretraining_seeds_with_splits_averaged_within_each():
    rows = [dict(r, seed=seed, accuracy=r["accuracy"] + 0.01 * seed) for seed in range(3)
            for r in rows_for(-0.05, 0.05) if r["split"] < 2]
    found = bridge.ordering_verdicts(rows, "masked", "rotation", 10, "fc2")
    for verdict in found.values():
        assert verdict.comparison.over == "seeds" and verdict.comparison.n_seeds == 3
        assert "3 seeds x 2 splits" in verdict.sentence


@pytest.mark.slow
def test_probe_and_fine_tune_chooses_once_and_fine_tunes_only_the_layers_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    grids = []
    real = bridge.fine_tune_layer

    def spy(net, layer, *args, recipes=bridge.FINE_TUNE_RECIPES, **kw):
        grids.append((layer, [dict(r) for r in recipes]))
        return real(net, layer, *args, recipes=recipes, **kw)
    monkeypatch.setattr(bridge, "fine_tune_layer", spy)
    task = MaskedTask()
    networks = {seed: [(task, task.build_net(make_backbone("cnn", 1, 4)).eval())] for seed in (0, 1)}
    recipes = (dict(lr=1e-3, steps=2), dict(lr=3e-2, steps=2))
    rows = bridge.probe_and_fine_tune(networks, ["conv2", "fc2"], ks=(2,), num_splits=2, recipes=recipes,
                                      num_test=40, fine_tune_layers=["fc2"])
    tuned = [r for r in rows if r["protocol"] == "fine-tune"]
    assert {r["layer"] for r in rows if r["protocol"] == "probe"} == {"conv2", "fc2"}
    assert {r["layer"] for r in tuned} == {"fc2"} and len(tuned) == 4  # 2 seeds x 2 splits
    assert grids[0] == ("fc2", list(recipes))  # the first seed's first split chooses ...
    first = (tuned[0]["lr"], tuned[0]["steps"])
    assert all(g == ("fc2", [dict(lr=first[0], steps=first[1])]) for g in grids[1:])  # ... the others keep it
    assert tuned[0]["cv"] and not any(r["cv"] for r in tuned[1:])
    with pytest.raises(ValueError, match="fine_tune_layers"):
        bridge.probe_and_fine_tune(networks, ["conv2"], ks=(2,), fine_tune_layers=["fc2"])
    with pytest.raises(ValueError, match="networks must map each seed"):
        bridge.probe_and_fine_tune([(task, networks[0][0][1])], ["conv2"], ks=(2,))
