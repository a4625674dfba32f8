"""Thin ipywidgets wrappers around the pure plotting functions, with a static picture as fallback."""
from __future__ import annotations

import base64
import io


def figure_png(fig) -> bytes:
    """Lesson 0: a matplotlib figure as PNG bytes (the static fallback of every explorer)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return buf.getvalue()


def explorer(plot_fn, **controls):
    """Lesson 0: an interactive view of `plot_fn(**values)`: each control redraws the figure.

    `controls` are ipywidgets (or anything `ipywidgets.interactive` accepts). Where no widget
    front end exists (nbconvert, a static render), the first figure shows as a PNG instead.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    class Explorer(widgets.interactive):
        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs) or {}
            if self._static_png:
                bundle["image/png"] = base64.b64encode(self._static_png).decode()
            return bundle

    def draw(**values):
        fig = plot_fn(**values)
        if fig is not None:
            box._static_png = figure_png(fig)
            plt.show()

    box = Explorer.__new__(Explorer)
    box._static_png = b""
    Explorer.__init__(box, draw, **controls)
    return box
