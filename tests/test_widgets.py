"""Explorers: live controls redraw the figure, and every display carries a static PNG for front ends without widgets."""
import base64
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import nbformat
import pytest

from pretext_lessons.notebook.widgets import Explorer, explorer, figure_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ROOT = Path(__file__).resolve().parent.parent


def line_plot(n=2, colour="tab:blue"):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(range(n), color=colour)
    return fig


def test_figure_png_is_a_png_of_the_figure():
    fig = line_plot(3)
    png = figure_png(fig)
    plt.close(fig)
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 500


def test_figure_png_rejects_what_is_not_a_figure():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure, got list"):
        figure_png([1, 2])


def test_display_carries_the_widget_and_a_png_of_the_first_drawing():
    box = explorer(line_plot, n=widgets.IntSlider(3, 1, 9))
    bundle = box._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(PNG_MAGIC)
    assert png == box.png


def test_moving_a_control_redraws_and_updates_the_static_png():
    calls = []

    def plot(n=2):
        calls.append(n)
        return line_plot(n)

    slider = widgets.IntSlider(2, 1, 9)
    box = explorer(plot, n=slider)
    first = box.png
    slider.value = 7
    assert calls == [2, 7]
    assert box.png != first
    assert base64.b64decode(box._repr_mimebundle_()["image/png"]) == box.png


def test_other_parameters_keep_their_defaults():
    seen = {}

    def plot(n=2, colour="tab:red"):
        seen.update(n=n, colour=colour)
        return line_plot(n, colour)

    explorer(plot, n=widgets.IntSlider(4, 1, 9))
    assert seen == {"n": 4, "colour": "tab:red"}


def test_drawing_leaves_no_figure_open_for_the_inline_backend_to_show_twice():
    plt.close("all")
    box = explorer(line_plot, n=widgets.IntSlider(3, 1, 9))
    box.children[0].value = 5
    assert plt.get_fignums() == []


def test_an_axes_or_a_pyplot_drawing_is_accepted():
    def returns_axes(n=2):
        return line_plot(n).axes[0]

    def draws_with_pyplot(n=2):
        plt.figure(figsize=(2, 2))
        plt.plot(range(n))

    for fn in (returns_axes, draws_with_pyplot):
        assert explorer(fn, n=widgets.IntSlider(3, 1, 9)).png.startswith(PNG_MAGIC)


def test_plot_fn_must_be_callable():
    with pytest.raises(TypeError, match="plot_fn must be a function returning a matplotlib Figure, got int"):
        explorer(3, n=widgets.IntSlider())


def test_explorer_needs_a_control():
    with pytest.raises(ValueError, match="explorer needs at least one control.*got none"):
        explorer(line_plot)


def test_controls_must_name_parameters_of_plot_fn():
    with pytest.raises(TypeError, match=r"controls must name parameters of plot_fn \('n', 'colour'\), "
                                        r"got unknown \['size'\]"):
        explorer(line_plot, size=widgets.IntSlider())


def test_plot_fn_must_return_a_figure():
    plt.close("all")
    with pytest.raises(TypeError, match="plot_fn must return a matplotlib Figure \\(or an Axes\\), got str"):
        explorer(lambda n: "not a figure", n=widgets.IntSlider())


def test_an_error_in_the_first_drawing_reaches_the_caller():
    def broken(n=1):
        raise ZeroDivisionError(f"broken at {n}")

    with pytest.raises(ZeroDivisionError, match="broken at 4"):
        explorer(broken, n=widgets.IntSlider(4, 0, 9))


def test_explorer_is_an_ipywidgets_interactive():
    box = explorer(line_plot, n=(1, 9))
    assert isinstance(box, Explorer) and isinstance(box, widgets.interactive)
    assert isinstance(box.children[0], widgets.IntSlider)


@pytest.mark.slow
def test_an_executed_notebook_keeps_a_png_beside_the_widget_view(tmp_path):
    """nbconvert, GitHub and other static renders show the PNG where they cannot show the widget."""
    from pretext_lessons.notebook.execute import execute_notebook, kernel_env

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as widgets\n"
        "import matplotlib.pyplot as plt\n"
        "from pretext_lessons.notebook.widgets import explorer\n"
        "def plot(n=2):\n"
        "    fig, ax = plt.subplots(figsize=(2, 2))\n"
        "    ax.plot(range(n))\n"
        "    return fig\n"
        "explorer(plot, n=widgets.IntSlider(3, 1, 9))")]
    path = tmp_path / "explorer.ipynb"
    nbformat.write(nb, path)
    executed, _ = execute_notebook(path, env=kernel_env())
    outputs = executed.cells[0].outputs
    views = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1, f"expected one widget view, got outputs {[list(o.get('data', {})) for o in outputs]}"
    assert base64.b64decode(views[0]["data"]["image/png"]).startswith(PNG_MAGIC)
    # the figure is drawn once, inside the widget: no second copy below it
    assert [o for o in outputs if o is not views[0] and "image/png" in o.get("data", {})] == []


def test_explorer_images_are_float_batches_one_per_class_by_default():
    import torch

    from pretext_lessons.notebook.widgets import explorer_images, image_slider

    X = explorer_images()
    assert X.shape == (10, 1, 28, 28) and X.dtype == torch.float32
    assert image_slider(X).max == 9
    assert explorer_images(torch.full((2, 1, 5, 5), 255, dtype=torch.uint8)).max() == 1
    with pytest.raises(ValueError, match="images must hold at least one image"):
        explorer_images(torch.zeros(0, 1, 5, 5))
    with pytest.raises(ValueError, match=r"^images must be at least 9x9 pixels per image, got 5x5$"):
        explorer_images(torch.zeros(2, 1, 5, 5), min_size=9)


def test_as_image_and_imshow_take_every_single_image_layout():
    import torch

    from pretext_lessons.notebook.plotting import as_image, imshow

    for shape in ((6, 7), (1, 6, 7), (3, 6, 7), (1, 3, 6, 7)):
        image = as_image(torch.zeros(shape, dtype=torch.uint8))
        assert image.dtype == torch.float32 and image.dim() == 3 and image.shape[-2:] == (6, 7)
    with pytest.raises(ValueError, match=r"photo must be one image .*, got shape \(2, 1, 6, 7\)"):
        as_image(torch.zeros(2, 1, 6, 7), name="photo")
    with pytest.raises(TypeError, match="image must be uint8 or floating point, got torch.int32"):
        as_image(torch.zeros(6, 7, dtype=torch.int32))
    fig, ax = plt.subplots()
    tile = torch.tensor([[-2.0, 0.0], [1.0, 2.0]])
    assert imshow(ax, tile, rescale=True).images[0].get_array().max() == 1
    assert imshow(ax, tile).images[1].get_array().min() == 0  # clipped to [0, 1]
    with pytest.raises(ValueError, match="rescale must be False, True or 'auto', got 'yes'"):
        imshow(ax, tile, rescale="yes")
    plt.close(fig)
