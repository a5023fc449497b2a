"""Training throughput of nsganet's proxy trainer against a plain PyTorch loop, in one run.

Both train the same fixed `micro` architecture (the proxy network of the
default search, or a larger one with --channels/--layers) on the same
in-memory data with the same batch size, optimiser and memory format. nsganet's
side is the real pipeline: BatchLoader (uint8 -> float per batch, normalise,
random crop + flip) and nsganet.train.loop.train (cosine schedule, gradient
clipping, divergence check). The plain loop feeds pre-normalised float tensors
to forward/backward/SGD and nothing else. Rounds alternate between the two;
the order alternates too, so that warm-up favours neither; the table reports medians.

With --recipe nsganet's side is instead the re-training loop of ``nsganet
train`` (nsganet.train.recipe.fit): random crop, flip and cutout, cosine schedule,
gradient clipping, an EMA of the weights updated every step, and the
per-epoch checkpoint, best/last weights and curves (their time is counted);
the network is the same for both loops (no auxiliary head, no drop-path, so
that both do the same arithmetic).

    python benchmarks/trainer_throughput.py [--images 4096] [--size 32] [--rounds 3] [--recipe]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch import nn

from nsganet.costs.model import CostModel
from nsganet.data import Augmentation, BatchLoader, ImageDataset, channel_stats
from nsganet.spaces import get_space
from nsganet.train.loop import TrainSettings, train

#: A fixed, DARTS-like cell pair (separable convolutions, skip connections, pooling).
ARCH = ("normal: sep_conv_3x3(h-1) + sep_conv_3x3(h-2) | sep_conv_3x3(h-2) + identity(h-1) | "
        "sep_conv_3x3(h-1) + identity(h-2) | identity(h-2) + dil_conv_3x3(n0) | identity(h-1) + max_pool_3x3(h-2); "
        "reduce: max_pool_3x3(h-2) + max_pool_3x3(h-1) | identity(n0) + max_pool_3x3(h-1) | "
        "max_pool_3x3(h-2) + identity(n0) | identity(n0) + identity(n1) | avg_pool_3x3(n0) + sep_conv_5x5(h-1)")


def plain_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float) -> float:
    """One epoch of the simplest correct loop; returns seconds."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    order = torch.randperm(len(x))
    for i in range(0, len(x) - batch_size + 1, batch_size):
        idx = order[i:i + batch_size]
        loss = criterion(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--recipe", action="store_true",
                        help="time the re-training loop (nsganet.train.recipe.fit: cutout, EMA, checkpoints) instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (args.images,), generator=generator)
    dataset = ImageDataset("synthetic", images, labels, 10)
    mean, std = channel_stats(dataset)
    plain_x = ((images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    plain_x = plain_x.contiguous(memory_format=torch.channels_last)

    space = get_space("micro")
    genome = space.from_string(ARCH)
    options = space.proxy_options(args.channels, args.layers)
    settings = TrainSettings(epochs=1, lr=0.025, grad_clip=5.0)
    n = (len(images) // args.batch_size) * args.batch_size

    def run_ours(r: int) -> float:
        torch.manual_seed(r)
        model = space.build(genome, num_classes=10, input_size=args.size, **options)
        loader = BatchLoader(dataset, args.batch_size, mean, std, shuffle=True,
                             augmentation=Augmentation(crop_padding=4, flip=True), seed=r, drop_last=True,
                             channels_last=True)
        return train(model, loader, settings).images_per_second

    def run_recipe(r: int) -> float:
        from nsganet.train.recipe import RetrainSettings, fit

        torch.manual_seed(r)
        model = space.build(genome, num_classes=10, input_size=args.size, **options)
        recipe = RetrainSettings(epochs=1, lr=0.025, batch_size=args.batch_size, drop_path=0.0, ema_decay=0.9998,
                                 cutout=args.size // 2, crop_padding=4, valid_fraction=0.0)
        with tempfile.TemporaryDirectory() as out:
            result = fit(model, dataset, None, recipe, out, mean=mean, std=std, seed=r, progress=False)
        return n / result.seconds  # the whole epoch: training loop, checkpoint, best/last weights, curves

    if args.recipe:
        run_ours = run_recipe

    def run_plain(r: int) -> float:
        torch.manual_seed(r)
        model = space.build(genome, num_classes=10, input_size=args.size, **options).to(
            memory_format=torch.channels_last)
        return n / plain_loop(model, plain_x, labels, args.batch_size, 0.025)

    ours, plain = [], []
    for r in range(args.rounds):  # alternate which loop goes first, so warm-up favours neither
        for record, run in ([(ours, run_ours), (plain, run_plain)][:: 1 if r % 2 == 0 else -1]):
            record.append(run(r))

    macs = CostModel(space, input_size=args.size, build_options=options).measure(genome)["flops"]
    print(f"micro proxy network ({args.channels} channels, {args.layers} cell(s) per stage, {macs:.2f} MMACs/image), "
          f"{args.size}x{args.size} RGB, batch {args.batch_size}, {n} images/epoch, {args.threads} thread(s), "
          f"{args.rounds} rounds\n")
    print(f"{'loop':<34}{'images/s (median)':>18}{'s/epoch':>10}")
    label = "nsganet (retrain.fit recipe)" if args.recipe else "nsganet (BatchLoader + train)"
    for name, values in ((label, ours), ("plain PyTorch loop", plain)):
        median = statistics.median(values)
        print(f"{name:<34}{median:>18.0f}{n / median:>10.2f}")
    print(f"\nratio nsganet / plain: {statistics.median(ours) / statistics.median(plain):.3f}")


if __name__ == "__main__":
    main()
