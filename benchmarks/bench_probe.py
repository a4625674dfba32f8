"""The linear probe of lesson 4: our `fit_linear` against scikit-learn's LogisticRegression, and one network's probe.

Run:  .venv/bin/python benchmarks/bench_probe.py [--task rotation] [--arch cnn] [--ks 10 100] [--repeats 3]

1. Agreement and speed, per layer and label budget, on real layer features of a trained network
   (the lesson's cached checkpoint; trained in the quick preset if missing): both fit the same
   standardised features with the same C, multinomial, L2, and scikit-learn's stopping rule
   (tol 1e-4, at most 200 iterations), both on one thread. Bars: accuracy within 0.5 points,
   time ratio ours / scikit-learn <= 1.
2. Probing every layer of that network at every budget with the lesson's protocol
   (`probing.probe_network`: C chosen per layer from `probe.C_GRID` on a validation half of the
   labelled images, `probe.CV_ROUNDS` rounds of 2-fold cross-validation, then one test; features included) against the same protocol with
   scikit-learn as the classifier; both print their chosen C per layer. Bar: ours <= 20 s.

Timings are medians over --repeats; on a busy machine they are inflated (the ratios much less).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time
import warnings

import numpy as np
import torch

from pretext_lessons import course_tasks, train_or_load
from pretext_lessons.experiments import budgets, probing
from pretext_lessons.experiments.table import RANDOM, SUPERVISED
from pretext_lessons.core.data import to_float
from pretext_lessons.core.probe import C_GRID, CV_FOLDS, CV_ROUNDS, fit_linear, layer_features, stratified_folds

# a benchmark times the fits: never read them back from the store of measured results
os.environ["PRETEXT_LESSONS_RESULTS_CACHE"] = "0"

C, TOL, MAX_ITER = 1.0, probing.PROBE_TOL, 200


def load_net(task_name: str, arch: str, seed: int):
    """The network whose features are probed: a lesson's cached one, the supervised reference or random weights."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if task_name == RANDOM:
            return budgets.random_net(arch, seed), RANDOM
        if task_name == SUPERVISED:
            return budgets.supervised_net(arch, seed, progress=False)[0], SUPERVISED
        task = course_tasks()[task_name]
        return train_or_load(task, arch=arch, preset="quick", seed=seed, progress=False)[0], task


