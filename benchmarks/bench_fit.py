"""Training-loop overhead: a `fit` step against a bare forward/backward/optimizer step on the same batch.

Run:  .venv/bin/python benchmarks/bench_fit.py [--steps 40] [--repeats 5] [--arch cnn] [--width 16]

Prints the median seconds per step of both and their ratio (target <= 1.10), then the same
comparison for bfloat16 autocast on this CPU, with what `fit(amp='auto')` picks here (bf16 only where
the CPU has it natively and core/precision.py's check measured it faster), and the bare step with the weights in the default (NCHW) layout against the channels-last layer
that `make_backbone` gives every network. Then how far the step is from what this CPU can do: its
floating-point operations (counted by torch.utils.flop_counter: convolutions and matrix products,
forward and backward) per second, as a fraction of a matrix-multiply peak measured in the same run
(square fp32 products at this process's threads; bf16 too where the CPU has it natively), and
feature extraction (a forward pass over 2,000 images) under torch.no_grad against torch.inference_mode.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import statistics
import time

import torch
from torch.nn import functional as F

from pretext_lessons.core import precision, training
from pretext_lessons.core.data import load_fashion_mnist, to_float
from pretext_lessons.core.task import PretextTask


@dataclasses.dataclass
class LabelOnlyTask(PretextTask):
    """The cheapest possible task: the image as it is and a random label, so only the loop is measured."""

    num_classes: int = 10
    name = "bench"

    def make_batch(self, X, generator):
        return X, torch.randint(0, self.num_classes, (len(X),), generator=generator, device=X.device)


def bare_steps(net, X, batch_size, steps, lr, dtype=None):
    """The baseline: forward, loss, backward, optimizer step on ready batches, nothing else."""
    net.train()  # as `fit` does: `fit` leaves the network in eval mode, whose batch norm is cheaper
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    batches = [to_float(X[i * batch_size:(i + 1) * batch_size]) for i in range(steps)]
    labels = [torch.randint(0, 10, (batch_size,), generator=g) for _ in range(steps)]
    start = time.perf_counter()
    for inputs, y in zip(batches, labels):
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = F.cross_entropy(net(inputs).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def fit_steps(net, X, batch_size, steps, lr, amp=False):
    """`fit` for one epoch of exactly `steps` batches, progress bar on (as students see it)."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        training.fit(net, LabelOnlyTask(), X[:steps * batch_size], num_epochs=1, batch_size=batch_size, lr=lr,
                     device="cpu", amp=amp, progress=True)
    return (time.perf_counter() - start) / steps


def step_flops(net, X, batch_size) -> int:
    """Floating-point operations of one training step (forward and backward) on a batch, as FlopCounterMode counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    net.train()
    inputs = to_float(X[:batch_size])
    y = torch.zeros(batch_size, dtype=torch.int64)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(inputs), y).backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_peak(dtype=torch.float32, n: int = 1024, repeats: int = 5) -> float:
    """Floating-point operations per second of an n x n matrix product at this process's threads (best of `repeats`)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * n ** 3 / best


