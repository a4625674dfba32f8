"""Lesson 5: the protocol behind Goyal et al.'s and Kolesnikov et al.'s disagreement on the last layer.

Fine-tuning has one recipe in the course, chosen on the labelled images: `experiments.finetune`."""
from __future__ import annotations

from collections import defaultdict

from ..core.data import to_float
from ..core.models import evaluating, trunk_of
from ..core.probe import C_GRID, CV_FOLDS, CV_ROUNDS, choose, cross_validate, fit_linear, layer_features
from .downstream import TASKS, downstream_data
from .probing import PROBE_TOL, network_name_and_preprocess
from .table import decide

SHORT_FIT_ITER = 5  # the "short" probe fit of the protocol comparison: L-BFGS steps (the long fit runs to convergence)


# Goyal et al. vs Kolesnikov et al.: the protocol --------------------------------------------------------

PROTOCOLS = {
    # (last layer probed, its pooling, probe fit): Goyal et al. pool res5 to a spatial map and fit a short SVM;
    # Kolesnikov et al. probe the globally pooled pre-logits with a long-trained linear layer
    "Goyal: res5 as a spatial map, short fit": ("res5", SHORT_FIT_ITER),
    "res5 as a spatial map, long fit": ("res5", 1000),
    "global pool, short fit": ("pool", SHORT_FIT_ITER),
    "Kolesnikov: global pool, long fit": ("pool", 1000),
}
EARLIER = "res4"


def protocol_rows(networks, splits=(0,), downstream: str = "classes", sizes: dict | None = None,
                  C_grid=C_GRID) -> list[dict]:
    """For each ResNet of `networks` and each protocol in PROTOCOLS: the last layer's score minus res4's.

    The short and the long fit share C (chosen per layer by cross-validation with the long fit);
    res4 is fitted the same way as the last layer in each protocol. Rows: task, arch, seed, split,
    protocol, last, earlier, drop (last minus earlier).
    """
    if TASKS[downstream].metric != "accuracy":
        raise ValueError(f"downstream must be a single-label task, got {downstream!r}")
    rows = []
    for task, arch, seed, net in networks:
        trunk = trunk_of(net)
        if not {EARLIER, "res5", "pool"} <= set(getattr(trunk, "layer_names", ())):
            raise ValueError(f"networks must be ResNets (layers res4, res5, pool); {arch} has "
                             f"{getattr(trunk, 'layer_names', None)}")
        name, preprocess = network_name_and_preprocess(task, preprocess=None)
        for j in splits:
            d = downstream_data(downstream, seed, j, sizes)
            layers = [EARLIER, "res5", "pool"]
            with evaluating(net):
                F_train = layer_features(trunk, to_float(d.X_train), layers, preprocess=preprocess)
                F_test = layer_features(trunk, to_float(d.X_test), layers, preprocess=preprocess)
            scores = cross_validate(F_train, d.y_train, C_grid, CV_FOLDS, seed, PROBE_TOL, CV_ROUNDS)
            for protocol, (last, max_iter) in PROTOCOLS.items():
                got = {}
                for layer in (EARLIER, last):
                    _, C = choose({layer: scores[layer]})
                    got[layer] = fit_linear(F_train[layer], d.y_train, C, max_iter=max_iter,
                                            tol=PROBE_TOL).score(F_test[layer], d.y_test)
                rows.append(dict(task=name, arch=arch, seed=seed, split=j, protocol=protocol, last=got[last],
                                 earlier=got[EARLIER], drop=got[last] - got[EARLIER]))
    return rows


def protocol_verdicts(rows, task: str = "jigsaw") -> list[str]:
    """The last layer against res4 under each protocol, then the part of the disagreement each change of
    protocol explains: the drop under Kolesnikov's protocol minus the drop under Goyal's, and each step alone."""
    drops = defaultdict(dict)
    for r in rows:
        if r["task"] == task:
            drops[r["protocol"]][(r["seed"], r["split"])] = r["drop"]
    if set(drops) != set(PROTOCOLS):
        raise ValueError(f"rows must hold every protocol of PROTOCOLS for task {task!r}; found {sorted(drops)}")
    zero = {u: 0.0 for u in next(iter(drops.values()))}
    goyal, kolesnikov = "Goyal: res5 as a spatial map, short fit", "Kolesnikov: global pool, long fit"
    lines = [decide(drops[p], zero, f"{task}, resnet, {p}: last layer minus {EARLIER}", "last layer higher",
                    "last layer lower") for p in PROTOCOLS]
    lines.append(decide(drops[kolesnikov], drops[goyal], f"{task}, resnet: the last layer's drop, Kolesnikov's protocol "
                         f"minus Goyal's", "the last layer fares better under Kolesnikov's protocol",
                         "the last layer fares worse under Kolesnikov's protocol"))
    lines.append(decide(drops["global pool, short fit"], drops[goyal], f"{task}, resnet: the last layer's drop, global "
                         f"pool minus spatial map, short fit", "global pooling favours the last layer",
                         "global pooling disfavours the last layer"))
    lines.append(decide(drops[kolesnikov], drops["global pool, short fit"], f"{task}, resnet: the last layer's drop, "
                         f"long minus short fit, global pool", "a long fit favours the last layer",
                         "a long fit disfavours the last layer"))
    return lines
