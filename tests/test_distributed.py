"""Training one network on several processes (torchrun, gloo on the CPU) computes what one process computes.

Each run is a real launch: ``python -m torch.distributed.run --nproc-per-node 2``
starts two processes that join a gloo group and train shares of every batch
in a ``DistributedDataParallel`` network. The networks are batch-norm free
(on CPUs each process normalises its own share, see
:mod:`nsganet.train.distributed`), so two processes must reach the weights
of one process within float rounding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from slim_space import SlimNet, SlimSpace
from test_retrain import micro_spec

from nsganet.deploy.netfile import write_net
from nsganet.utils.seeds import derived_seed

HELPER = Path(__file__).parent / "distributed_run.py"
pytestmark = pytest.mark.slow


def launch(*args: str, processes: int = 2, module: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the helper script (or ``-m nsganet`` with ``module``) alone (``processes`` 1) or under torchrun."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    target = ["-m", "nsganet", *args] if module else [str(HELPER), *args]
    if processes == 1:
        command = [sys.executable, *target]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   *(["-m"] if module else []), *(target[1:] if module else target)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)
    for key in ("model", "state_dict"):  # a checkpoint, a supernet file
        if key in state:
            return state[key]
    return state


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=atol, rtol=0), f"{key}: {float((a[key] - b[key]).abs().max())}"


def test_two_processes_retrain_to_the_weights_of_one_and_resume_exactly(tmp_path):
    launch("fit", str(tmp_path / "one"), processes=1)
    launch("fit", str(tmp_path / "two"))
    one, two = weights(tmp_path / "one" / "last.pt"), weights(tmp_path / "two" / "last.pt")
    assert_close(one, two, atol=1e-5)
    torch.manual_seed(0)  # the network both runs started from
    initial = SlimNet([8, 12], 10, 1).state_dict()
    assert all(not torch.allclose(one[k], initial[k], atol=1e-3) for k in initial)  # every weight was trained
    # the recorded curves are of the whole batches: the same losses and accuracies as one process
    curves = [(tmp_path / run / "curves.csv").read_text().splitlines() for run in ("one", "two")]
    assert _close_rows(curves[0][1:], curves[1][1:])
    # rank 0 checkpoints; a two-process run interrupted after epoch 1 resumes to the same weights
    launch("fit", str(tmp_path / "again"), "--stop-after", "1")
    assert torch.load(tmp_path / "again" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    launch("fit", str(tmp_path / "again"), "--resume")
    assert_close(weights(tmp_path / "again" / "last.pt"), two, atol=0)


def _close_rows(a: list[str], b: list[str]) -> bool:
    """Epoch, lr, loss, train and validation accuracy of two curves.csv agree within float rounding."""
    def numbers(lines: list[str]) -> list[list[float]]:
        return [[float(v) for v in line.split(",")[:5]] for line in lines]

    return len(a) == len(b) > 0 and all(abs(x - y) < 1e-3 for r, s in zip(numbers(a), numbers(b))
                                        for x, y in zip(r, s))


def test_two_processes_train_the_supernet_of_one(tmp_path):
    launch("supernet", str(tmp_path / "one"), processes=1)
    launch("supernet", str(tmp_path / "two"))
    one, two = weights(tmp_path / "one" / "supernet.pt"), weights(tmp_path / "two" / "supernet.pt")
    assert_close(one, two, atol=1e-5)
    torch.manual_seed(derived_seed(0, "init"))  # the supernet both runs started from
    initial = SlimSpace().new_supernet(10, 1).state_dict()
    assert all(not torch.allclose(one[k], initial[k], atol=1e-3) for k in initial)  # every weight was trained


def test_torchrun_nsganet_train_writes_one_network_folder(tmp_path):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    out = tmp_path / "trained"
    result = launch("train", str(folder), "--out", str(out), "--epochs", "1", "--batch-size", "32",
                    "--train-images", "128", "--device", "cpu", "--no-onnx", "-q", module=True)
    assert result.stdout.count("written to") == 1  # rank 0 reports, the other process stays quiet
    summary = json.loads((out / "train.json").read_text())
    assert summary["processes"] == 2 and summary["device"] == "cpu"
    assert (out / "net.json").is_file() and (out / "net.pt").is_file() and (out / "curves.csv").is_file()
    odd = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
                          "nsganet", "train", str(folder), "--out", str(tmp_path / "odd"), "--batch-size", "33",
                          "--device", "cpu", "-q"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert odd.returncode != 0 and "batch size 33 does not split over 2 processes" in odd.stderr
