"""The seed figure on its own data (lesson 5, section 8): a jigsaw ResNet pretrained on photos, mAP per layer on VOC 2007.

Run (a GPU, the data on disk; see the README's `full`-preset section for getting them):
    .venv/bin/python benchmarks/bench_voc07.py [--arch resnet18] [--tasks jigsaw rotation] [--seeds 0 1 2]
Offline check of the same path (a generated VOC-format fixture and generated photos, the tiny preset, CPU):
    .venv/bin/python benchmarks/bench_voc07.py --tiny

Prints the per-layer test mAP of each network and of random weights (BatchNorm statistics from the
same photos: the reference each layer is read against), the wall time of each phase (reading VOC,
reading the photos, pretraining each network, probing each network), the peak resident memory of
this process and, on a GPU, the peak GPU memory allocated. A network already in the checkpoint
cache is loaded, not trained (its time then says "loaded"): `--fresh` trains into a new folder.
The probes are always measured (the results store is off). `--json PATH` writes the rows and times.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# a benchmark times the fits: never read them back from the store of measured results
os.environ["PRETEXT_LESSONS_RESULTS_CACHE"] = "0"

import torch  # noqa: E402

from pretext_lessons.core.photo_models import PHOTO_ARCHS  # noqa: E402
from pretext_lessons.experiments import photo_pretraining, voc07  # noqa: E402
from pretext_lessons.experiments.capstone import random_with_statistics  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the tiny preset on a generated fixture (offline, CPU)")
    parser.add_argument("--voc-root", default=None, help="folder holding VOCdevkit/VOC2007 (default: $PRETEXT_LESSONS_VOC "
                                                         "or the course's data folder's voc)")
    parser.add_argument("--photos", default=None, help="'stl10' (unlabelled split) or a folder of photos "
                                                       "(default: $PRETEXT_LESSONS_PHOTOS or stl10)")
    parser.add_argument("--arch", default=None, choices=PHOTO_ARCHS, help="default: the preset's (resnet18)")
    parser.add_argument("--tasks", nargs="+", default=["jigsaw"], choices=photo_pretraining.PHOTO_TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--device", default=None, help="default: CUDA, then MPS, then the CPU")
    parser.add_argument("--fresh", action="store_true", help="train into a new checkpoint folder (times the training)")
    parser.add_argument("--json", default=None, help="write the rows and the times here")
    args = parser.parse_args(argv)

    preset = "tiny" if args.tiny else "full"
    work = Path(tempfile.mkdtemp(prefix="bench-voc07-"))
    if args.tiny or args.fresh:
        os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = str(work / "checkpoints")
    voc_root, photos = args.voc_root, args.photos
    if args.tiny:
        voc_root = voc07.make_voc_fixture(work / "voc")
        g = torch.Generator().manual_seed(0)
        photos = (torch.rand(32, 3, 48, 48, generator=g) * 255).to(torch.uint8)
    else:
        missing = voc07.preflight("full", voc_root, photos)
        if missing:
            print("\n".join(missing[1:]))
            return 2
    settings, photo = voc07.VOC_PRESETS[preset], photo_pretraining.PHOTO_PRESETS[preset]
    arch = args.arch or photo["arch"]
    device = torch.device(args.device) if args.device else None
    cuda = torch.cuda.is_available() and (device is None or device.type == "cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = {}

    def phase(name, fn):
        start = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - start
        print(f"{name:<40} {times[name]:8.1f} s", flush=True)
        return out

    print(f"preset {preset}, {arch}, tasks {args.tasks}, seeds {args.seeds}, "
          f"device {torch.cuda.get_device_name() if cuda else 'cpu'}")
    train = phase("read VOC 2007 trainval", lambda: voc07.load_voc07(voc_root, "trainval", settings["size"]))
    test = phase("read VOC 2007 test", lambda: voc07.load_voc07(voc_root, "test", settings["size"]))
    if not isinstance(photos, torch.Tensor):
        photos = phase("read the photos", lambda: photo_pretraining.load_photos(
            photos, photo["num_images"] + photo["num_val"], photo["side"]))
    print(f"{len(train.X)} trainval, {len(test.X)} test images at {settings['size']} px; {len(photos)} photos of "
          f"{photos.shape[-1]} px; recipe {photo['train']}")
    rows = []
    for seed in args.seeds:
        for name in args.tasks:
            task = photo_pretraining.photo_task(name, preset)
            net, history = phase(f"pretrain {name} seed {seed}", lambda: photo_pretraining.pretrain_on_photos(
                name, preset, photos, seed, arch, device, progress=False))
            print(f"  pretext accuracy {history['val_acc'][-1]:.1%} held out after {history['epoch'][-1]} epochs")
            rows += phase(f"probe {name} seed {seed}", lambda: voc07.probe_layers(net, task, arch, seed, train, test,
                                                                                   preset))
        reference = photo_pretraining.photo_task(args.tasks[0], preset)

        def random_rows():
            net = random_with_statistics(reference, arch, seed, "full", X=photos[:settings["stats_images"]], width=64,
                                         batch_size=photo["train"]["batch_size"])
            net = net.to(device or ("cuda" if cuda else "cpu"))
            return [dict(r, task=voc07.RANDOM) for r in voc07.probe_layers(net, reference, arch, seed, train, test,
                                                                            preset)]

        rows += phase(f"random weights (statistics) + probe seed {seed}", random_rows)
    print()
    print("test mAP (%) per layer (non-interpolated AP, as scikit-learn's average_precision_score):")
    print(voc07.format_table(rows))
    print()
    for line in voc07.figure_lines(rows):
        print(line)
    memory = {"peak_rss_gb": peak_rss_gb()}
    if cuda:
        memory["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 2**30
    print(f"\ntotal {sum(times.values()):.0f} s; peak memory: " + ", ".join(f"{k} {v:.2f}" for k, v in memory.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(preset=preset, arch=arch, rows=rows, times=times, memory=memory,
                                                   device=torch.cuda.get_device_name() if cuda else "cpu"), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
