"""Shared fixtures: the NAS-Bench-201 table from ../shared and helpers to run the CLI."""

from __future__ import annotations

import csv
import os
import sqlite3
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


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m nsganet ARGS`` in a subprocess (one torch thread, no progress bar noise).

    ``env`` adds to (or overrides) the inherited environment variables.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "nsganet", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)



def cli_in_process(*argv: str) -> tuple[int, str, str]:
    """``nsganet ARGV`` in this process: exit code, stdout, stderr (logging set up by ``main`` as the command does)."""
    import contextlib
    import io
    import logging

    from nsganet.cli import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        root.handlers, root.level = handlers, level
    return code, out.getvalue(), err.getvalue()

def finished_evaluations(store: Path) -> int:
    """Finished evaluations in a run store another process may be writing (0 before it has its schema)."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM evaluations WHERE status != 'running'").fetchone()[0]
    except sqlite3.Error:  # created but schema not written yet
        return 0


def lookup_evaluator(accuracy: dict[str, float]):
    """A user evaluator function reading the table: error and a synthetic, cheap cost."""

    def evaluate(arch):
        return {"error": 100.0 - accuracy[str(arch)], "ops": float(np.sum(arch.genome))}

    return evaluate


def randomise(module, seed: int = 0):
    """Give batch norms non-trivial statistics and affine parameters, and kernel transforms non-identity values."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():  # shares storage with the module's tensors
            if not t.dtype.is_floating_point:
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            elif name.endswith("_matrix"):
                t.add_(0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith(("running_mean", "bias")):
                t.copy_(0.2 * torch.randn(t.shape, generator=g))
            elif t.ndim == 1:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return module


@pytest.fixture(scope="module")
def one_thread():
    """Small networks, small batches: one thread is fastest, and immune to oversubscribed machines."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def import_ofa():
    """OFA's own network classes (the ``ofa`` package), or skip the test when it is not installed.

    ``ofa``'s utilities import its data loaders, which need torchvision; none
    of them is used here, so that one module is replaced by an empty one when
    torchvision is missing. Returns a namespace with ``OFAMobileNetV3`` (the
    supernet), ``MobileNetV3`` (a static network, ``build_from_config``) and
    ``set_layer_from_config``.
    """
    import importlib.util
    import sys
    import types

    if importlib.util.find_spec("ofa") is None:
        pytest.skip("OFA's own code is not installed (pip install --no-deps ofa)")
    if importlib.util.find_spec("torchvision") is None and "ofa.utils.my_dataloader" not in sys.modules:
        sys.modules["ofa.utils.my_dataloader"] = types.ModuleType("ofa.utils.my_dataloader")
    from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
    from ofa.imagenet_classification.networks import MobileNetV3
    from ofa.utils.layers import set_layer_from_config

    return types.SimpleNamespace(OFAMobileNetV3=OFAMobileNetV3, MobileNetV3=MobileNetV3,
                                 set_layer_from_config=set_layer_from_config)


@pytest.fixture(scope="module")
def digits():
    """Module-wide (train, valid) of 256 digits images: 192 to train on, 64 to choose the best epoch on."""
    import torch

    from nsganet.data import load_dataset, split_train_valid

    train, _ = load_dataset("digits")
    generator = torch.Generator().manual_seed(0)
    subset = train.subset(torch.sort(torch.randperm(len(train), generator=generator)[:256]).values)
    return split_train_valid(subset, 0.25, seed=0)
