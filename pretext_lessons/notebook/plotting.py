"""Plots shared by the lessons: pure functions that return a matplotlib figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..core.data import to_float
from ..core.profile import phase, profile_plotting


def as_image(image, name: str = "image") -> torch.Tensor:
    """One image, (H, W), (C, H, W) or (1, C, H, W) with 1 or 3 channels, uint8 or float, as float (C, H, W)."""
    if not isinstance(image, torch.Tensor):
        try:
            image = torch.as_tensor(image)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be an image tensor (C, H, W), got {type(image).__name__}") from err
    shape = tuple(image.shape)
    if image.dim() == 2:
        image = image[None]
    if image.dim() == 4 and len(image) == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"{name} must be one image (H, W), (C, H, W) or (1, C, H, W) with 1 or 3 channels, "
                         f"got shape {shape}")
    if not (image.dtype == torch.uint8 or image.dtype.is_floating_point):
        raise TypeError(f"{name} must be uint8 or floating point, got {image.dtype}")
    return to_float(image.detach().cpu())


def imshow(ax, image, rescale=False, cmap="gray"):
    """Draw one image on `ax`, gray (in `cmap`) or colour, pixels as squares, no ticks.

    rescale=False clips to [0, 1]; True stretches the image's own range to [0, 1] (normalised
    tiles and patches, which have no fixed range); "auto" stretches only an image outside [0, 1].
    """
    if rescale not in (False, True, "auto"):
        raise ValueError(f"rescale must be False, True or 'auto', got {rescale!r}")
    image = as_image(image)
    lo, hi = float(image.min()), float(image.max())
    if hi > lo and (rescale is True or (rescale == "auto" and (lo < 0 or hi > 1))):
        image = (image - lo) / (hi - lo)
    image = image.clamp(0, 1)
    ax.imshow((image[0] if len(image) == 1 else image.permute(1, 2, 0)).numpy(), cmap=cmap, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def figure_axes(ax=None, figsize=(5, 3.5)):
    """(figure, axes): `ax` and its figure, or a new figure of `figsize` inches holding one axes."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


@phase("plotting")
def plot_history(history, ax=None, title=None):
    """Training loss and pretext accuracy per epoch, from `fit`'s History."""
    for key in ("epoch", "loss", "train_acc"):
        if key not in history:
            raise ValueError(f"history must come from fit() and hold {key!r}; it holds {sorted(history)}")
    fig, ax = figure_axes(ax)
    ax.plot(history["epoch"], history["loss"], "o-", color="tab:red", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(history["epoch"], history["train_acc"], "s-", color="tab:blue", label="train")
    if "val_acc" in history:
        every = all(a == a for a in history["val_acc"])  # NaN: an epoch `fit` did not validate
        ax2.plot(history["epoch"], history["val_acc"], "^--", color="tab:green",
                 label="held out" if every else "held out (after the last epoch only)")
    ax2.set_ylabel("pretext accuracy")
    ax2.set_ylim(0, 1)
    ax2.legend(loc="center right")
    ax.set_title(title or "Pretext training")
    fig.tight_layout()
    return fig


@phase("plotting")
def show_images(X, titles=None, ncols: int = 8, size: float = 1.4, cmap="gray"):
    """A grid of images (N, C, H, W) or (N, H, W), with optional titles."""
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
        imshow(ax, X[i], rescale="auto", cmap=cmap)  # normalised tiles have no fixed range
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


@phase("plotting")
def plot_confusion(y_true, y_pred, labels, ax=None, title="Confusion matrix", normalize: bool = True):
    """A confusion matrix (rows: true, columns: predicted), as fractions of each row."""
    y_true, y_pred = torch.as_tensor(y_true), torch.as_tensor(y_pred)
    k = len(labels)
    M = torch.zeros(k, k)
    M.index_put_((y_true.long(), y_pred.long()), torch.ones(len(y_true)), accumulate=True)
    if normalize:
        M = M / M.sum(1, keepdim=True).clamp_min(1)
    fig, ax = figure_axes(ax, figsize=(1 + 0.55 * k, 0.8 + 0.5 * k))
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


@phase("plotting")
def plot_probe(results: dict, ax=None, title="Linear probe per layer", label=None):
    """Linear-probe accuracy per layer, from `linear_probe`'s dict (several dicts: several lines)."""
    fig, ax = figure_axes(ax)
    series = results if all(isinstance(v, dict) for v in results.values()) else {label or "network": results}
    for name, accs in series.items():
        ax.plot(list(accs), list(accs.values()), "o-", label=name)
    ax.set_xlabel("layer")
    ax.set_ylabel("downstream accuracy")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


profile_plotting()  # a profiled run (benchmarks/bench_course.py) counts figure drawing as plotting
