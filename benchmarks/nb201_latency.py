"""A latency look-up table of NAS-Bench-201's networks on this machine (torch eager, 1 thread, batch 1).

Each cell operation (none, skip_connect, avg_pool_3x3, nor_conv_1x1,
nor_conv_3x3) is timed as nsganet's NB201 network builds it
(``nsganet.nn.nb201.make_op``; ``none`` as the zero tensor a node without inputs
outputs) at the three stage shapes of the network: 16, 32 and 64 channels at
32, 16 and 8 px. The fixed part is the network without its cells: stem, the two
residual reductions and the classifier head. Predicted latency (ms) of an
architecture = fixed part + sum over the stages of cells_per_stage x the sum of
its six edges' operation times at that stage's shape. Each time is the median of
many runs (``nsganet.costs.latency.measure_latency``).

The table is cached as JSON in benchmarks/.cache/ with a note of the machine
(processor, torch version, threads) and rebuilt when the note does not match.
Building it also times a few whole networks against the prediction.

    OMP_NUM_THREADS=1 python benchmarks/nb201_latency.py [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from nsganet.costs.latency import measure_latency
from nsganet.spaces import get_space
from nsganet.spaces.nb201 import OPERATIONS

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "nb201_latency_lut.json"
SPACE = get_space("nb201")
CHANNELS, INPUT_SIZE, CELLS_PER_STAGE = 16, 32, 5
#: (channels, pixels) of the three stages
STAGES = tuple((CHANNELS * 2 ** s, INPUT_SIZE // 2 ** s) for s in range(3))
OP_REPEATS, NETWORK_REPEATS, WARMUP = 200, 30, 10


def machine_note() -> dict[str, object]:
    import torch

    return {"processor": platform.processor(), "machine": platform.machine(), "cpu": _cpu_model(),
            "torch": torch.__version__, "threads": 1, "batch": 1}


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def _op_module(name: str, channels: int):
    import torch
    from torch import nn

    from nsganet.nn.nb201 import make_op

    class Zero(nn.Module):  # what a cell node without inputs computes
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(x)

    return make_op(name, channels) or Zero()


def _median_ms(module, channels: int, size: int, repeats: int) -> float:
    return measure_latency(module, (channels, size, size), warmup=WARMUP, repeats=repeats).median_ms


def _skeleton():
    """The network of the all-'none' genome with its cells left out: stem, reductions, head."""
    from torch import nn

    from nsganet.nn.nb201 import NB201Cell

    network = SPACE.build(SPACE.smallest(), channels=CHANNELS, cells_per_stage=CELLS_PER_STAGE)
    for i, layer in enumerate(network.cells):
        if isinstance(layer, NB201Cell):
            network.cells[i] = nn.Identity()
    return network


def build_table() -> dict:
    """Time every operation at every stage shape and the fixed part."""
    ops_ms = {op: [_median_ms(_op_module(op, c), c, px, OP_REPEATS) for c, px in STAGES] for op in OPERATIONS}
    fixed_ms = _median_ms(_skeleton(), 3, INPUT_SIZE, NETWORK_REPEATS)
    return {"machine": machine_note(), "stages": [list(s) for s in STAGES], "cells_per_stage": CELLS_PER_STAGE,
            "ops_ms": ops_ms, "fixed_ms": fixed_ms}


def predict(table: dict, genomes: np.ndarray) -> np.ndarray:
    """Predicted milliseconds of each genome (rows of operation indices)."""
    per_op = np.array([sum(table["ops_ms"][op]) for op in OPERATIONS])  # summed over the stages
    return table["fixed_ms"] + table["cells_per_stage"] * per_op[np.asarray(genomes, dtype=int)].sum(axis=1)


def check_table(table: dict, n: int = 6, seed: int = 0) -> list[tuple[str, float, float]]:
    """(architecture, predicted, measured ms) of the smallest, the largest and a few random networks."""
    rng = np.random.default_rng(seed)
    genomes = [SPACE.smallest(), SPACE.largest(), *rng.integers(0, len(OPERATIONS), size=(n - 2, 6))]
    rows = []
    for genome in genomes:
        network = SPACE.build(genome, channels=CHANNELS, cells_per_stage=CELLS_PER_STAGE)
        measured = _median_ms(network, 3, INPUT_SIZE, NETWORK_REPEATS)
        rows.append((SPACE.to_string(genome), float(predict(table, genome[None])[0]), measured))
    return rows


def format_table(table: dict) -> str:
    stages = "".join(f"{f'{c} ch @ {px} px':>16}" for c, px in table["stages"])
    lines = [f"NB201 latency look-up table (ms, median; {table['machine']})", f"{'operation':<14}{stages}"]
    lines += [f"{op:<14}" + "".join(f"{t:16.4f}" for t in times) for op, times in table["ops_ms"].items()]
    lines.append(f"{'fixed part':<14}{table['fixed_ms']:16.4f}   (stem, reductions, head)")
    for arch, predicted, measured in table.get("check", []):
        lines.append(f"  check {arch}: predicted {predicted:.3f} ms, measured {measured:.3f} ms "
                     f"({100 * (predicted / measured - 1):+.1f} %)")
    return "\n".join(lines)


def load_table(path: Path = CACHE, rebuild: bool = False) -> dict:
    """The cached table when it was built on a machine like this one, otherwise a new one (cached); printed."""
    table = json.loads(path.read_text()) if path.exists() and not rebuild else {}
    if table.get("machine") == machine_note():
        print(f"{format_table(table)}\n(cached in {path})", flush=True)
        return table
    print("building the NB201 latency look-up table (torch, 1 thread, batch 1)...", flush=True)
    table = build_table()
    table["check"] = check_table(table)
    print(format_table(table), flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="measure again even when cached")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    load_table(args.cache, args.rebuild)


if __name__ == "__main__":
    main()
