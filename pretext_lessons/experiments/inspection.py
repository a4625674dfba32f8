"""Lessons 1-3: seeing what a network learned, against random weights and a network trained with the labels.

Three views, each a pure plot function and a thin explorer (choose the network and the layer):

* `plot_filters`: the first convolution's filters. Random filters are noise; trained ones are
  usually smooth edge, blob or stripe detectors.
* `plot_neighbours`: a query image and its nearest images in a layer's feature space (cosine
  similarity of the pooled activations, the same features the linear probe reads). An early
  layer finds images that look alike pixel by pixel; a layer that learned something about garments
  finds images of the same class.
* `plot_embedding`: one layer's features of many images projected to 2-D (PCA: the two directions
  of largest variance; t-SNE: neighbours kept close), coloured by class. Classes that form their
  own clouds are easy for a linear probe.

`networks` everywhere is a dict name -> (net, preprocess): the preprocess is how the trunk reads a
whole image (`task.preprocess`; None: as it is).
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.data import check_images, resolve_dataset, to_float
from ..core.models import trunk_of
from ..core.probe import layer_features
from ..core.validate import check_int
from ..notebook.plotting import imshow
from ..notebook.widgets import explorer
from .network import Network

EMBEDDINGS = ("pca", "tsne")


def _check_networks(networks) -> dict:
    if not isinstance(networks, dict) or not networks:
        raise TypeError(f"networks must be a non-empty dict name -> Network, (net, preprocess) or net, got "
                        f"{type(networks).__name__}")
    out = {}
    for name, value in networks.items():
        if isinstance(value, Network):
            net, preprocess = value.net, value.preprocess
        else:
            net, preprocess = value if isinstance(value, tuple) else (value, None)
        if not isinstance(net, nn.Module):
            raise TypeError(f"networks[{name!r}] must be a Network, a network or (network, preprocess), got "
                            f"{type(net).__name__}")
        out[name] = (net, preprocess)
    return out


def _check_layer(net, layer: str) -> str:
    names = list(getattr(trunk_of(net), "layer_names", ()))
    if layer not in names:
        raise ValueError(f"layer must be one of the trunk's layers {names}, got {layer!r}")
    return layer


def first_filters(net: nn.Module) -> torch.Tensor:
    """The weights of the trunk's first convolution, (out_channels, in_channels, kh, kw)."""
    for module in trunk_of(net).modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.detach().float().cpu()
    raise ValueError(f"net must hold a Conv2d layer, got {type(net).__name__} without one")


def plot_filters(networks: dict, max_filters: int = 16):
    """The first layer's filters of each network, one row per network, each filter stretched to its range."""
    import matplotlib.pyplot as plt

    networks = _check_networks(networks)
    max_filters = check_int("max_filters", max_filters)
    rows = {name: first_filters(net)[:max_filters] for name, (net, _) in networks.items()}
    ncols = max(len(w) for w in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(0.7 * ncols + 1.5, 0.8 * len(rows) + 0.4), squeeze=False)
    for r, (name, W) in enumerate(rows.items()):
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            if c < len(W):
                w = W[c] if W.shape[1] in (1, 3) else W[c, :1]
                imshow(ax, w, rescale=True)
        axes[r, 0].text(-0.3, 0.5, name, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.suptitle("First-layer filters (each stretched to its own range)", fontsize=10)
    fig.tight_layout()
    return fig


def features(net: nn.Module, X: torch.Tensor, layer: str, preprocess=None) -> torch.Tensor:
    """One layer's pooled features of images X (what the linear probe reads), (N, features)."""
    check_images(X)
    return layer_features(net, to_float(X), [_check_layer(net, layer)], preprocess=preprocess)[layer]


def nearest_neighbours(F_query: torch.Tensor, F_gallery: torch.Tensor, k: int = 8) -> torch.Tensor:
    """The indices (Q, k) of the k gallery rows most similar to each query row (cosine, centred features)."""
    k = check_int("k", k)
    if F_query.dim() != 2 or F_gallery.dim() != 2 or F_query.shape[1] != F_gallery.shape[1]:
        raise ValueError(f"F_query and F_gallery must be (N, features) with the same features, got "
                         f"{tuple(F_query.shape)} and {tuple(F_gallery.shape)}")
    if k > len(F_gallery):
        raise ValueError(f"k must be at most the gallery's size {len(F_gallery)}, got {k}")
    mean = F_gallery.mean(0, keepdim=True)  # centred: a feature every image has says nothing about likeness
    q = nn.functional.normalize(F_query - mean, dim=1)
    g = nn.functional.normalize(F_gallery - mean, dim=1)
    return (q @ g.T).topk(k, dim=1).indices


def plot_neighbours(networks: dict, query: torch.Tensor, gallery: torch.Tensor, y_gallery=None, y_query=None,
                    layers=("conv2", "fc2"), k: int = 8):
    """A query image and its k nearest gallery images per network and layer (green title: same class)."""
    import matplotlib.pyplot as plt

    networks = _check_networks(networks)
    query = to_float(check_images(query[None] if query.dim() == 3 else query, name="query"))[:1]
    gallery = to_float(check_images(gallery, name="gallery"))
    layers = [layers] if isinstance(layers, str) else list(layers)
    rows = [(name, layer) for name in networks for layer in layers]
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(0.95 * (k + 1) + 1.2, 1.05 * len(rows) + 0.3), squeeze=False)
    for r, (name, layer) in enumerate(rows):
        net, preprocess = networks[name]
        F = features(net, torch.cat([query, gallery]), layer, preprocess)
        idx = nearest_neighbours(F[:1], F[1:], k)[0]
        imshow(axes[r, 0], query[0])
        axes[r, 0].set_title("query", fontsize=7)
        axes[r, 0].set_ylabel(f"{name}\n{layer}", fontsize=7, rotation=0, ha="right", va="center")
        for c, i in enumerate(idx.tolist(), start=1):
            imshow(axes[r, c], gallery[i])
            if y_gallery is not None:
                same = y_query is not None and int(y_gallery[i]) == int(y_query)
                axes[r, c].set_title(resolve_dataset().classes[int(y_gallery[i])], fontsize=6,
                                     color="tab:green" if same else "black")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle("Nearest neighbours in feature space (cosine similarity)", fontsize=10)
    fig.tight_layout()
    return fig


