"""The linear probe: it separates what is separable, it is at chance on shuffled labels."""
import pytest
import torch

from pretext_lessons.core import probe
from pretext_lessons.core.models import make_backbone


def blobs(n_per_class=40, num_classes=4, dim=20, spread=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=g) * 3
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    return centres[y] + spread * torch.randn(len(y), dim, generator=g), y


def test_linearly_separable_features_are_separated():
    F_train, y_train = blobs(seed=0)
    clf = probe.fit_linear(F_train, y_train)
    F_test, y_test = blobs(seed=0)[0] + 0.1 * torch.randn(160, 20), y_train
    assert clf.score(F_test, y_test) == 1.0


def test_shuffled_labels_give_chance():
    g = torch.Generator().manual_seed(1)
    F_ = torch.randn(2000, 50, generator=g)
    y = torch.randint(0, 4, (2000,), generator=g)
    clf = probe.fit_linear(F_[:1000], y[:1000])
    assert abs(clf.score(F_[1000:], y[1000:]) - 0.25) < 0.06


def test_matches_the_logistic_regression_objective():
    # at the optimum the gradient of C * sum CE + ||W||^2 / 2 vanishes: check it on our solution
    F_, y = blobs(spread=2.0)
    C = 0.5
    clf = probe.fit_linear(F_, y, C=C)
    W = clf.linear.weight.detach().double().requires_grad_()
    b = clf.linear.bias.detach().double().requires_grad_()
    Z = ((F_ - clf.mean) / clf.std).double()
    loss = C * torch.nn.functional.cross_entropy(Z @ W.T + b, y, reduction="sum") + 0.5 * (W * W).sum()
    loss.backward()
    assert float(W.grad.abs().max()) < 1e-3 and float(b.grad.abs().max()) < 1e-3


def test_pooling_reaches_about_the_target_size():
    A = torch.randn(3, 32, 14, 14)
    assert probe.pool_features(A, target=2048).shape == (3, 32 * 8 * 8)
    assert probe.pool_features(torch.randn(3, 512, 2, 2), target=2048).shape == (3, 2048)
    assert probe.pool_features(torch.randn(3, 4096, 2, 2), target=2048).shape == (3, 4096)  # never below 1x1
    assert probe.pool_features(torch.randn(3, 100)).shape == (3, 100)


def test_linear_probe_reports_every_layer():
    net = make_backbone("cnn", 1, width=4)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(10)
    X = (torch.rand(40, 1, 28, 28, generator=g) * 40 + y.view(-1, 1, 1, 1) * 50).to(torch.uint8)
    accs = probe.linear_probe(net, X, y, X, y)
    assert list(accs) == list(net.layer_names)
    assert all(0 <= a <= 1 for a in accs.values())
    assert max(accs.values()) > 0.9  # brightness alone separates these classes


@pytest.mark.parametrize("call, message", [
    (lambda: probe.pool_features(torch.randn(2, 3, 4)), "got shape"),
    (lambda: probe.pool_features(torch.randn(2, 3, 4, 4), target=0), "target must be a positive integer"),
    (lambda: probe.fit_linear(torch.randn(4, 3, 2), torch.zeros(4, dtype=torch.long)), "F_train must be"),
    (lambda: probe.fit_linear(torch.randn(4, 3), torch.zeros(5, dtype=torch.long)), "matching F_train's 4 rows"),
    (lambda: probe.fit_linear(torch.randn(4, 3), torch.zeros(4)), "int64"),
    (lambda: probe.fit_linear(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), C=0), "C must be positive"),
])
def test_bad_input(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_linear_probe_rejects_mismatched_labels():
    net = make_backbone("cnn", 1, width=4)
    X = torch.zeros(4, 1, 28, 28)
    with pytest.raises(ValueError, match="X_train 4 vs y_train 3"):
        probe.linear_probe(net, X, torch.zeros(3, dtype=torch.long), X, torch.zeros(4, dtype=torch.long))
