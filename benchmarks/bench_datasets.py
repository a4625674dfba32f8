"""What another DATASET costs: a quick-preset training step and a network's pretraining on a colour folder, against Fashion-MNIST.

Run:  .venv/bin/python benchmarks/bench_datasets.py [FOLDER] [--steps 10] [--repeats 3] [--threads N]

FOLDER defaults to a colour folder made on the spot by `make_photo_folder` (crops of scikit-image's
photos, 32 px). For each of the course's tasks, the median seconds of one `fit` step of its quick
preset (batch as the preset says, the task's own batch transform) on each dataset, interleaved
so a busy machine slows both alike, and their ratio; then the quick preset's images per network on
each dataset (a folder smaller than the preset caps it) and the resulting ratio of a network's
pretraining cost. Fashion-MNIST is the baseline, measured in the same run. Seconds are the process's
CPU seconds (user + sys): on a machine shared with other work they move far less than wall time,
and `--threads 1` keeps idle threads from spinning into them.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time

import torch

from pretext_lessons.core import data
from pretext_lessons.core.training import build_net, fit, resolve_preset
from pretext_lessons.tasks import course_tasks


def step_seconds(task, dataset, steps: int) -> float:
    """Seconds per step of `fit` on `steps` batches of the dataset's training images, in the quick preset."""
    data.use_dataset(dataset)
    task = type(task)()  # the geometry of this dataset's images
    s = resolve_preset("quick", task, "cnn")
    X = data.pretrain_split(s["batch_size"] * steps, seed=0)
    net = build_net(task, "cnn", X.shape[1], s["width"], seed=0)
    start = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        fit(net, task, X, num_epochs=1, batch_size=s["batch_size"], lr=s["lr"], progress=False)
    return (time.process_time() - start) / steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=None)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = args.folder or data.make_photo_folder(tempfile.mkdtemp() + "/photos", per_class=600, test_per_class=150)
    colour = data.resolve_dataset(folder)
    print(f"baseline: Fashion-MNIST; compared: {colour.describe()}; torch threads {torch.get_num_threads()}")
    print(f"{'task':<18} {'fashion cpu s/step':>14} {'folder cpu s/step':>13} {'ratio':>6} {'images F/folder':>16} "
          f"{'network ratio':>13}")
    for name, task in course_tasks().items():
        base, other = [], []
        for _ in range(args.repeats):
            base.append(step_seconds(task, "fashion_mnist", args.steps))
            other.append(step_seconds(task, colour, args.steps))
        b, o = statistics.median(base), statistics.median(other)
        n_base = resolve_preset("quick", task, "cnn", dataset="fashion_mnist")["num_images"]
        n_other = resolve_preset("quick", task, "cnn", dataset=colour)["num_images"]
        print(f"{name:<18} {b:>14.3f} {o:>13.3f} {o / b:>6.2f} {n_base:>7} / {n_other:<7} "
              f"{o * n_other / (b * n_base):>13.2f}")
    data.use_dataset("fashion_mnist")


if __name__ == "__main__":
    main()