def same_class_rate(F: torch.Tensor, y: torch.Tensor, k: int = 8) -> float:
    """How often an image's k nearest other images (cosine) share its class: a label-free feature check."""
    if len(F) != len(y):
        raise ValueError(f"F and y must hold one row per image, got {len(F)} and {len(y)}")
    idx = nearest_neighbours(F, F, k + 1)[:, 1:]  # the first neighbour of an image is itself
    return float((y[idx] == y[:, None]).float().mean())


def embed_2d(F: torch.Tensor, method: str = "pca", seed: int = 0) -> torch.Tensor:
    """Features (N, D) to 2-D: "pca" (the two directions of largest variance) or "tsne" (scikit-learn)."""
    if method not in EMBEDDINGS:
        raise ValueError(f"method must be one of {EMBEDDINGS}, got {method!r}")
    F = F.double()
    Z = (F - F.mean(0)) / F.std(0).clamp_min(1e-8)  # each feature on the same scale
    if method == "pca":
        _, _, V = torch.linalg.svd(Z, full_matrices=False)
        return (Z @ V[:2].T).float()
    from sklearn.manifold import TSNE

    init = (Z @ torch.linalg.svd(Z, full_matrices=False)[2][:2].T).numpy()
    return torch.as_tensor(TSNE(2, init=init / init[:, 0].std() * 1e-4, random_state=seed,
                                perplexity=min(30, len(Z) - 1)).fit_transform(Z.numpy())).float()


def plot_embedding(networks: dict, X: torch.Tensor, y: torch.Tensor, layer: str = "fc2", method: str = "pca",
                   axes=None):
    """One layer's features of images X in 2-D, one panel per network, coloured by class."""
    import matplotlib.pyplot as plt

    networks = _check_networks(networks)
    if axes is None:
        fig, axes = plt.subplots(1, len(networks), figsize=(3.2 * len(networks) + 1.4, 3.4), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    classes = resolve_dataset().classes
    for ax, (name, (net, preprocess)) in zip(axes, networks.items()):
        F = features(net, X, layer, preprocess)
        Z = embed_2d(F, method)
        points = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", vmin=-0.5, vmax=len(classes) - 0.5, s=5, alpha=0.8)
        ax.set_title(f"{name}, {layer}\n{same_class_rate(F, y):.0%} of 8 neighbours same class", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(points, ax=list(axes), ticks=range(len(classes)), fraction=0.03)
    bar.ax.set_yticklabels(classes, fontsize=7)
    fig.suptitle(f"{method.upper()} of the features, coloured by class", fontsize=10, y=1.06)
    return fig


def filters_explorer(networks: dict):
    """Choose a network, see its first-layer filters (a widget; a PNG outside Jupyter)."""
    import ipywidgets as widgets

    networks = _check_networks(networks)
    return explorer(lambda network: plot_filters({network: networks[network]}),
                    network=widgets.Dropdown(options=list(networks), description="network"))


def neighbours_explorer(networks: dict, gallery: torch.Tensor, y_gallery: torch.Tensor, k: int = 8):
    """Choose a network, a layer and a query image (from the gallery), see its nearest neighbours."""
    import ipywidgets as widgets

    networks = _check_networks(networks)
    layers = list(trunk_of(next(iter(networks.values()))[0]).layer_names)

    def draw(network, layer, query):
        rest = torch.cat([gallery[:query], gallery[query + 1:]])
        y_rest = torch.cat([y_gallery[:query], y_gallery[query + 1:]])
        return plot_neighbours({network: networks[network]}, gallery[query], rest, y_rest, y_gallery[query],
                               layers=(layer,), k=k)

    return explorer(draw, network=widgets.Dropdown(options=list(networks), description="network"),
                    layer=widgets.Dropdown(options=layers, value=layers[-1], description="layer"),
                    query=widgets.IntSlider(0, 0, len(gallery) - 1, description="query", continuous_update=False))


def embedding_explorer(networks: dict, X: torch.Tensor, y: torch.Tensor):
    """Choose a network, a layer and PCA or t-SNE, see the features in 2-D coloured by class."""
    import ipywidgets as widgets

    networks = _check_networks(networks)
    layers = list(trunk_of(next(iter(networks.values()))[0]).layer_names)
    return explorer(lambda network, layer, method: plot_embedding({network: networks[network]}, X, y, layer, method),
                    network=widgets.Dropdown(options=list(networks), description="network"),
                    layer=widgets.Dropdown(options=layers, value=layers[-1], description="layer"),
                    method=widgets.Dropdown(options=list(EMBEDDINGS), description="method"))
