"""Multi-label probes: one linear classifier per class, scored by average precision (the VOC07 protocol's metric)."""
from __future__ import annotations

import torch

from .probe import LinearClassifier, one_thread
from .profile import phase


def _check_scores_labels(scores, labels, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    scores, labels = torch.as_tensor(scores), torch.as_tensor(labels)
    if scores.dim() != dims or scores.shape != labels.shape:
        shape = "(N,)" if dims == 1 else "(N, L)"
        raise ValueError(f"scores and labels must both have shape {shape} and match, got {tuple(scores.shape)} "
                         f"and {tuple(labels.shape)}")
    if not torch.isfinite(scores.double()).all():
        raise ValueError("scores must be finite numbers (no nan or inf)")
    if not ((labels == 0) | (labels == 1)).all():
        raise ValueError(f"labels must be 0 or 1 (is the class present?), got values {torch.unique(labels)[:5].tolist()}")
    return scores.double(), labels.double()


def average_precision(scores, labels) -> float:
    """The average precision of one class: the mean of the precision at each positive, ties grouped.

    AP = sum over score thresholds of (recall gained) x (precision there), the thresholds being the
    distinct scores from the highest down (images with equal scores enter together): the definition
    of scikit-learn's `average_precision_score`. `labels` (N,) are 0/1; at least one must be 1.
    """
    scores, labels = _check_scores_labels(scores, labels, 1)
    positives = float(labels.sum())
    if positives == 0:
        raise ValueError("labels must hold at least one positive (1): average precision is undefined without one")
    order = torch.argsort(scores, descending=True, stable=True)
    s, y = scores[order], labels[order]
    last_of_tie = torch.cat([torch.nonzero(s[1:] != s[:-1]).flatten(), torch.tensor([len(s) - 1])])
    true_pos = torch.cumsum(y, 0)[last_of_tie]
    seen = (last_of_tie + 1).double()
    recall_gain = torch.diff(true_pos, prepend=torch.zeros(1, dtype=true_pos.dtype)) / positives
    return float((recall_gain * true_pos / seen).sum())


def mean_average_precision(scores, labels, skip_empty: bool = False) -> float:
    """MAP: the average precision of each class (column), averaged over the classes (a macro mean).

    A class with no positive image has no AP: an error, unless `skip_empty` leaves it out (cross-validation
    folds may lack a rare class; a test set must not).
    """
    scores, labels = _check_scores_labels(scores, labels, 2)
    present = labels.sum(0) > 0
    if not skip_empty and not present.all():
        raise ValueError(f"labels must hold a positive for every class; classes {torch.nonzero(~present).flatten().tolist()} "
                         f"have none (skip_empty=True leaves them out)")
    if not present.any():
        raise ValueError("labels must hold at least one positive in some class")
    aps = [average_precision(scores[:, j], labels[:, j]) for j in torch.nonzero(present).flatten().tolist()]
    return sum(aps) / len(aps)


class MultiLabelClassifier(LinearClassifier):
    """One logistic regression per class on standardised features: `forward` gives (N, L) scores."""

    @torch.no_grad()
    def predict(self, F_):
        """0/1 (N, L): the classes whose logistic regression says present (score above 0)."""
        return (self(F_) > 0).long()

    @torch.no_grad()
    def score(self, F_, Y) -> float:
        """The mAP of the classifier's scores on features F_ against 0/1 labels Y (N, L)."""
        return mean_average_precision(self(F_), Y)


@phase("probes")
def fit_multilabel(F_train: torch.Tensor, Y_train: torch.Tensor, C: float = 1.0, max_iter: int = 200,
                   tol: float | None = None) -> MultiLabelClassifier:
    """L independent binary logistic regressions (L2 on the weights, cost C), one per column of Y_train.

    Each class minimises C * sum of its log-losses + ||w||^2 / 2, the bias unpenalised (scikit-learn's
    `LogisticRegression(C=C)` with its default solver); the L problems are separable, so one L-BFGS run
    on their sum finds every minimum at once. `tol` as in `probe.fit_linear`.
    """
    if F_train.dim() != 2:
        raise ValueError(f"F_train must be (N, D) features, got shape {tuple(F_train.shape)}")
    if Y_train.dim() != 2 or len(Y_train) != len(F_train):
        raise ValueError(f"Y_train must be (N, L) 0/1 labels matching F_train's {len(F_train)} rows, "
                         f"got shape {tuple(Y_train.shape)}")
    if not ((Y_train == 0) | (Y_train == 1)).all():
        raise ValueError("Y_train must hold 0 or 1 only (is class j present in image i?)")
    counts = Y_train.sum(0)
    constant = torch.nonzero((counts == 0) | (counts == len(Y_train))).flatten().tolist()
    if constant:
        raise ValueError(f"every class needs positive and negative training images; classes {constant} have only one kind")
    if not C > 0:
        raise ValueError(f"C must be positive, got {C!r}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    with one_thread():
        F64 = F_train.double()
        mean = F64.mean(0)
        std = F64.std(0, unbiased=False).clamp_min(1e-6)
        Z = (F64 - mean) / std
        basis = None
        if 4 * len(Z) <= Z.shape[1]:  # as in probe.fit_linear: solve in the span of the images
            basis, R = torch.linalg.qr(Z.T)
            Z = R.T
        W, b = _lbfgs_sigmoid(Z, Y_train.double(), C, max_iter, tol)
        W = W if basis is None else W @ basis.T
    return MultiLabelClassifier(mean.float(), std.float(), W.float(), b.float())


def _lbfgs_sigmoid(Z: torch.Tensor, Y: torch.Tensor, C: float, max_iter: int, tol):
    from scipy.optimize import minimize
    from torch.nn import functional as F

    N, D = Z.shape
    L = Y.shape[1]
    scale, gtol = (1.0, 1e-6) if tol is None else (1.0 / (C * N), tol)

    def loss_and_grad(params):
        Wb = torch.from_numpy(params).view(L, D + 1)
        W, b = Wb[:, :D], Wb[:, D]
        logits = torch.addmm(b, Z, W.T)
        loss = C * F.binary_cross_entropy_with_logits(logits, Y, reduction="sum") + 0.5 * (W * W).sum()
        G = C * (torch.sigmoid(logits) - Y)
        grad = torch.cat([G.T @ Z + W, G.sum(0, keepdim=True).T], dim=1)
        return scale * float(loss), (scale * grad).flatten().numpy()

    res = minimize(loss_and_grad, torch.zeros(L * (D + 1), dtype=torch.float64).numpy(), jac=True,
                   method="L-BFGS-B", options=dict(maxiter=max_iter, gtol=gtol,
                                                   ftol=64 * torch.finfo(torch.float64).eps, maxls=50))
    Wb = torch.from_numpy(res.x).view(L, D + 1)
    return Wb[:, :D].clone(), Wb[:, D].clone()