def sklearn_fit(F_train, y_train, C=C):
    """The baseline: scikit-learn on the features standardised exactly as fit_linear standardises them."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    F64 = F_train.double()
    mean, std = F64.mean(0), F64.std(0, unbiased=False).clamp_min(1e-6)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning at max_iter is part of the comparison
        clf = LogisticRegression(C=C, tol=TOL, max_iter=MAX_ITER).fit(((F64 - mean) / std).numpy(), y_train.numpy())
    return lambda F_, y: float(np.mean(clf.predict(((F_.double() - mean) / std).numpy()) == y.numpy()))


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="rotation",
                        help=f"a registered task ({', '.join(course_tasks())}), {SUPERVISED} or {RANDOM} (default rotation)")
    parser.add_argument("--arch", default="cnn", choices=("cnn", "resnet"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    net, task = load_net(args.task, args.arch, args.seed)
    name = task if isinstance(task, str) else task.name
    preprocess = None if isinstance(task, str) else task.preprocess
    split = probing.downstream_split(args.ks, seed=args.seed)
    X_train, y_train, X_test, y_test = split
    layers = list(getattr(net, "trunk", net).layer_names)
    F_train = layer_features(net, X_train, layers, preprocess=preprocess)
    F_test = layer_features(net, X_test, layers, preprocess=preprocess)
    print(f"{name} {args.arch} seed {args.seed}: {len(layers)} layers, budgets k={args.ks}, "
          f"{len(y_test)} test images, {torch.get_num_threads()} torch threads\n")
    # warm up both (imports, first calls) so the first row is not charged for them
    few = probing.budget_indices(y_train, 2)
    fit_linear(F_train[layers[-1]][few], y_train[few], tol=TOL)
    sklearn_fit(F_train[layers[-1]][few], y_train[few])
    print(f"{'layer':>8} {'k':>4} {'D':>5} | {'acc ours':>8} {'acc sk':>7} {'diff':>6} | "
          f"{'s ours':>7} {'s sk':>7} {'ratio':>6}")
    worst_diff, ratios, total_ours, total_sk = 0.0, [], 0.0, 0.0
    for k in args.ks:
        idx = probing.budget_indices(y_train, k)
        for layer in layers:
            Fk, yk = F_train[layer][idx], y_train[idx]
            clf, t_ours = timed(lambda: fit_linear(Fk, yk, C, MAX_ITER, tol=TOL), args.repeats)
            score_sk, t_sk = timed(lambda: sklearn_fit(Fk, yk), args.repeats)
            acc_ours, acc_sk = clf.score(F_test[layer], y_test), score_sk(F_test[layer], y_test)
            diff = 100 * (acc_ours - acc_sk)
            worst_diff = max(worst_diff, abs(diff))
            ratios.append(t_ours / t_sk)
            total_ours, total_sk = total_ours + t_ours, total_sk + t_sk
            print(f"{layer:>8} {k:>4} {Fk.shape[1]:>5} | {100 * acc_ours:>7.2f}% {100 * acc_sk:>6.2f}% "
                  f"{diff:>+6.2f} | {t_ours:>7.3f} {t_sk:>7.3f} {t_ours / t_sk:>6.2f}")
    print(f"\nlargest accuracy difference: {worst_diff:.2f} points (bar <= 0.5): "
          f"{'PASS' if worst_diff <= 0.5 else 'FAIL'}")
    print(f"time ours / scikit-learn, all fits: {total_ours:.2f} s / {total_sk:.2f} s = {total_ours / total_sk:.2f} "
          f"(median per fit {statistics.median(ratios):.2f}; bar <= 1): {'PASS' if total_ours <= total_sk else 'FAIL'}")

    rows, t_probe = timed(lambda: probing.probe_network(net, task, args.arch, args.seed, ks=args.ks, split=split),
                          args.repeats)

    def sklearn_probe():
        # the lesson's protocol with scikit-learn as the classifier: C by 2-fold CV on the labelled images, one test
        feats = layer_features(net, torch.cat([to_float(X_train), to_float(X_test)]), layers, preprocess=preprocess)
        n, out = len(X_train), {}
        for k in args.ks:
            idx = probing.budget_indices(y_train, k)
            yk, fold = y_train[idx], stratified_folds(y_train[idx], CV_FOLDS, args.seed)
            for l, f in feats.items():
                Fk = f[:n][idx]
                cv = {c: sum(sklearn_fit(Fk[fold != i], yk[fold != i], c)(Fk[fold == i], yk[fold == i])
                             * int((fold == i).sum()) for i in range(CV_ROUNDS)) / int((fold < CV_ROUNDS).sum())
                      for c in C_GRID}
                chosen = max(sorted(cv), key=cv.get)
                out[(k, l)] = (chosen, sklearn_fit(Fk, yk, chosen)(f[n:], y_test))
        return out

    sk_rows, t_sk_probe = timed(sklearn_probe, args.repeats)
    print(f"\nthe lesson's protocol (C from {C_GRID}, {CV_ROUNDS} of {CV_FOLDS} folds validating, then one test):")
    print(f"{'layer':>8} {'k':>4} | {'C ours':>6} {'acc ours':>8} | {'C sk':>6} {'acc sk':>7}")
    for r in rows:
        c_sk, acc_sk = sk_rows[(r["k"], r["layer"])]
        print(f"{r['layer']:>8} {r['k']:>4} | {r['C']:>6} {100 * r['accuracy']:>7.2f}% | {c_sk:>6} {100 * acc_sk:>6.2f}%")
    print(f"probing every layer of one network at k={args.ks} (features included): ours {t_probe:.1f} s "
          f"(bar <= 20 s: {'PASS' if t_probe <= 20 else 'FAIL'}); scikit-learn as the classifier "
          f"{t_sk_probe:.1f} s, ratio {t_probe / t_sk_probe:.2f}")


if __name__ == "__main__":
    main()