def feature_seconds(net, X, mode) -> float:
    """Seconds of one forward pass of `net` over X in batches of 500, under `mode` (no_grad or inference_mode)."""
    net.eval()
    start = time.perf_counter()
    with mode():
        for i in range(0, len(X), 500):
            net(to_float(X[i:i + 500]))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--arch", default="cnn")
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()
    X = load_fashion_mnist("train")[0][:args.steps * args.batch_size]
    net = training.build_net(LabelOnlyTask(), args.arch, 1, args.width)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.arch} width {args.width}, "
          f"batch {args.batch_size}, {args.steps} steps x {args.repeats} repeats")
    bare_steps(net, X, args.batch_size, 5, 0.01)  # warm-up: first-call costs are not the loop's
    fit_steps(net, X, args.batch_size, 5, 0.01)
    rows = {"fp32": (None, False)}
    rows["bf16 autocast"] = (torch.bfloat16, True)
    for label, (dtype, amp) in rows.items():
        bare, fitted = [], []
        for _ in range(args.repeats):  # interleaved, so a load change hits both alike
            bare.append(bare_steps(net, X, args.batch_size, args.steps, 0.01, dtype))
            fitted.append(fit_steps(net, X, args.batch_size, args.steps, 0.01, amp))
        b, f = statistics.median(bare), statistics.median(fitted)
        print(f"{label:>14}: bare step {b * 1000:7.1f} ms, fit step {f * 1000:7.1f} ms, "
              f"overhead ratio fit/bare {f / b:.3f}")
        if label == "fp32":
            fp32_bare = b
        else:
            auto = training.autocast_dtype(torch.device("cpu"), "auto")
            measured = precision.measured_bf16()
            print(f"{'':>14}  bf16/fp32 bare step time {b / fp32_bare:.2f}; native bf16 on this CPU: "
                  f"{precision.native_bf16_cpu()}; fit's amp='auto' picks {'bf16' if auto else 'fp32'} here"
                  + (f" (its own check, remembered for this machine: bf16/fp32 {measured['ratio']:.2f}, bf16 only "
                     f"at <= {precision.BF16_MARGIN})" if measured else "")
                  + ("" if (auto is not None) == (b / fp32_bare <= precision.BF16_MARGIN) else
                     f"; DISAGREES with this run's ratio: delete {precision.machine_dir()} and measure again idle"))
    nchw = training.build_net(LabelOnlyTask(), args.arch, 1, args.width).to(memory_format=torch.contiguous_format)
    bare_steps(nchw, X, args.batch_size, 5, 0.01)
    times = {"channels-last": [], "NCHW": []}
    for _ in range(args.repeats):
        times["channels-last"].append(bare_steps(net, X, args.batch_size, args.steps, 0.01))
        times["NCHW"].append(bare_steps(nchw, X, args.batch_size, args.steps, 0.01))
    cl, plain = (statistics.median(times[k]) for k in ("channels-last", "NCHW"))
    print(f"{'layout':>14}: bare step NCHW {plain * 1000:7.1f} ms, channels-last {cl * 1000:7.1f} ms, "
          f"speed-up NCHW/channels-last {plain / cl:.2f}")
    flops = step_flops(net, X, args.batch_size)
    peaks = {"fp32": [], "bf16": []}
    for _ in range(args.repeats):  # interleaved with the steps above's conditions: the best of each
        peaks["fp32"].append(matmul_peak(torch.float32))
        if precision.native_bf16_cpu():
            peaks["bf16"].append(matmul_peak(torch.bfloat16))
    peak = max(peaks["fp32"])
    print(f"{'FLOP rate':>14}: {flops / 1e9:.3f} GFLOP per step (batch {args.batch_size}), bare channels-last step "
          f"{flops / cl / 1e9:.1f} GFLOP/s; fp32 matrix-multiply peak {peak / 1e9:.1f} GFLOP/s at "
          f"{torch.get_num_threads()} threads; fraction of peak {flops / cl / peak:.2f}")
    if peaks["bf16"]:
        print(f"{'':>14}  bf16 matrix-multiply peak {max(peaks['bf16']) / 1e9:.1f} GFLOP/s "
              f"({max(peaks['bf16']) / peak:.2f}x fp32's)")
    X_feat = X[:2000]
    net.eval()
    feature_seconds(net, X_feat[:500], torch.no_grad)
    times = {"no_grad": [], "inference_mode": []}
    for _ in range(args.repeats):
        times["no_grad"].append(feature_seconds(net, X_feat, torch.no_grad))
        times["inference_mode"].append(feature_seconds(net, X_feat, torch.inference_mode))
    ng, im = (statistics.median(times[k]) for k in ("no_grad", "inference_mode"))
    print(f"{'features':>14}: {len(X_feat)} images, no_grad {ng * 1000:7.1f} ms, inference_mode {im * 1000:7.1f} ms, "
          f"no_grad/inference_mode {ng / im:.2f}")


if __name__ == "__main__":
    main()
