"""Explorers: thin ipywidgets wrappers around the pure plotting functions, with a static picture as fallback.

An explorer's output carries two views of the same figure: the live widget, which JupyterLab,
Notebook 7, VS Code and Colab redraw whenever a control moves, and a PNG of the latest drawing,
which every front end without a widget manager (nbconvert, GitHub, other static renders) shows
instead of an empty box.
"""
from __future__ import annotations

import base64
import inspect
import io

import ipywidgets
import matplotlib.pyplot as plt
import torch
from IPython.display import Image, display
from matplotlib.figure import Figure

from ..core.data import check_images, class_examples, to_float

EXPLORER_DPI = 90  # one resolution for the live picture and the static fallback, so they look alike


def figure_png(fig, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes (the static fallback of every explorer)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _as_figure(result) -> Figure:
    if isinstance(result, Figure):
        return result
    if isinstance(getattr(result, "figure", None), Figure):  # an Axes
        return result.figure
    if result is None and plt.get_fignums():  # a plot function that drew with pyplot and returned nothing
        return plt.gcf()
    raise TypeError(f"plot_fn must return a matplotlib Figure (or an Axes), got {type(result).__name__}")


class Explorer(ipywidgets.interactive):
    """Controls over a redrawn figure; its display also carries the latest drawing as a PNG."""

    def __init__(self, plot_fn, **controls):
        self.plot_fn, self.png, self.error = plot_fn, b"", None
        # a **values wrapper: only the given controls become widgets; plot_fn's other parameters keep defaults
        super().__init__(self._draw, **controls)

    def _draw(self, **values):
        self.error = None
        try:
            fig = _as_figure(self.plot_fn(**values))
        except Exception as err:  # kept so explorer() can raise it where the student sees it
            self.error = err
            raise
        self.png = figure_png(fig, dpi=EXPLORER_DPI)
        # close it, else the inline backend shows it a second time below the widget
        plt.close(fig)
        display(Image(data=self.png))

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if self.png:
            bundle["image/png"] = base64.b64encode(self.png).decode()
        return bundle


def explorer(plot_fn, **controls) -> Explorer:
    """An interactive view of `plot_fn(**values)`: each control redraws the figure.

    `controls` are ipywidgets (or anything `ipywidgets.interactive` accepts: a (min, max) pair, a
    list of options, `ipywidgets.fixed(value)`), one per parameter of `plot_fn` to explore; the
    other parameters keep their defaults. `plot_fn` returns a matplotlib Figure. Where no widget
    front end exists (nbconvert, a static render), the first figure shows as a PNG instead.
    """
    if not callable(plot_fn):
        raise TypeError(f"plot_fn must be a function returning a matplotlib Figure, got {type(plot_fn).__name__}")
    if not controls:
        raise ValueError("explorer needs at least one control, e.g. explorer(plot_fn, index=IntSlider(0, 0, 9)); "
                         "got none (to show a fixed figure, call plot_fn directly)")
    try:
        params = inspect.signature(plot_fn).parameters
    except (TypeError, ValueError):  # a builtin or C function: nothing to check against
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(controls) - set(params))
        if unknown:
            raise TypeError(f"controls must name parameters of plot_fn {tuple(params)}, got unknown {unknown}")
    box = Explorer(plot_fn, **controls)
    if box.error is not None:
        raise box.error
    return box


def explorer_images(images=None, name: str = "images", min_size: int = 1) -> torch.Tensor:
    """The images an explorer browses, float (N, C, H, W) on the CPU; by default one test image per class of the course's dataset."""
    if images is None:
        images = class_examples("test")[0]
    check_images(images, name=name, min_size=min_size)
    if len(images) == 0:
        raise ValueError(f"{name} must hold at least one image to explore, got none (shape {tuple(images.shape)})")
    return to_float(images).cpu()


def image_slider(images: torch.Tensor) -> ipywidgets.IntSlider:
    """The slider that picks an explorer's image by its index in `images`."""
    return ipywidgets.IntSlider(0, 0, len(images) - 1, description="image", continuous_update=False)
