"""Linear probes: what a frozen network's features are worth downstream, layer by layer."""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
from torch.nn import functional as F

from .models import activations, trunk_of
from .data import to_float
from .profile import phase
from .validate import check_int

DEFAULT_POOLED_SIZE = 2048  # the course's counterpart of VISSL's ~9k features, for 28 px images


def pool_features(A: torch.Tensor, target: int = DEFAULT_POOLED_SIZE) -> torch.Tensor:
    """Average-pool a layer's maps (N, C, H, W) to about `target` features, flattened.

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
    # adaptive average pooling is separable: two small matrix products give the same numbers as
    # F.adaptive_avg_pool2d, which is ten times slower on the CPU when the windows overlap
    rows, cols = _pooling_matrix(H, side, A), _pooling_matrix(W, side, A)
    return torch.einsum("nchw,sh,tw->ncst", A, rows, cols).flatten(1)


def _pooling_matrix(n: int, side: int, like: torch.Tensor) -> torch.Tensor:
    # row i averages positions floor(i*n/side) .. ceil((i+1)*n/side) - 1, as adaptive pooling does
    P = torch.zeros(side, n, dtype=like.dtype, device=like.device)
    for i in range(side):
        start, stop = (i * n) // side, -((-(i + 1) * n) // side)
        P[i, start:stop] = 1.0 / (stop - start)
    return P


class LinearClassifier(nn.Module):
    """A multinomial logistic regression on standardised features, fitted by `fit_linear`."""

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


@phase("probes")
def fit_linear(F_train: torch.Tensor, y_train: torch.Tensor, C: float = 1.0, max_iter: int = 200,
               tol: float | None = None) -> LinearClassifier:
    """Fit a multinomial logistic regression (L2, the same objective as scikit-learn's, cost C).

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
    with one_thread():
        return _fit_linear(F_train.double(), y_train, C, max_iter, tol)


@contextlib.contextmanager
def one_thread():
    """Run the block on one thread (torch's and, where threadpoolctl is installed, SciPy's BLAS)."""
    # these matrices are small: a second thread gains little, and on a busy CPU, threads waiting
    # for each other made a fit ten times slower (benchmarks/bench_probe.py); SciPy's BLAS has
    # its own threads, which threadpoolctl (where installed) limits too
    global _THREADPOOLS
    if _THREADPOOLS is None:
        import scipy.optimize  # noqa: F401  (loads SciPy's BLAS before the scan below)

        try:
            from threadpoolctl import ThreadpoolController

            _THREADPOOLS = ThreadpoolController()  # scanning the loaded libraries is slow: once
        except ImportError:
            _THREADPOOLS = False
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _THREADPOOLS.limit(limits=1) if _THREADPOOLS else contextlib.nullcontext():
            yield
    finally:
        torch.set_num_threads(threads)


_THREADPOOLS = None


def _fit_linear(F_train, y_train, C, max_iter, tol) -> LinearClassifier:
    mean = F_train.mean(0)
    std = F_train.std(0, unbiased=False).clamp_min(1e-6)
    Z = (F_train - mean) / std
    basis = None
    if 4 * len(Z) <= Z.shape[1]:
        # Far fewer images than features (few labels): from W = 0, every L-BFGS step is a sum of
        # gradients, which lie in the span of the images, so solving in the coordinates of an
        # orthonormal basis of that span (Z^T = QR) follows the same path on N, not D, columns (the
        # stopping test then reads the gradient in that basis). Below 4x fewer the QR costs more than it saves.
        basis, R = torch.linalg.qr(Z.T)
        Z = R.T
    num_classes = int(y_train.max()) + 1
    W, b = _lbfgs_softmax(Z, y_train, num_classes, C, max_iter, tol)
    W = W if basis is None else W @ basis.T
    return LinearClassifier(mean.float(), std.float(), W.float(), b.float())


def _lbfgs_softmax(Z: torch.Tensor, y: torch.Tensor, num_classes: int, C: float, max_iter: int, tol):
    """Weights and biases minimising C * sum CE + ||W||^2 / 2 on Z (float64), by SciPy's L-BFGS."""
    from scipy.optimize import minimize

    N, D = Z.shape
    # tol=None: the sum objective, gradient entries <= 1e-6, in float64; a number: scikit-learn's
    # scaling and rule, whose tolerance (1e-4) is far above float32 rounding: float32 products are faster
    scale, gtol, dtype = (1.0, 1e-6, torch.float64) if tol is None else (1.0 / (C * N), tol, torch.float32)
    Z = Z.to(dtype)
    onehot = F.one_hot(y, num_classes).to(dtype)

    def loss_and_grad(params):
        Wb = torch.from_numpy(params).view(num_classes, D + 1).to(dtype)
        W, b = Wb[:, :D], Wb[:, D]
        logp = torch.log_softmax(torch.addmm(b, Z, W.T), dim=1)
        loss = -C * (logp * onehot).sum() + 0.5 * (W * W).sum()
        G = C * (logp.exp() - onehot)  # the gradient of the loss with respect to the logits
        grad = torch.cat([G.T @ Z + W, G.sum(0, keepdim=True).T], dim=1)
        return scale * float(loss), (scale * grad).double().flatten().numpy()

    # analytic gradients and SciPy's L-BFGS (as scikit-learn does): far less overhead per step
    # than autograd and torch.optim.LBFGS on problems this small
    res = minimize(loss_and_grad, torch.zeros(num_classes * (D + 1), dtype=torch.float64).numpy(), jac=True,
                   method="L-BFGS-B", options=dict(maxiter=max_iter, gtol=gtol,
                                                   ftol=64 * torch.finfo(torch.float64).eps, maxls=50))
    Wb = torch.from_numpy(res.x).view(num_classes, D + 1)
    return Wb[:, :D].clone(), Wb[:, D].clone()


@phase("features")
def layer_features(net: nn.Module, X: torch.Tensor, layers=None, target: int = DEFAULT_POOLED_SIZE,
                   preprocess=None) -> dict[str, torch.Tensor]:
    """Pooled features of each named layer of a network's trunk on images X."""
    trunk = trunk_of(net)
    layers = list(layers or trunk.layer_names)
    X = to_float(X)
    if preprocess is not None:
        X = preprocess(X)
    return activations(trunk, X, layers, transform=lambda a: pool_features(a, target))


@phase("probes")
def linear_probe(net: nn.Module, X_train, y_train, X_test, y_test, layers=None, target: int = DEFAULT_POOLED_SIZE,
                 C: float = 1.0, preprocess=None) -> dict[str, float]:
    """Test accuracy of a linear classifier on each frozen layer, trained on the few labels."""
    if len(X_train) != len(y_train) or len(X_test) != len(y_test):
        raise ValueError(f"images and labels must match: X_train {len(X_train)} vs y_train {len(y_train)}, "
                         f"X_test {len(X_test)} vs y_test {len(y_test)}")
    train = layer_features(net, X_train, layers, target, preprocess)
    test = layer_features(net, X_test, layers, target, preprocess)
    return {name: fit_linear(train[name], y_train, C).score(test[name], y_test) for name in train}


# Choosing without the test set ------------------------------------------------------------------
# The probe's two choices, the layer to transfer from and the cost C, are made on the k labelled
# images per class alone; the test images are touched once, to report the accuracy of the chosen
# setting. C_GRID holds a stronger and a weaker regularisation: the 128-feature fc layers and the
# ~2,000-feature conv layers need different amounts. Cost decides the rest: every value and every
# validation round is one more fit per layer and budget, and the fits at k=100 are what the
# course's time bars pay for, so the lessons use one round of 2-fold cross-validation (half of the
# labelled images of each class fit, the other half validate); `rounds=None` uses every fold.
C_GRID = (0.1, 1.0)
CV_FOLDS = 2
CV_ROUNDS = 1


def stratified_folds(y: torch.Tensor, folds: int = CV_FOLDS, seed: int = 0) -> torch.Tensor:
    """A fold number (0..folds-1) per labelled image, each class spread evenly over the folds."""
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise TypeError(f"y must be a 1-D tensor of labels, got {type(y).__name__}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    g = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(y), dtype=torch.int64)
    for c in torch.unique(y).tolist():
        members = torch.nonzero(y == c).flatten()
        if len(members) < folds:
            raise ValueError(f"every class needs at least folds={folds} labelled images; class {c} has {len(members)}")
        fold[members[torch.randperm(len(members), generator=g)]] = torch.arange(len(members)) % folds
    return fold


@phase("probes")
def cross_validate(F_train: dict, y_train: torch.Tensor, C_grid=C_GRID, folds: int = CV_FOLDS, seed: int = 0,
                   tol: float | None = None, rounds: int | None = None) -> dict[str, dict[float, float]]:
    """Cross-validated accuracy per layer and cost C, from the labelled images only: {layer: {C: accuracy}}.

    Each of the first `rounds` folds (default: all) is held out once while the others fit; the
    accuracy is pooled over the held-out images.
    """
    C_grid = tuple(C_grid)
    if not C_grid or not all(isinstance(C, (int, float)) and C > 0 for C in C_grid):
        raise ValueError(f"C_grid must be positive numbers, got {C_grid!r}")
    fold = stratified_folds(y_train, folds, seed)
    rounds = folds if rounds is None else check_int("rounds", rounds, highest=folds)
    out = {}
    for name, F_ in F_train.items():
        if len(F_) != len(y_train):
            raise ValueError(f"F_train[{name!r}] has {len(F_)} rows but y_train {len(y_train)} labels")
        scores = {}
        for C in C_grid:
            correct = 0
            for f in range(rounds):
                fit_on, held = fold != f, fold == f
                clf = fit_linear(F_[fit_on], y_train[fit_on], C, tol=tol)
                correct += int((clf.predict(F_[held]) == y_train[held]).sum())
            scores[float(C)] = correct / int((fold < rounds).sum())
        out[name] = scores
    return out


def choose(scores: dict[str, dict[float, float]]) -> tuple[str, float]:
    """The (layer, C) with the best cross-validated accuracy; ties: the earlier layer, the smaller C."""
    if not scores:
        raise ValueError("scores must hold at least one layer (from cross_validate)")
    best = None
    for name, by_C in scores.items():
        for C in sorted(by_C):
            if best is None or by_C[C] > best[2]:
                best = (name, C, by_C[C])
    return best[0], best[1]
