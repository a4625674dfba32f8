"""Linear probes: what a frozen network's features are worth downstream, layer by layer."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .models import activations, trunk_of

DEFAULT_POOLED_SIZE = 2048  # the course's counterpart of VISSL's ~9k features, for 28 px images


def pool_features(A: torch.Tensor, target: int = DEFAULT_POOLED_SIZE) -> torch.Tensor:
    """Lesson 0: average-pool a layer's maps (N, C, H, W) to about `target` features, flattened.

    The spatial side s is the one that brings C*s*s closest to `target` (at least 1, at most H);
    vectors (N, D) pass through.
    """
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"A must be a torch.Tensor, got {type(A).__name__}")
    if A.dim() == 2:
        return A
    if A.dim() != 4:
        raise ValueError(f"A must be (N, C, H, W) maps or (N, D) vectors, got shape {tuple(A.shape)}")
    if not isinstance(target, int) or target < 1:
        raise ValueError(f"target must be a positive integer, got {target!r}")
    C, H, W = A.shape[1:]
    side = max(1, min(H, W, round(math.sqrt(target / C))))
    return F.adaptive_avg_pool2d(A, side).flatten(1)


class LinearClassifier(nn.Module):
    """Lesson 0: a multinomial logistic regression on standardised features, fitted by `fit_linear`."""

    def __init__(self, mean, std, weight, bias):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def forward(self, F_):
        return self.linear((F_ - self.mean) / self.std)

    @torch.no_grad()
    def predict(self, F_):
        return self(F_).argmax(1)

    @torch.no_grad()
    def score(self, F_, y) -> float:
        return float((self.predict(F_) == y).float().mean())


def fit_linear(F_train: torch.Tensor, y_train: torch.Tensor, C: float = 1.0, max_iter: int = 200,
               tol: float | None = None) -> LinearClassifier:
    """Lesson 0: fit a multinomial logistic regression (L2, the same objective as scikit-learn's, cost C).

    Minimises C * sum of cross-entropies + ||W||^2 / 2 on standardised features with L-BFGS.
    `tol=None` stops when no gradient entry of that objective exceeds 1e-6 (or after `max_iter`
    steps); a number `tol` uses scikit-learn's rule instead: the same objective divided by C * N
    (mean cross-entropy), stopped when no gradient entry exceeds `tol` (scikit-learn's default is 1e-4).
    """
    if F_train.dim() != 2:
        raise ValueError(f"F_train must be (N, D) features, got shape {tuple(F_train.shape)}")
    if y_train.dim() != 1 or len(y_train) != len(F_train):
        raise ValueError(f"y_train must be (N,) labels matching F_train's {len(F_train)} rows, "
                         f"got shape {tuple(y_train.shape)}")
    if y_train.dtype != torch.int64:
        raise TypeError(f"y_train must be int64 class indices, got {y_train.dtype}")
    if not C > 0:
        raise ValueError(f"C must be positive, got {C!r}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if tol is not None and not tol > 0:
        raise ValueError(f"tol must be None or a positive number, got {tol!r}")
    F_train = F_train.double()
    mean = F_train.mean(0)
    std = F_train.std(0, unbiased=False).clamp_min(1e-6)
    Z = (F_train - mean) / std
    basis = None
    if len(Z) < Z.shape[1]:
        # Fewer images than features (few labels): from W = 0, every L-BFGS step is a sum of
        # gradients, which lie in the span of the images, so solving in the coordinates of an
        # orthonormal basis of that span (Z^T = QR) gives the same iterates on N, not D, columns.
        basis, R = torch.linalg.qr(Z.T)
        Z = R.T
    num_classes = int(y_train.max()) + 1
    scale = 1.0 if tol is None else 1.0 / (C * len(Z))
    W = torch.zeros(num_classes, Z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, tolerance_grad=1e-6 if tol is None else tol,
                            tolerance_change=1e-10, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = scale * (C * F.cross_entropy(Z @ W.T + b, y_train, reduction="sum") + 0.5 * (W * W).sum())
        loss.backward()
        return loss

    opt.step(closure)
    W = W.detach() if basis is None else W.detach() @ basis.T
    return LinearClassifier(mean.float(), std.float(), W.float(), b.detach().float())


def layer_features(net: nn.Module, X: torch.Tensor, layers=None, target: int = DEFAULT_POOLED_SIZE,
                   preprocess=None) -> dict[str, torch.Tensor]:
    """Lesson 0: pooled features of each named layer of a network's trunk on images X."""
    from .data import to_float

    trunk = trunk_of(net)
    layers = list(layers or trunk.layer_names)
    X = to_float(X)
    if preprocess is not None:
        X = preprocess(X)
    return activations(trunk, X, layers, transform=lambda a: pool_features(a, target))


def linear_probe(net: nn.Module, X_train, y_train, X_test, y_test, layers=None, target: int = DEFAULT_POOLED_SIZE,
                 C: float = 1.0, preprocess=None) -> dict[str, float]:
    """Lesson 0: test accuracy of a linear classifier on each frozen layer, trained on the few labels."""
    if len(X_train) != len(y_train) or len(X_test) != len(y_test):
        raise ValueError(f"images and labels must match: X_train {len(X_train)} vs y_train {len(y_train)}, "
                         f"X_test {len(X_test)} vs y_test {len(y_test)}")
    train = layer_features(net, X_train, layers, target, preprocess)
    test = layer_features(net, X_test, layers, target, preprocess)
    return {name: fit_linear(train[name], y_train, C).score(test[name], y_test) for name in train}
