"""Plots shared by the lessons: pure functions that return a matplotlib figure."""
from __future__ import annotations
from ..core.data import to_float

import matplotlib.pyplot as plt
import torch


def _axes(ax, figsize=(5, 3.5)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_history(history, ax=None, title=None):
    """Lesson 0: training loss and pretext accuracy per epoch, from `fit`'s History."""
    for key in ("epoch", "loss", "train_acc"):
        if key not in history:
            raise ValueError(f"history must come from fit() and hold {key!r}; it holds {sorted(history)}")
    fig, ax = _axes(ax)
    ax.plot(history["epoch"], history["loss"], "o-", color="tab:red", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(history["epoch"], history["train_acc"], "s-", color="tab:blue", label="train")
    if "val_acc" in history:
        ax2.plot(history["epoch"], history["val_acc"], "^--", color="tab:green", label="held out")
    ax2.set_ylabel("pretext accuracy")
    ax2.set_ylim(0, 1)
    ax2.legend(loc="center right")
    ax.set_title(title or "Pretext training")
    fig.tight_layout()
    return fig


def show_images(X, titles=None, ncols: int = 8, size: float = 1.4, cmap="gray"):
    """Lesson 0: a grid of images (N, C, H, W) or (N, H, W), with optional titles."""
    X = to_float(torch.as_tensor(X))
    if X.dim() == 3:
        X = X.unsqueeze(1)
    if X.dim() != 4:
        raise ValueError(f"X must be (N, C, H, W) or (N, H, W), got shape {tuple(X.shape)}")
    n = len(X)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if titles else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = X[i]
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if (lo < 0 or hi > 1) and hi > lo else img  # normalised tiles
        ax.imshow(img[0] if img.shape[0] == 1 else img.permute(1, 2, 0).clamp(0, 1), cmap=cmap,
                  vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion(y_true, y_pred, labels, ax=None, title="Confusion matrix", normalize: bool = True):
    """Lesson 0: a confusion matrix (rows: true, columns: predicted), as fractions of each row."""
    y_true, y_pred = torch.as_tensor(y_true), torch.as_tensor(y_pred)
    k = len(labels)
    M = torch.zeros(k, k)
    M.index_put_((y_true.long(), y_pred.long()), torch.ones(len(y_true)), accumulate=True)
    if normalize:
        M = M / M.sum(1, keepdim=True).clamp_min(1)
    fig, ax = _axes(ax, figsize=(1 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(M, cmap="Blues", vmin=0)
    ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{M[i, j]:.2f}" if normalize else int(M[i, j]), ha="center", va="center",
                    fontsize=6, color="white" if M[i, j] > 0.5 * M.max() else "black")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_probe(results: dict, ax=None, title="Linear probe per layer", label=None):
    """Lesson 0: linear-probe accuracy per layer, from `linear_probe`'s dict (several dicts: several lines)."""
    fig, ax = _axes(ax)
    series = results if all(isinstance(v, dict) for v in results.values()) else {label or "network": results}
    for name, accs in series.items():
        ax.plot(list(accs), list(accs.values()), "o-", label=name)
    ax.set_xlabel("layer")
    ax.set_ylabel("downstream accuracy")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
