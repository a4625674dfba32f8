"""Lessons 0 and 5: the course around the pretext tasks: the pipeline diagram, shortcut checks, the capstone report."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .data import to_float

# (key, row, column, title, notation, code) of each box of the pipeline diagram
PIPELINE_BOXES = (
    ("D", 0, 0, "unlabelled images", r"$\mathcal{D} = \{x_i\}_{i=1}^{N}$", "X = pretrain_split(N)"),
    ("g", 0, 1, "transformation", r"$(\tilde{x}, \tilde{y}) = g(x)$", "task.make_batch(X, generator)"),
    ("f", 0, 2, "network", r"$f_\theta = h \circ \phi$", "net = task.build_net(trunk)"),
    ("loss", 0, 3, "pretext loss", r"$\ell(f_\theta(\tilde{x}), \tilde{y})$", "train_or_load(task, ...)"),
    ("few", 1, 1, "few labelled images", r"$\{(x_j, y_j)\}$, $k$ per class", "fewshot_split(k=10)"),
    ("phi", 1, 2, "frozen trunk", r"features $\phi_l(x_j)$ of layer $l$", "net.trunk"),
    ("linear", 1, 3, "linear classifier", r"accuracy per layer $l$", "linear_probe(net, ...)"),
)
BOX_KEYS = tuple(box[0] for box in PIPELINE_BOXES)


def plot_pipeline(x=None, x_tilde=None, y_tilde=None, highlight=None, highlight_label: str = "you design this"):
    """Lesson 0: the pretext-task pipeline as a diagram: notation on top, the course's code underneath.

    Top row: pretext training on unlabelled images; bottom row: transfer with few labels. Give an
    image `x` and its transformed `x_tilde` (with pseudo label `y_tilde`) to draw them into the
    diagram; `highlight` (a box key, one of BOX_KEYS) frames one box in orange.
    """
    if highlight is not None and highlight not in BOX_KEYS:
        raise ValueError(f"highlight must be one of {BOX_KEYS} or None, got {highlight!r}")
    if (x is None) != (x_tilde is None):
        raise ValueError("x and x_tilde must be given together (an image and its transformed version), "
                         f"got x={'an image' if x is not None else None}, "
                         f"x_tilde={'an image' if x_tilde is not None else None}")
    fig, ax = plt.subplots(figsize=(12.5, 4.4))
    ax.set_xlim(0, 4)
    ax.set_ylim(0.3, 3)
    ax.axis("off")
    width, height = 0.82, 0.66
    centres = {}
    for key, row, col, title, notation, code in PIPELINE_BOXES:
        cx, cy = col + 0.5, 2.0 - 1.3 * row
        centres[key] = (cx, cy)
        hot = key == highlight
        colour = "tab:orange" if hot else ("tab:blue" if row == 0 else "tab:green")
        ax.add_patch(FancyBboxPatch((cx - width / 2, cy - height / 2), width, height,
                                    boxstyle="round,pad=0.02,rounding_size=0.05", linewidth=2.5 if hot else 1.2,
                                    edgecolor=colour,
                                    facecolor="#fff4e5" if hot else ("#eef4fb" if row == 0 else "#eef8ee")))
        ax.text(cx, cy + 0.21, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(cx, cy + 0.0, notation, ha="center", va="center", fontsize=10.5)
        ax.text(cx, cy - 0.22, code, ha="center", va="center", fontsize=7.5, family="monospace", color="0.3")
        if hot:
            ax.text(cx + width / 2, cy - height / 2 - 0.04, highlight_label, ha="right", va="top", fontsize=9,
                    color="tab:orange", weight="bold")

    def arrow(a, b, text=None, **style):
        (x0, y0), (x1, y1) = centres[a], centres[b]
        if y0 == y1:
            start, end = (x0 + width / 2 + 0.01, y0), (x1 - width / 2 - 0.01, y1)
        else:  # from the bottom of a down to the top of b
            start, end = (x0, y0 - height / 2 - 0.01), (x1, y1 + height / 2 + 0.01)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.3, **style))
        if text:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            if y0 == y1:
                ax.text(mx, my - 0.05, text, ha="center", va="top", fontsize=8.5, color="0.25")
            else:
                ax.text(mx + 0.04, my, text, ha="left", va="center", fontsize=8.5, color="0.25")

    arrow("D", "g", r"$x$")
    arrow("g", "f", r"$\tilde{x}$")
    arrow("f", "loss", r"$\tilde{y}$")
    arrow("few", "phi", r"$x_j$")
    arrow("phi", "linear", r"$y_j$")
    arrow("f", "phi", r"copy the trunk $\phi$, freeze it", linestyle="--", color="tab:gray")
    ax.text(0.02, 2.98, "1. pretext training: labels for free, computed from the images themselves", fontsize=10.5,
            color="tab:blue", va="top", weight="bold")
    ax.text(0.08, 0.7, "2. transfer:\nwhat the features\nare worth with\nfew human labels", fontsize=10.5,
            color="tab:green", va="center", weight="bold")
    if x is not None:
        # one example along the top row: the image above D, its transformed version above g
        tilde = r"$\tilde{x}$" + (f", $\\tilde{{y}}={int(y_tilde)}$" if y_tilde is not None else "")
        for img, key, label in ((x, "D", r"$x$"), (x_tilde, "g", tilde)):
            cx, cy = centres[key]
            inset = ax.inset_axes([cx + width / 2 - 0.26, cy + height / 2 + 0.04, 0.24, 0.42], transform=ax.transData)
            _show_small(inset, img)
            inset.set_xlabel(label, fontsize=8.5, labelpad=1)
            inset.xaxis.set_label_position("top")
    fig.tight_layout()
    return fig


def _show_small(ax, img):
    img = to_float(torch.as_tensor(img)).detach().cpu()
    if img.dim() == 4:
        img = img[0]
    if img.dim() == 3 and img.shape[0] == 1:
        img = img[0]
    ax.imshow(img.permute(1, 2, 0).clamp(0, 1) if img.dim() == 3 else img, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
