"""Shared fixtures: the NAS-Bench-201 table from ../shared and helpers to run the CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Tests share the CPU with other processes (workers, CLI subprocesses): OpenMP threads that spin while
# waiting would slow everything down many times over. Set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
SHARED_TABLE = REPO.parent / "shared" / "data" / "nats_tss_cifar10.csv"
METRIC = "cifar10_test_acc_200ep"
NB201 = ("search", "--space", "nb201")  # start of a table search on NAS-Bench-201


@pytest.fixture(scope="session")
def nb201_table() -> Path:
    if not SHARED_TABLE.exists():
        pytest.skip(f"{SHARED_TABLE} is not available")
    return SHARED_TABLE


@pytest.fixture(scope="session")
def nb201_accuracy(nb201_table: Path) -> dict[str, float]:
    with nb201_table.open(newline="") as handle:
        return {row["arch"]: float(row[METRIC]) for row in csv.DictReader(handle)}


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m nsganet ARGS`` in a subprocess (one torch thread, no progress bar noise)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-m", "nsganet", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def lookup_evaluator(accuracy: dict[str, float]):
    """A user evaluator function reading the table: error and a synthetic, cheap cost."""

    def evaluate(arch):
        return {"error": 100.0 - accuracy[str(arch)], "ops": float(np.sum(arch.genome))}

    return evaluate
