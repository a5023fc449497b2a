"""Training throughput on an accelerator, with and without mixed precision, against plain PyTorch loops, in one run.

Two workloads, each on the same network and the same in-memory batches:

* proxy training (search): a ``micro`` network trained by
  :func:`nsganet.train.loop.train` fed by :class:`~nsganet.data.BatchLoader`
  (pinned batches, non-blocking copies, channels_last, random crop + flip),
  at ``--amp off``, ``bf16`` and ``fp16``; against a plain loop (normalised
  float batches copied to the device, forward, backward, SGD) in fp32 and
  under bf16 autocast;
* supernet training: one epoch of the sandwich rule on a MobileNetV3
  supernet (:func:`nsganet.supernet.files.fit_supernet`: largest, smallest
  and random subnets, in-place distillation, checkpoint) at the same
  precisions, against a plain sandwich loop over the same supernet.

The table gives images/s (median of ``--rounds``) and each row's ratio to
the plain fp32 loop. Without a CUDA device the script says so and stops;
``--device cpu`` runs it on the CPU as a smoke test of the script (bf16
autocast only).

    python benchmarks/gpu_training.py [--device cuda] [--rounds 3] [--images 8192]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nsganet.data import Augmentation, BatchLoader, ImageDataset, channel_stats
from nsganet.spaces import get_space
from nsganet.train.loop import TrainSettings, distillation_loss, train

ARCH = ("normal: sep_conv_3x3(h-1) + sep_conv_3x3(h-2) | sep_conv_3x3(h-2) + identity(h-1) | "
        "sep_conv_3x3(h-1) + identity(h-2) | identity(h-2) + dil_conv_3x3(n0) | identity(h-1) + max_pool_3x3(h-2); "
        "reduce: max_pool_3x3(h-2) + max_pool_3x3(h-1) | identity(n0) + max_pool_3x3(h-1) | "
        "max_pool_3x3(h-2) + identity(n0) | identity(n0) + identity(n1) | avg_pool_3x3(n0) + sep_conv_5x5(h-1)")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_batches(dataset: ImageDataset, mean: list[float], std: list[float], batch: int, pin: bool):
    """Pre-normalised float batches in (pinned) host memory: what the plain loops copy to the device."""
    x = (dataset.images.float() / 255 - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    batches = [(x[i:i + batch], dataset.labels[i:i + batch]) for i in range(0, len(x) - batch + 1, batch)]
    return [(a.pin_memory(), b.pin_memory()) if pin else (a, b) for a, b in batches]


def plain_proxy(model: nn.Module, batches, device: torch.device, amp: torch.dtype | None) -> float:
    model.to(device=device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=5e-4)
    synchronize(device)
    started = time.perf_counter()
    for x, y in batches:
        x = x.to(device, non_blocking=True, memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return sum(len(y) for _, y in batches) / (time.perf_counter() - started)


def plain_sandwich(space, supernet: nn.Module, batches, device: torch.device, amp: torch.dtype | None,
                   n_random: int) -> float:
    """The sandwich rule written plainly: largest (labels), smallest and random subnets (its soft labels)."""
    supernet.to(device).train()
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=3e-5)
    rng = np.random.default_rng(0)
    synchronize(device)
    started = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        space.activate(supernet, space.largest())
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            teacher = supernet(x)
            loss = F.cross_entropy(teacher, y)
        loss.backward()
        for i in range(1 + n_random):
            space.activate(supernet, space.smallest() if i == 0 else space.sample(rng, 1)[0])
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                kd = distillation_loss(supernet(x), teacher)
            kd.backward()
        optimizer.step()
    synchronize(device)
    return sum(len(y) for _, y in batches) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--supernet-size", type=int, default=128, help="image side of the supernet workload")
    parser.add_argument("--supernet-images", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device is visible: this benchmark measures training on a GPU (--device cpu runs it on the "
              "CPU as a smoke test)")
        sys.exit(0)
    cuda = device.type == "cuda"
    modes = ["off", "bf16", "fp16"] if cuda else ["off", "bf16"]
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; {args.rounds} rounds, median images/s\n")

    generator = torch.Generator().manual_seed(0)

    def synthetic(n: int, side: int) -> ImageDataset:
        images = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=generator)
        return ImageDataset("synthetic", images, torch.randint(0, 10, (n,), generator=generator), 10)

    rows: list[tuple[str, str, float]] = []

    # -- proxy training ----------------------------------------------------------------------
    data = synthetic(args.images, args.size)
    mean, std = channel_stats(data)
    space = get_space("micro")
    genome = space.from_string(ARCH)

    def model() -> nn.Module:
        torch.manual_seed(0)
        return space.build(genome, num_classes=10, input_size=args.size, channels=args.channels, layers=args.layers)

    def ours(mode: str) -> float:
        loader = BatchLoader(data, args.batch_size, mean, std, shuffle=True, augmentation=Augmentation(4, True),
                             seed=0, drop_last=True, channels_last=True, pin_memory=cuda)
        return train(model(), loader, TrainSettings(epochs=1, lr=0.025, amp=mode), device=device).images_per_second

    batches = plain_batches(data, mean, std, args.batch_size, cuda)
    runs = {f"nsganet --amp {m}": (lambda m=m: ours(m)) for m in modes}
    runs["plain fp32"] = lambda: plain_proxy(model(), batches, device, None)
    runs["plain bf16 autocast"] = lambda: plain_proxy(model(), batches, device, torch.bfloat16)
    ours("off")  # warm-up: kernels, allocator
    results = {k: [] for k in runs}
    for r in range(args.rounds):
        for key in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            results[key].append(runs[key]())
    rows += [("proxy (micro)", k, statistics.median(v)) for k, v in results.items()]

    # -- supernet training -------------------------------------------------------------------
    from nsganet.supernet.files import fit_supernet
    from nsganet.supernet.training import SupernetTrainSettings

    data = synthetic(args.supernet_images, args.supernet_size)
    mean, std = channel_stats(data)
    mobilenet = get_space("mobilenetv3").for_images(args.supernet_size)
    batch = max(8, args.batch_size // 4)

    def ours_supernet(mode: str) -> float:
        settings = SupernetTrainSettings(epochs=1, batch_size=batch, n_random=2, amp=mode)
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            fit_supernet(data, out, settings, mobilenet, progress=False, device=str(device))
            synchronize(device)
            return (len(data) // batch) * batch / (time.perf_counter() - started)

    def plain_supernet(amp: torch.dtype | None) -> float:
        torch.manual_seed(0)
        supernet = mobilenet.new_supernet(10, 3)
        return plain_sandwich(mobilenet, supernet, plain_batches(data, mean, std, batch, cuda), device, amp, 2)

    runs = {f"nsganet --amp {m}": (lambda m=m: ours_supernet(m)) for m in modes}
    runs["plain fp32"] = lambda: plain_supernet(None)
    runs["plain bf16 autocast"] = lambda: plain_supernet(torch.bfloat16)
    results = {k: [] for k in runs}
    for r in range(args.rounds):
        for key in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            results[key].append(runs[key]())
    rows += [(f"supernet (mobilenetv3, {args.supernet_size} px)", k, statistics.median(v)) for k, v in results.items()]

    print(f"{'workload':<34}{'loop':<24}{'images/s':>10}{'vs plain fp32':>15}")
    for workload in dict.fromkeys(w for w, _, _ in rows):
        base = next(v for w, k, v in rows if w == workload and k == "plain fp32")
        for w, k, v in rows:
            if w == workload:
                print(f"{w:<34}{k:<24}{v:>10.0f}{v / base:>15.2f}" if math.isfinite(v) else f"{w:<34}{k:<24}")


if __name__ == "__main__":
    main()
