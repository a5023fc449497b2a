"""Streaming image data: nsganet's loader against a plain DataLoader + Pillow loop, and memory against dataset size.

Part 1, throughput. One generated image folder (``train/<class>/*.jpg``,
photo-sized JPEGs of varied sizes, as ImageNet's) is read one epoch at a time
at 64 and 224 px by

* nsganet: ``load_split("folder", ..., mode="stream")`` and
  :class:`~nsganet.data.loader.StreamLoader` (decode, resize, normalise,
  random crop and flip in ``--workers`` DataLoader processes, whole batches
  per worker, per-image seeds);
* plain: the loop users write: a ``Dataset`` whose ``__getitem__`` opens the
  file with Pillow, converts it to RGB, resizes it, turns it into a
  normalised float tensor and randomly crops and flips it; a
  ``torch.utils.data.DataLoader`` with the same batch size and workers.

Rounds alternate the order; the table gives median images/s and the ratio
(goal >= 0.95). Nothing trains: this is the data pipeline alone.

Part 2, memory. Peak memory (proportional set size) of the whole process tree
(main process and loader workers, sampled from /proc) while one epoch of 5,000 and of
20,000 small PNG images is streamed (median of the rounds); the same for the
in-memory path (images decoded into one tensor) for contrast. Streaming should
stay flat (within 10 %): what grows with the dataset is its list of file
names.

    python benchmarks/streaming_loader.py [--images 1500] [--workers min(4, cores)] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from PIL import Image

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CLASSES = 10


def photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth random picture with some texture: compresses and decodes like a photograph, not like noise."""
    small = rng.integers(0, 256, (height // 16 + 2, width // 16 + 2, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    image += rng.integers(-12, 13, image.shape, dtype=np.int16)
    return image.clip(0, 255).astype(np.uint8)


def write_folder(root: Path, n: int, sizes: tuple[tuple[int, int], ...], fmt: str, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / "train" / f"class{i % CLASSES}"
        folder.mkdir(parents=True, exist_ok=True)
        width, height = sizes[i % len(sizes)]
        path = folder / f"{i:06d}.{fmt}"
        Image.fromarray(photo(rng, width, height)).save(path, quality=90) if fmt == "jpg" else \
            Image.fromarray(photo(rng, width, height)).save(path)
    return root


class PlainFolder(torch.utils.data.Dataset):
    """What a user writes without nsganet: Pillow per image, a float tensor, crop and flip."""

    def __init__(self, root: Path, size: int) -> None:
        classes = sorted(p.name for p in (root / "train").iterdir())
        self.items = [(str(f), c) for c, name in enumerate(classes) for f in sorted((root / "train" / name).iterdir())]
        self.size, self.pad = size, max(1, size // 8)
        self.mean, self.std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        with Image.open(path) as image:
            image = image.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255)
        x = (x - self.mean) / self.std
        padded = torch.nn.functional.pad(x, [self.pad] * 4)
        i, j = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,)))
        x = padded[:, i:i + self.size, j:j + self.size]
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, label


def plain_epoch(root: Path, size: int, batch: int, workers: int) -> float:
    loader = torch.utils.data.DataLoader(PlainFolder(root, size), batch_size=batch, shuffle=True, num_workers=workers,
                                         drop_last=True)
    started, seen = time.perf_counter(), 0
    for x, _ in loader:
        seen += len(x)
    return seen / (time.perf_counter() - started)


def nsganet_epoch(root: Path, size: int, batch: int, workers: int, seed: int) -> float:
    from nsganet.data import Augmentation, load_split, make_loader

    data = load_split("folder", root, "train", image_size=size, mode="stream")
    loader = make_loader(data, batch, MEAN, STD, shuffle=True, augmentation=Augmentation(max(1, size // 8), True),
                         seed=seed, drop_last=True, workers=workers)
    started, seen = time.perf_counter(), 0
    for x, _ in loader:
        seen += len(x)
    return seen / (time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------ memory


def tree_pss(pid: int) -> int:
    """Proportional set size of ``pid`` and all its descendants (Linux /proc): pages a forked worker shares
    with its parent count once in all, not once per process as resident sizes would."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def peak_memory(root: Path, mode: str, workers: int) -> float:
    """Peak MiB of a child process (and its workers) reading one epoch of ``root`` in ``mode``."""
    code = ("import sys; from nsganet.data import load_split, make_loader, Augmentation\n"
            f"d = load_split('folder', {str(root)!r}, 'train', mode={mode!r})\n"
            f"for x, y in make_loader(d, 64, {MEAN}, {STD}, shuffle=True, augmentation=Augmentation(4, True), "
            f"workers={workers}): pass\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_pss(child.pid))
        time.sleep(0.02)
    if child.returncode:
        raise SystemExit(f"the {mode} memory run failed")
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1500, help="photos in the throughput folder")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", type=int, nargs=2, default=(5000, 20000), metavar=("SMALL", "LARGE"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        photos = write_folder(Path(tmp) / "photos", args.images, ((500, 375), (375, 500), (640, 480), (400, 300)),
                              "jpg")
        print(f"throughput: {args.images} JPEG photos (375x500 to 640x480), batch {args.batch_size}, "
              f"{args.workers} workers, crop + flip, {args.rounds} rounds, os.cpu_count() = {os.cpu_count()}\n")
        print(f"{'size':>6}{'nsganet images/s':>18}{'plain images/s':>16}{'ratio':>8}")
        for size in (64, 224):
            ours, plain = [], []
            for r in range(args.rounds):
                runs = [(ours, lambda s=size, r=r: nsganet_epoch(photos, s, args.batch_size, args.workers, r)),
                        (plain, lambda s=size: plain_epoch(photos, s, args.batch_size, args.workers))]
                for record, run in runs[:: 1 if r % 2 == 0 else -1]:
                    record.append(run())
            a, b = statistics.median(ours), statistics.median(plain)
            print(f"{size:>6}{a:>18.0f}{b:>16.0f}{a / b:>8.2f}")

        print(f"\npeak memory of one streamed epoch (process tree, {args.workers} workers), 32x32 PNG images\n")
        print(f"{'mode':<8}{args.memory[0]:>10} img{args.memory[1]:>10} img{'ratio':>8}")
        folders = [write_folder(Path(tmp) / f"small{n}", n, ((32, 32),), "png", seed=n) for n in args.memory]
        for mode in ("stream", "memory"):  # the median of --rounds runs: the sampling of a short run varies
            peaks = [statistics.median(peak_memory(folder, mode, args.workers) for _ in range(args.rounds))
                     for folder in folders]
            print(f"{mode:<8}{peaks[0]:>10.0f} MiB{peaks[1]:>10.0f} MiB{peaks[1] / peaks[0]:>8.2f}")


if __name__ == "__main__":
    main()
