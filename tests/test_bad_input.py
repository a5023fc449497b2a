"""Bad input, table-driven: every malformed input to every sub-command is one line naming the problem, exit code 2.

Each case writes what it needs (config files, tables, datasets in their published formats, exported networks,
checkpoints, run directories) and runs ``nsganet`` on it: in-process through :func:`nsganet.cli.main` (an
unexpected exception escapes as a real traceback and fails the case), a few as real subprocesses. After every
case each ``run.sqlite`` must still be intact: healthy stores keep their rows, deliberately corrupt ones their
bytes, new ones pass SQLite's integrity check.

``python tests/test_bad_input.py`` prints the cases as a Markdown table.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
import pickle
import sqlite3
import struct
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import METRIC, NB201, SHARED_TABLE, run_cli

from nsganet.cli import main

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
MICRO_OPS = "identity(h-1) + identity(h-1) | identity(n0) + identity(n0) | identity(n1) + identity(n1) | " \
            "identity(n2) + identity(n2) | identity(n3) + identity(n3)"
MICRO_ARCH = f"normal: {MICRO_OPS}; reduce: {MICRO_OPS}"
MACRO_ARCH = "0-00-000-0000-00000-0 | 0-00-000-0000-00000-0 | 0-00-000-0000-00000-0"
MOBILENET_ARCH = "r192 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3"
UNWRITABLE = "/proc/nsganet-bad-input"  # /proc takes no new entries, not even from root


# ------------------------------------------------------------------------------------------ inputs, written for real


class Inputs:
    """Where one table of cases writes its files, and the shared inputs several cases need (made once, lazily)."""

    def __init__(self, root: Path, table: Path) -> None:
        self.root, self.table = root, table
        self._run: Path | None = None
        self._net: Path | None = None
        self._supernet: Path | None = None

    def path(self, name: str) -> Path:
        """A fresh path under the root (not created)."""
        return self.root / name

    def folder(self, name: str) -> Path:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def table_args(self, *extra: str) -> list[str]:
        """A cheap nb201 table search (no training) that writes nowhere unless given --out."""
        return [*NB201, "--table", str(self.table), "--metric", METRIC, "-q", "--budget", "5", *extra]

    @property
    def run(self) -> Path:
        """A finished nb201 table search: a healthy run directory with a store."""
        if self._run is None:
            out = self.path("run")
            code, err = run_in_process([*self.table_args("--budget", "10", "--pop-size", "5", "--out", str(out))])
            assert code == 0, err
            self._run = out
        return self._run

    @property
    def net(self) -> Path:
        """An exported nb201 network folder for the embedded digits (net.json only), as 'nsganet select' writes it."""
        if self._net is None:
            self._net = write_net_json(self.folder("net"), {})
        return self._net

    @property
    def supernet(self) -> Path:
        """An untrained tiny mobilenetv3 supernet file for 1-channel images of 10 classes."""
        if self._supernet is None:
            from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig
            from nsganet.supernet.files import TrainedSupernet

            space = MobileNetV3Space(SupernetConfig.small(16, width_mult=0.25))
            self._supernet = self.path("supernet.pt")
            TrainedSupernet(space, space.new_supernet(10, 1), 10, 1, [0.5], [0.25], "digits").save(self._supernet)
        return self._supernet


def net_json_text(changes: dict) -> str:
    """The ``net.json`` of an nb201 network on the 8x8 grey digits, with ``changes`` applied (NaN and Infinity
    written as JSON's readers take them)."""
    spec = {"format": "nsganet-net", "version": 1, "space": "nb201", "arch": NB201_ARCH, "num_classes": 10,
            "input_size": 8, "in_channels": 1, "mean": [0.3], "std": [0.4], "build_options": {},
            "dataset": {"name": "digits", "data": None, "image_size": None}, **changes}
    return json.dumps(spec, indent=1) + "\n"


def write_net_json(folder: Path, changes: dict) -> Path:
    """``folder/net.json`` of an nb201 network on the 8x8 grey digits, with ``changes`` applied."""
    (folder / "net.json").write_text(net_json_text(changes), encoding="utf-8")
    return folder


def save_state_dict(path: Path, space: str, arch: str) -> Path:
    """The ``state_dict`` of a freshly built digits network of ``space`` (a real net.pt, of another network)."""
    import torch

    from nsganet.spaces import get_space

    sp = get_space(space)
    model = sp.build(sp.from_string(arch), num_classes=10, input_size=8, in_channels=1,
                     **sp.proxy_options(None, None, use_defaults=True))
    torch.save(model.state_dict(), path)
    return path


def write_cifar10(folder: Path, labels_of_batch_3: list[int] | None = None) -> Path:
    """A CIFAR-10 python-version folder (pickled dicts of uint8 rows) with two images per batch."""
    folder = folder / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([*(f"data_batch_{b}" for b in range(1, 6)), "test_batch"]):
        labels = labels_of_batch_3 if (labels_of_batch_3 is not None and i == 2) else [i % 10, (i + 1) % 10]
        batch = {b"batch_label": name.encode(), b"labels": labels,
                 b"data": rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8),
                 b"filenames": [f"{k}.png".encode() for k in range(len(labels))]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return folder


def _idx(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def write_mnist(folder: Path, labels: list[int] | None = None) -> Path:
    """MNIST idx files (images 0x803, labels 0x801), the train images gzipped as published."""
    rng = np.random.default_rng(0)
    train_labels = np.array(labels if labels is not None else [0, 1, 2, 3], dtype=np.uint8)
    files = {"train-images-idx3-ubyte": _idx(rng.integers(0, 256, (len(train_labels), 28, 28), np.uint8), 0x803),
             "train-labels-idx1-ubyte": _idx(train_labels, 0x801),
             "t10k-images-idx3-ubyte": _idx(rng.integers(0, 256, (2, 28, 28), np.uint8), 0x803),
             "t10k-labels-idx1-ubyte": _idx(np.array([1, 0], dtype=np.uint8), 0x801)}
    folder.mkdir(parents=True)
    for name, content in files.items():
        if name.startswith("train-images"):
            (folder / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)
    return folder


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def write_images(folder: Path, sizes: dict[str, list[tuple[int, int]]]) -> Path:
    """An image folder: ``train/<class>/<k>.png`` of the given (width, height) per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, shapes in sizes.items():
        (folder / "train" / cls).mkdir(parents=True, exist_ok=True)
        for k, (w, h) in enumerate(shapes):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / "train" / cls / f"{k}.png")
    return folder


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def truncated(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to a share of its bytes, as an interrupted download or copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# ------------------------------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """A malformed input: ``make`` writes its files and returns the argv; the message must contain ``expect``."""

    name: str
    make: Callable[[Inputs], list[str]]
    expect: str
    subprocess: bool = False


def _search_data(dataset: str, data: Path, *extra: str) -> list[str]:
    """A proxy-training search that fails while reading its data, before anything is trained or written."""
    return ["search", "--dataset", dataset, "--data", str(data), "--budget", "2", "--pop-size", "2", "-q", *extra]


def _cifar_truncated(x: Inputs) -> list[str]:
    folder = write_cifar10(x.folder("cifar-truncated"))
    truncated(folder / "data_batch_3")
    return _search_data("cifar10", folder.parent)


def _cifar_corrupt(x: Inputs) -> list[str]:
    folder = write_cifar10(x.folder("cifar-corrupt"))
    (folder / "data_batch_2").write_bytes(np.random.default_rng(1).bytes(4000))
    return _search_data("cifar10", folder)


def _cifar_foreign_global(x: Inputs) -> list[str]:
    folder = write_cifar10(x.folder("cifar-global"))
    (folder / "data_batch_4").write_bytes(pickle.dumps(OrderedDict(data=[1, 2]), protocol=2))
    return _search_data("cifar10", folder)


def _corrupt_store(x: Inputs) -> Path:
    folder = x.folder("corrupt-run")
    (folder / "run.sqlite").write_bytes(b"garbage" * 1000)
    (folder / "config.yaml").write_text((x.run / "config.yaml").read_text())
    return folder


def _truncated_store(x: Inputs) -> Path:
    folder = x.folder("truncated-run")
    (folder / "run.sqlite").write_bytes((x.run / "run.sqlite").read_bytes()[:4096 + 100])
    (folder / "config.yaml").write_text((x.run / "config.yaml").read_text())
    return folder


def _net_variant(x: Inputs, name: str, changes: dict | None = None, weights: Callable[[Path], object] | None = None,
                 text: str | None = None) -> str:
    folder = x.folder(name)
    if text is not None:
        (folder / "net.json").write_text(text)
    else:
        write_net_json(folder, changes or {})
    if weights is not None:
        weights(folder / "net.pt")
    return str(folder)


def _exported_twice(x: Inputs) -> list[str]:
    """``select`` into a folder where it exported the same architecture at another width before."""
    out = x.path("sel-twice")
    code, err = run_in_process(["select", str(x.run), "-n", "1", "--no-onnx", "--channels", "8", "--out", str(out)])
    assert code == 0, err
    return ["select", str(x.run), "-n", "1", "--no-onnx", "--out", str(out)]


def _lut_file(x: Inputs, text: str) -> str:
    path = x.path("lut.json")
    path.write_text(text)
    return str(path)


CASES: list[Case] = [
    # -- search: config files ------------------------------------------------------------------------------------
    Case("config file missing", lambda x: ["search", "--config", str(x.path("none.yaml"))], "cannot read config"),
    Case("config not YAML", lambda x: ["search", "--config", str(write_yaml(x.path("bad.yaml"), "budget: [1, 2\n"))],
         "is not valid YAML at line 2"),
    Case("config not a mapping", lambda x: ["search", "--config", str(write_yaml(x.path("list.yaml"), "- budget\n"))],
         "must be a mapping"),
    Case("config key unknown", lambda x: ["search", "--config", str(write_yaml(x.path("key.yaml"), "budjet: 10\n"))],
         "unknown config key 'budjet'"),
    Case("config value of the wrong type",
         lambda x: ["search", "--config", str(write_yaml(x.path("type.yaml"), "budget: many\n"))],
         "config key 'budget' must be int"),
    Case("config objectives not a list",
         lambda x: ["search", "--config", str(write_yaml(x.path("obj.yaml"), "objectives: 5\n"))],
         "config key 'objectives' must be list"),
    Case("config strategy_params not a mapping",
         lambda x: ["search", "--config", str(write_yaml(x.path("sp.yaml"), "strategy_params: fast\n"))],
         "config key 'strategy_params' must be dict"),
    Case("config with an unknown strategy option",
         lambda x: ["search", "--config", str(write_yaml(x.path("rate.yaml"), yaml.safe_dump(
             {"space": "nb201", "table": str(x.table), "metric": METRIC, "strategy_params": {"mutation_rate": 2}}))),
             "--out", str(x.path("x-rate"))], "has no option 'mutation_rate'"),
    Case("config with a strategy option out of range",
         lambda x: ["search", "--config", str(write_yaml(x.path("prob.yaml"), yaml.safe_dump(
             {"space": "nb201", "table": str(x.table), "metric": METRIC, "strategy_params": {"crossover_prob": 2}}))),
             "--out", str(x.path("x-prob"))], "crossover_prob is a probability"),
    Case("config with a table and a dataset",
         lambda x: ["search", "--config", str(write_yaml(x.path("both.yaml"), yaml.safe_dump(
             {"space": "nb201", "table": str(x.table), "metric": METRIC, "dataset": "cifar10"})))],
         "either --table"),
    # -- search: options -----------------------------------------------------------------------------------------
    Case("unknown space", lambda x: x.table_args("--space", "darts"), "invalid choice: 'darts'", subprocess=True),
    Case("unknown strategy", lambda x: x.table_args("--strategy", "evolution"), "invalid choice: 'evolution'"),
    Case("unknown objective", lambda x: x.table_args("--objectives", "error,speed"), "speed"),
    Case("zero budget", lambda x: x.table_args("--budget", "0"), "'0' must be at least 1"),
    Case("budget not a number", lambda x: x.table_args("--budget", "ten"), "'ten' is not an integer"),
    Case("negative seed", lambda x: x.table_args("--seed", "-1"), "'-1' must be at least 0"),
    Case("strategy option without a value", lambda x: x.table_args("-S", "n_doe"), "'n_doe' is not KEY=VALUE"),
    Case("strategy option of a list", lambda x: x.table_args("--strategy", "nsganetv2", "-S", "n_doe=[1, 2]"),
         "VALUE must be a number"),
    Case("strategy option of the wrong type",
         lambda x: x.table_args("-S", "mutation_prob=often", "--out", str(x.path("x-opt"))),
         "mutation_prob must be a number"),
    Case("strategy option naming the strategy",
         lambda x: x.table_args("-S", "name=random", "--out", str(x.path("x-name"))), "set it with --strategy"),
    Case("strategy option that has its own option",
         lambda x: x.table_args("-S", "pop_size=30", "--out", str(x.path("x-pop"))), "set it with --pop-size"),
    Case("misspelt strategy option",
         lambda x: x.table_args("-S", "crossover_prb=0.5", "--out", str(x.path("x-prb"))),
         "has no option 'crossover_prb' (did you mean crossover_prob?)"),
    Case("strategy option of a word for a number",
         lambda x: x.table_args("-S", "bn_order=abc", "--out", str(x.path("x-bn"))),
         "option 'bn_order' must be int or null, got 'abc'"),
    Case("config with pop_size among the strategy options",
         lambda x: ["search", "--config", str(write_yaml(x.path("sp-pop.yaml"), yaml.safe_dump(
             {"space": "nb201", "table": str(x.table), "metric": METRIC, "strategy_params": {"pop_size": 30}}))),
             "--out", str(x.path("x-sp-pop"))], "pop_size is not a strategy option: set it with --pop-size"),
    Case("abbreviated option", lambda x: x.table_args("--epoch", "1"),
         "unrecognized argument --epoch (did you mean --epochs?)"),
    Case("misspelt option", lambda x: x.table_args("--budjet", "3"), "nsganet search: error: unrecognized argument "
                                                                     "--budjet (did you mean --budget?)"),
    Case("misspelt space", lambda x: x.table_args("--space", "micor"), "invalid choice: 'micor' (did you mean micro?)"),
    Case("misspelt command", lambda x: ["serch", "--budget", "3"], "invalid choice: 'serch' (did you mean search?)"),
    Case("unknown surrogate predictor",
         lambda x: x.table_args("--strategy", "nsganetv2", "-S", "predictor=svm", "--out", str(x.path("x-pred"))),
         "svm"),
    Case("unknown dataset", lambda x: ["search", "--dataset", "imagenet21k"], "invalid choice: 'imagenet21k'"),
    Case("dataset without --data", lambda x: ["search", "--dataset", "cifar10", "-q"], "needs --data"),
    # -- search: tabular benchmarks ------------------------------------------------------------------------------
    Case("table for another space",
         lambda x: ["search", "--table", str(x.table), "--metric", METRIC, "-q", "--out", str(x.path("x-space"))],
         "micro"),
    Case("table without a metric", lambda x: [*NB201, "--table", str(x.table), "-q"], "--table and --metric"),
    Case("table file missing",
         lambda x: [*x.table_args("--table", str(x.path("none.csv"))), "--out", str(x.path("x-missing"))],
         "none.csv"),
    Case("table without the metric column",
         lambda x: [*x.table_args("--metric", "top5"), "--out", str(x.path("x-col"))], "top5"),
    Case("table row with an extra field",
         lambda x: [*x.table_args("--table", str(write_yaml(x.path("broken.csv"),
                                                            f"arch,{METRIC}\n{NB201_ARCH},93.1,extra\n"))),
                    "--out", str(x.path("x-broken"))], "broken.csv", subprocess=True),
    Case("table missing architectures",
         lambda x: [*x.table_args("--table", str(write_yaml(x.path("partial.csv"),
                                                            f"arch,{METRIC}\n{NB201_ARCH},93.1\n"))),
                    "--out", str(x.path("x-partial"))], "is not in table"),
    # -- search: datasets ----------------------------------------------------------------------------------------
    Case("CIFAR-10 batch truncated", _cifar_truncated, "data_batch_3: not a readable CIFAR python batch"),
    Case("CIFAR-10 batch corrupt", _cifar_corrupt, "data_batch_2: not a readable CIFAR python batch",
         subprocess=True),
    Case("CIFAR-10 batch missing",
         lambda x: _search_data("cifar10", x.folder("cifar-empty")), "data_batch_1: missing"),
    Case("CIFAR-10 batch pickling other objects", _cifar_foreign_global, "refused: the pickle references"),
    Case("CIFAR-10 label out of range",
         lambda x: _search_data("cifar10", write_cifar10(x.folder("cifar-label"), labels_of_batch_3=[3, 10])),
         "label 10 out of range 0..9"),
    Case("MNIST idx file with the wrong magic number",
         lambda x: _search_data("mnist", _swap_mnist(write_mnist(x.path("mnist-magic")))), "wrong magic number"),
    Case("MNIST idx file truncated",
         lambda x: _search_data("mnist", _truncate_mnist(write_mnist(x.path("mnist-cut")))),
         "train-labels-idx1-ubyte: truncated"),
    Case("MNIST gzip corrupt",
         lambda x: _search_data("mnist", _corrupt_gzip(write_mnist(x.path("mnist-gz")))), "corrupt gzip file"),
    Case("MNIST label out of range",
         lambda x: _search_data("mnist", write_mnist(x.path("mnist-label"), labels=[0, 1, 12, 3])),
         "label 12 out of range 0..9"),
    Case("numpy images of the wrong shape",
         lambda x: _search_data("numpy", write_npz(x.path("shape.npz"), x_train=np.zeros((4, 5, 8, 8), np.uint8),
                                                   y_train=np.array([0, 1, 0, 1])), "--image-size", "8"),
         "got shape (4, 5, 8, 8)"),
    Case("numpy labels out of range",
         lambda x: _search_data("numpy", write_npz(x.path("labels.npz"), x_train=np.zeros((4, 8, 8), np.uint8),
                                                   y_train=np.array([0, 1, 0, -1]))),
         "label -1 out of range"),
    Case("numpy dataset without images",
         lambda x: _search_data("numpy", write_npz(x.path("empty.npz"), x_train=np.zeros((0, 8, 8), np.uint8),
                                                   y_train=np.zeros(0, np.int64))),
         "x_train holds no images"),
    Case("numpy file that is not a .npz",
         lambda x: _search_data("numpy", write_yaml(x.path("text.npz"), "x_train,y_train\n")),
         "not a .npz file"),
    Case("image folder without images",
         lambda x: _search_data("folder", _empty_classes(x.folder("images-empty"))), "holds no images"),
    Case("image folder with an unreadable image",
         lambda x: _search_data("folder", _damaged_image(x.folder("images-damaged"))), "cannot read the image"),
    Case("image folder with images of different sizes",
         lambda x: _search_data("folder", write_images(x.folder("images-sizes"),
                                                       {"a": [(8, 8), (8, 8)], "b": [(8, 8), (9, 7)]})),
         "all images must have one size"),
    Case("image size zero", lambda x: ["search", "--image-size", "0", "-q"], "'0' must be from 1 to 4096"),
    Case("image size not a number", lambda x: ["search", "--image-size", "large", "-q"], "'large' is not an integer"),
    Case("official validation split of a dataset without one",
         lambda x: _search_data("folder", write_images(x.folder("images-novalid"), {"a": [(8, 8)] * 2,
                                                                                    "b": [(8, 8)] * 2}),
                                "--official-valid"), "has no official validation split; drop official_valid"),
    Case("unknown data mode", lambda x: ["search", "--data-mode", "disk", "-q"], "invalid choice: 'disk'"),
    Case("ImageNet layout without train/",
         lambda x: _search_data("imagenet", x.folder("imagenet-empty")), "has no train/ folder"),
    Case("Flowers-102 without its label file",
         lambda x: _search_data("flowers102", _flowers_without_labels(x.folder("flowers"))),
         "imagelabels.mat: missing"),
    # -- search: devices, precision, network options ------------------------------------------------------------
    Case("unknown device", lambda x: ["search", "--device", "tpu", "-q"], "device must be auto, cpu, cuda or cuda:N"),
    Case("fp16 on the CPU", lambda x: ["search", "--device", "cpu", "--amp", "fp16", "--budget", "2", "-q",
                                       "--out", str(x.path("x-fp16"))], "fp16 mixed precision needs a CUDA device"),
    Case("unknown mixed precision", lambda x: ["search", "--amp", "half", "-q"], "invalid choice: 'half'"),
    Case("unknown network option", lambda x: ["search", "-B", "stems=imagenet", "-q", "--out", str(x.path("x-B"))],
         "micro networks have no build option 'stems'"),
    Case("unknown micro stem", lambda x: ["search", "-B", "stem=mobile", "-q", "--out", str(x.path("x-stem"))],
         "micro stem must be one of cifar, imagenet"),
    Case("network option that is not KEY=VALUE", lambda x: ["search", "-B", "stem", "-q"], "'stem' is not KEY=VALUE"),
    # -- search: supernets ---------------------------------------------------------------------------------------
    Case("supernet with a table", lambda x: x.table_args("--supernet", str(x.supernet)), "cannot go with --table"),
    Case("supernet file missing",
         lambda x: ["search", "--space", "mobilenetv3", "--supernet", str(x.path("none.pt")), "-q",
                    "--out", str(x.path("x-sn-missing"))], "none.pt"),
    Case("supernet file corrupt",
         lambda x: ["search", "--space", "mobilenetv3", "--supernet", str(write_yaml(x.path("garbage.pt"), "x" * 999)),
                    "-q", "--out", str(x.path("x-sn-corrupt"))], "garbage.pt"),
    Case("supernet file holding a network's weights",
         lambda x: ["search", "--space", "mobilenetv3", "-q", "--out", str(x.path("x-sn-weights")), "--supernet",
                    str(save_state_dict(x.path("weights.pt"), "nb201", NB201_ARCH))],
         "is neither an nsganet supernet file nor a published supernet checkpoint"),
    Case("supernet for another space",
         lambda x: ["search", "--supernet", str(x.supernet), "-q", "--out", str(x.path("x-sn-space"))],
         "mobilenetv3"),
    Case("supernet for other data",
         lambda x: ["search", "--space", "mobilenetv3", "--supernet", str(x.supernet), "-q",
                    "--out", str(x.path("x-sn-data")), "--dataset", "numpy", "--data",
                    str(write_npz(x.path("rgb.npz"), x_train=np.zeros((8, 16, 16, 3), np.uint8),
                                  y_train=np.arange(8) % 2))],
         "1-channel images"),
    Case("supernet training with a negative learning rate",
         lambda x: ["supernet", "train", "--lr", "-1", "--out", str(x.path("x-sn-lr"))],
         "'-1' must be a positive number"),
    Case("supernet training from a missing file",
         lambda x: ["supernet", "train", "--init", str(x.path("none.pt")), "--epochs", "1", "-q",
                    "--out", str(x.path("x-sn-init"))], "none.pt"),
    Case("supernet training resumed from a corrupt checkpoint",
         lambda x: ["supernet", "train", "--resume", "--epochs", "1", "-q", "--out",
                    str(_file_in(x.folder("sn-ckpt"), "checkpoint.pt", b"\x80\x02garbage").parent)],
         "cannot read checkpoint"),
    Case("supernet training resumed from a checkpoint of another kind",
         lambda x: ["supernet", "train", "--resume", "--epochs", "1", "-q", "--out",
                    str(_torch_file(x.folder("sn-list") / "checkpoint.pt", [1, 2]).parent)],
         "is not an nsganet supernet training checkpoint"),
    Case("supernet training into a file",
         lambda x: ["supernet", "train", "--epochs", "1", "-q", "--out", str(_file_in(x.root, "sn-file", b""))],
         "cannot create"),
    # -- costs and draw: architecture strings --------------------------------------------------------------------
    Case("micro string with an unknown operation",
         lambda x: ["costs", "--space", "micro", "--arch", MICRO_ARCH.replace("identity(n1)", "conv_9x9(n1)", 1)],
         "unknown operation 'conv_9x9'"),
    Case("micro string with a node index out of range",
         lambda x: ["costs", "--space", "micro", "--arch", MICRO_ARCH.replace("identity(n3)", "identity(n7)", 1)],
         "cannot read n7"),
    Case("macro string with a bit that is not 0/1",
         lambda x: ["costs", "--space", "macro", "--arch", MACRO_ARCH.replace("00000-0", "00020-0", 1)],
         "'00020' must consist of 0s and 1s"),
    Case("macro string with a missing phase",
         lambda x: ["costs", "--space", "macro", "--arch", MACRO_ARCH.rsplit(" | ", 1)[0]], "must have 3 phase(s)"),
    Case("macro string with a node missing",
         lambda x: ["costs", "--space", "macro", "--arch", MACRO_ARCH.replace("-00000-0", "-0", 1)],
         "must have 6 groups"),
    Case("nb201 string with an unknown operation",
         lambda x: ["costs", "--arch", NB201_ARCH.replace("avg_pool_3x3", "conv_5x5")],
         "'conv_5x5~1' of node 2: unknown operation"),
    Case("nb201 string with an input index out of range",
         lambda x: ["costs", "--arch", NB201_ARCH.replace("skip_connect~2", "skip_connect~5")],
         "'skip_connect~5' of node 3: input index must be 2"),
    Case("mobilenetv3 string with an unknown resolution",
         lambda x: ["costs", "--space", "mobilenetv3", "--arch", MOBILENET_ARCH.replace("r192", "r999")],
         "resolution 'r999' is not one of"),
    Case("mobilenetv3 string with an unknown block",
         lambda x: ["costs", "--space", "mobilenetv3", "--arch", MOBILENET_ARCH.replace("k3e3", "k9e3", 1)],
         "layer 'k9e3' is not"),
    Case("mobilenetv3 string with too many layers in a stage",
         lambda x: ["costs", "--space", "mobilenetv3", "--arch",
                    MOBILENET_ARCH.replace("k3e3", "k3e3 k3e3 k3e3 k3e3", 1)],
         "stage 1 has 5 layer(s)"),
    Case("drawing a string with a bad index",
         lambda x: ["draw", MICRO_ARCH.replace("identity(h-1)", "identity(h-4)", 1), "--out", str(x.path("c.png"))],
         "'identity(h-4)' is not 'operation(input)'"),
    Case("drawing into an unwritable folder", lambda x: ["draw", MICRO_ARCH, "--out", f"{UNWRITABLE}/cell.png"],
         "cannot write /proc"),
    Case("costs of a run in another space", lambda x: ["costs", "--run", str(x.run), "--space", "micro"],
         "searched the nb201 space"),
    Case("costs of a folder that is not a run", lambda x: ["costs", "--run", str(x.folder("no-run")), NB201_ARCH],
         "is not a run directory"),
    Case("costs with a preset of no space", lambda x: ["costs", "--space", "mobilenetv3", "--preset", "tiny"],
         "the mobilenetv3 space has no preset 'tiny'; presets: small, imagenet"),
    Case("costs with a preset and a run", lambda x: ["costs", "--run", str(x.run), "--preset", "small"],
         "--preset cannot go with --run"),
    Case("costs given the architecture twice", lambda x: ["costs", NB201_ARCH, "--arch", NB201_ARCH],
         "give the architecture once"),
    Case("drawing a string of no preset",
         lambda x: ["draw", "--space", "mobilenetv3", MOBILENET_ARCH.replace("r192", "r999"), "--out",
                    str(x.path("m.png"))], "read in each of: preset imagenet, preset small"),
    # -- run directories -----------------------------------------------------------------------------------------
    Case("unwritable run directory", lambda x: x.table_args("--out", UNWRITABLE), "cannot write to run directory"),
    Case("run directory inside a file",
         lambda x: x.table_args("--out", str(_file_in(x.root, "plain-file", b"") / "run")),
         "cannot write to run directory"),
    Case("existing run without --resume", lambda x: x.table_args("--budget", "10", "--pop-size", "5",
                                                                 "--out", str(x.run)), "already holds a run"),
    Case("resuming a run with a changed config",
         lambda x: x.table_args("--budget", "10", "--pop-size", "5", "--out", str(x.run), "--resume",
                                "--objectives", "error,params"), "config differs in objectives"),
    Case("resuming a corrupt run store", lambda x: x.table_args("--out", str(_corrupt_store(x)), "--resume"),
         "not a usable SQLite database"),
    Case("resuming a truncated run store", lambda x: x.table_args("--out", str(_truncated_store(x)), "--resume"),
         "run.sqlite"),
    # -- select and report ---------------------------------------------------------------------------------------
    Case("select from a folder that is not a run", lambda x: ["select", str(x.folder("not-a-run"))],
         "is not a run directory"),
    Case("select from a corrupt run store", lambda x: ["select", str(_corrupt_store(x))],
         "not a usable SQLite database"),
    Case("select with a nonsense preference", lambda x: ["select", str(x.run), "--prefer", "fast"], "NAME=VALUE"),
    Case("select by an objective the run lacks", lambda x: ["select", str(x.run), "--prefer", "latency=3"],
         "not an objective of this run"),
    Case("select zero architectures", lambda x: ["select", str(x.run), "-n", "0"], "'0' must be at least 1"),
    Case("select into an unwritable folder",
         lambda x: ["select", str(x.run), "-n", "1", "--no-onnx", "--out", UNWRITABLE], "cannot create /proc"),
    Case("select over a network exported with other settings", lambda x: _exported_twice(x),
         "holds this network exported with build_options {\"channels\": 8}, not {}"),
    Case("select from a run whose config.yaml is damaged", lambda x: ["select", str(_damaged_config(x))],
         "config.yaml: unknown config key 'budjet'"),
    Case("report of a folder that is not a run", lambda x: ["report", str(x.folder("not-a-run"))],
         "is not a run directory"),
    Case("report of a truncated run store", lambda x: ["report", str(_truncated_store(x))], "run.sqlite"),
    Case("report into an unwritable folder", lambda x: ["report", str(x.run), "--out", UNWRITABLE], "/proc"),
    # -- train and evaluate: exported networks -------------------------------------------------------------------
    Case("train a missing network folder", lambda x: ["train", str(x.path("no-net")), "-q"], "no-net"),
    Case("train a network whose net.json is not JSON",
         lambda x: ["train", _net_variant(x, "net-json", text="{not json"), "-q"], "is not valid JSON"),
    Case("train a network of an unknown space",
         lambda x: ["train", _net_variant(x, "net-space", {"space": "darts"}), "-q"],
         "net.json: unknown space 'darts'"),
    Case("train a network with a bad architecture string",
         lambda x: ["train", _net_variant(x, "net-arch", {"arch": NB201_ARCH.replace("~0", "~4", 1)}), "-q"],
         "net.json: nb201 edge 'nor_conv_3x3~4' of node 1: input index must be 0"),
    Case("train a network with a wrong-typed field",
         lambda x: ["train", _net_variant(x, "net-type", {"num_classes": "ten"}), "-q"], "num_classes"),
    Case("train a network whose net.pt is corrupt",
         lambda x: ["train", _net_variant(x, "net-pt", weights=lambda p: p.write_bytes(b"PK\x03\x04broken")), "-q"],
         "cannot read weights"),
    Case("train a network whose net.pt is another architecture's",
         lambda x: ["train", _net_variant(x, "net-other", weights=lambda p: save_state_dict(
             p, "nb201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")), "-q"], "do not fit the network"),
    Case("train resumed from a corrupt checkpoint",
         lambda x: ["train", str(x.net), "--resume", "-q", "--out",
                    str(_file_in(x.folder("net-ckpt"), "checkpoint.pt", b"\x80\x02garbage").parent)],
         "cannot read checkpoint"),
    Case("train resumed from a checkpoint of another kind",
         lambda x: ["train", str(x.net), "--resume", "-q", "--out",
                    str(_torch_file(x.folder("net-sn") / "checkpoint.pt", {"format": "nsganet-supernet"}).parent)],
         "is not an nsganet re-training checkpoint"),
    Case("train into an unwritable folder", lambda x: ["train", str(x.net), "-q", "--out", UNWRITABLE],
         "cannot create /proc"),
    Case("evaluate with weights of another space",
         lambda x: ["evaluate", str(x.net), "--weights",
                    str(save_state_dict(x.path("micro.pt"), "micro", MICRO_ARCH))], "do not fit the network"),
    Case("evaluate with a missing weights file",
         lambda x: ["evaluate", str(x.net), "--weights", str(x.path("none.pt"))], "none.pt does not exist"),
    Case("evaluate on images of the wrong size",
         lambda x: ["evaluate", str(x.net), "--dataset", "numpy", "--data",
                    str(write_npz(x.path("large.npz"), x_train=np.zeros((10, 16, 16), np.uint8),
                                  y_train=np.arange(10), x_test=np.zeros((2, 16, 16), np.uint8),
                                  y_test=np.array([1, 0])))],
         "give --image-size 8"),
    Case("evaluate with a supernet file as weights", lambda x: ["evaluate", str(x.net), "--weights", str(x.supernet)],
         "is not a state_dict of tensors"),
    Case("evaluate into an unwritable folder",
         lambda x: ["evaluate", str(x.net), "--images", "4", "--eps", "none", "--out", UNWRITABLE],
         "cannot create /proc"),
    Case("evaluate with an unknown corruption", lambda x: ["evaluate", str(x.net), "--corruptions", "rain"], "rain"),
    Case("evaluate with a severity out of range", lambda x: ["evaluate", str(x.net), "--severities", "7"],
         "severity 7"),
    Case("train with an unknown augmentation policy", lambda x: ["train", str(x.net), "--aa", "autumn", "-q"],
         "unknown augmentation policy 'autumn'"),
    Case("train NSGANetV2 files whose net.config is not JSON",
         lambda x: ["train", str(_file_in(x.folder("v2-json"), "net.config", b"{not json").parent), "-q"],
         "net.config is not valid JSON"),
    Case("evaluate NSGANetV2 files whose net.config lacks an entry",
         lambda x: ["evaluate", str(_file_in(x.folder("v2-entry"), "net.config",
                                             b'{"name": "MobileNetV3", "bogus": 1}').parent)],
         "net.config lacks 'first_conv'"),
    Case("search with --supernet-epochs 0 and no supernet",
         lambda x: ["search", "--space", "mobilenetv3", "--strategy", "nsganetv2", "--supernet-epochs", "0", "-q"],
         "give at least 1 epoch"),
    # -- hostile values and sizes: numbers checked where they enter, sizes bounded before anything is allocated ---
    Case("config with a NaN learning rate",
         lambda x: ["search", "--config", str(write_yaml(x.path("nan.yaml"), "lr: .nan\n")), "-q",
                    "--out", str(x.path("x-nan"))], "lr must be a finite number, got nan"),
    Case("config with an infinite learning rate",
         lambda x: ["search", "--config", str(write_yaml(x.path("inf.yaml"), "lr: .inf\n")), "-q",
                    "--out", str(x.path("x-inf"))], "lr must be a finite number, got inf"),
    Case("infinite learning rate", lambda x: ["search", "--lr", "inf", "-q", "--out", str(x.path("x-lr"))],
         "'inf' must be a finite number"),
    Case("config nested too deeply",
         lambda x: ["search", "--config", str(write_yaml(x.path("deep.yaml"), "budget: " + "[" * 100_000 + "\n")),
                    "--out", str(x.path("x-deep"))],
         "is nested too deeply"),
    Case("strategy option of NaN", lambda x: x.table_args("-S", "mutation_prob=.nan", "--out", str(x.path("x-snan"))),
         "nsganetv1 option mutation_prob must be a finite number, got nan"),
    Case("network option of a billion layers",
         lambda x: ["search", "-B", "layers=1000000000", "-q", "--out", str(x.path("x-blayers"))],
         "micro build option layers must be from 1 to 64, got 1000000000"),
    Case("network option of infinite channels",
         lambda x: ["search", "-B", "channels=.inf", "-q", "--out", str(x.path("x-binf"))],
         "micro build option channels must be a finite number, got inf"),
    Case("network options too large for memory",
         lambda x: ["search", "-B", "channels=4096", "-B", "layers=64", "-q", "--out", str(x.path("x-bsize"))],
         "more than this machine's"),
    Case("proxy depth of a billion layers", lambda x: ["search", "--layers", "1000000000", "-q",
                                                       "--out", str(x.path("x-layers"))],
         "'1000000000' must be from 1 to 64"),
    Case("proxy width too large for memory",
         lambda x: ["search", "--channels", "4096", "--layers", "64", "--budget", "2", "--pop-size", "2", "-q",
                    "--out", str(x.path("x-width"))], "at channels 4096, layers 64 for 10 classes"),
    Case("table run of a trillion classes", lambda x: x.table_args("--num-classes", "1000000000000"),
         "'1000000000000' must be from 1 to 100000"),
    Case("images resized to 5000 px", lambda x: ["search", "--image-size", "5000", "-q", "--out", str(x.path("x-px"))],
         "'5000' must be from 1 to 4096"),
    Case("images resized beyond memory",
         lambda x: ["search", "--image-size", "4096", "-q", "--out", str(x.path("x-4k"))],
         "images to 4096x4096 px takes"),
    Case("numpy label of a trillion",
         lambda x: _search_data("numpy", write_npz(x.path("huge-label.npz"), x_train=np.zeros((4, 8, 8), np.uint8),
                                                   y_train=np.array([0, 1, 0, 10**12])),
                                "--out", str(x.path("x-label"))),
         "label 1000000000000 in"),
    Case("Flowers-102 labels of a trillion classes",
         lambda x: _search_data("flowers102", _flowers_with_labels(x.folder("flowers-huge"), [1, 10**12]),
                                "--out", str(x.path("x-flowers"))),
         "imagelabels.mat: 1,000,000,000,000 classes; nsganet takes at most 100,000"),
    Case("net.json of a trillion classes",
         lambda x: ["evaluate", _net_variant(x, "net-classes", {"num_classes": 10**12})],
         "net num_classes must be from 1 to 100000, got 1000000000000"),
    Case("net.json of a billion input channels",
         lambda x: ["evaluate", _net_variant(x, "net-inch", {"in_channels": 10**9})],
         "net in_channels must be from 1 to 64"),
    Case("net.json of a billion-pixel input",
         lambda x: ["evaluate", _net_variant(x, "net-insize", {"input_size": 10**9})],
         "net input_size must be from 1 to 4096"),
    Case("net.json of a negative input size",
         lambda x: ["evaluate", _net_variant(x, "net-negsize", {"input_size": -8})],
         "net input_size must be a positive integer, got -8"),
    Case("net.json with a billion layers",
         lambda x: ["evaluate", _net_variant(x, "net-layers", {"space": "micro", "arch": MICRO_ARCH,
                                                               "build_options": {"layers": 10**9}})],
         "micro build option layers must be from 1 to 64"),
    Case("net.json of a network too large for memory",
         lambda x: ["evaluate", _net_variant(x, "net-huge", {"space": "micro", "arch": MICRO_ARCH,
                                                             "build_options": {"channels": 4096, "layers": 64}})],
         "more than this machine's"),
    Case("net.json recording a billion-pixel image size",
         lambda x: ["evaluate", _net_variant(x, "net-dsize", {"dataset": {"name": "digits", "image_size": 10**9}})],
         "net dataset image_size must be from 1 to 4096"),
    Case("net.json nested too deeply",
         lambda x: ["evaluate", _net_variant(x, "net-deep", text="[" * 200_000 + "]" * 200_000)],
         "net.json is nested too deeply"),
    Case("net.json of two megabytes",
         lambda x: ["evaluate", _net_variant(x, "net-big", text=" " * (2 << 20) + "{}")],
         "a network description takes at most 1,048,576"),
    Case("net.json with a NaN mean",
         lambda x: ["evaluate", _net_variant(x, "net-nan", text=net_json_text({"mean": [float("nan")]}))],
         "net mean must hold finite numbers, got [nan]"),
    Case("net.json with an infinite std",
         lambda x: ["evaluate", _net_variant(x, "net-inf", text=net_json_text({"std": [float("inf")]}))],
         "net std must hold finite numbers, got [inf]"),
    Case("net.json with a std of 0", lambda x: ["evaluate", _net_variant(x, "net-std0", {"std": [0.0]})],
         "net std must be positive"),
    Case("evaluate --onnx with the ONNX file of a network of other classes",
         lambda x: ["evaluate", _onnx_of_another_network(x, "onnx-classes", num_classes=5, input_size=8,
                                                         in_channels=1), "--onnx", "--eps", "none"],
         "net.onnx is not the network of net.json: it returns 'logits' [N, 5]"),
    Case("evaluate --onnx with the ONNX file of a network of other images",
         lambda x: ["evaluate", _onnx_of_another_network(x, "onnx-size", num_classes=10, input_size=16,
                                                         in_channels=3), "--onnx", "--eps", "none"],
         "net.onnx is not the network of net.json: it takes 'input' [N, 3, 16, 16]"),
    # -- lut -----------------------------------------------------------------------------------------------------
    Case("lut import of a layer kind nsganet does not know",
         lambda x: ["lut", "import", str(write_yaml(x.path("kind.yaml"), "Pool-input:7x7x960: {mean: 1.0}\n")),
                    "--out", str(x.path("imported.json"))], "layer kind 'Pool', which nsganet does not know"),
    Case("lut import of a YAML list",
         lambda x: ["lut", "import", str(write_yaml(x.path("list-lut.yaml"), "- 1\n- 2\n")),
                    "--out", str(x.path("imported.json"))], "is a list, not a mapping of layer keys"),
    Case("lut file that is not JSON", lambda x: ["lut", "show", _lut_file(x, "{not json")], "lut.json"),
    Case("lut file of another kind", lambda x: ["lut", "show", _lut_file(x, '{"entries": 3}')],
         "is not an nsganet latency look-up table"),
    Case("lut of a supernet file that is corrupt",
         lambda x: ["lut", "build", "--supernet", str(write_yaml(x.path("bad-sn.pt"), "x" * 99)), "-q"], "bad-sn.pt"),
    Case("lut preset option with a supernet file",
         lambda x: ["lut", "build", "--supernet", str(x.supernet), "--image-size", "32", "-q"], "shapes a preset"),
    Case("unknown command", lambda x: ["evolve"], "invalid choice: 'evolve'"),
]


def _flowers_with_labels(folder: Path, labels: list[int]) -> Path:
    from scipy.io import savemat

    (folder / "jpg").mkdir(parents=True)
    savemat(folder / "imagelabels.mat", {"labels": np.array([labels], dtype=np.float64)})
    return folder


def _onnx_of_another_network(x: Inputs, name: str, **shape: int) -> str:
    """A digits nb201 network folder with fitting weights whose net.onnx holds a network of ``shape``."""
    import torch

    from nsganet.spaces import get_space
    from nsganet.utils.onnx import export_onnx

    space = get_space("nb201")
    options = space.proxy_options(None, None, use_defaults=True)
    folder = write_net_json(x.folder(name), {"build_options": options})
    save_state_dict(folder / "net.pt", "nb201", NB201_ARCH)
    other = space.build(space.from_string(NB201_ARCH), **shape, **options)
    export_onnx(other, folder / "net.onnx", torch.zeros(1, shape["in_channels"], shape["input_size"],
                                                        shape["input_size"]))
    return str(folder)


def _file_in(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def _torch_file(path: Path, obj: object) -> Path:
    import torch

    torch.save(obj, path)
    return path


def _damaged_config(x: Inputs) -> Path:
    """A copy of the healthy run whose config.yaml gained an unknown key."""
    folder = x.folder("config-run")
    (folder / "run.sqlite").write_bytes((x.run / "run.sqlite").read_bytes())
    (folder / "config.yaml").write_text((x.run / "config.yaml").read_text() + "budjet: 3\n")
    return folder


def _flowers_without_labels(folder: Path) -> Path:
    (folder / "jpg").mkdir(parents=True)
    return folder


def _swap_mnist(folder: Path) -> Path:
    """Put an image file where the training labels belong: it has the images' magic number."""
    (folder / "train-labels-idx1-ubyte").write_bytes((folder / "t10k-images-idx3-ubyte").read_bytes())
    return folder


def _truncate_mnist(folder: Path) -> Path:
    truncated(folder / "train-labels-idx1-ubyte")
    return folder


def _corrupt_gzip(folder: Path) -> Path:
    path = folder / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[20:40] = bytes(20)
    path.write_bytes(bytes(data))
    return folder


def _empty_classes(folder: Path) -> Path:
    for cls in ("a", "b"):
        (folder / "train" / cls).mkdir(parents=True)
        (folder / "train" / cls / "readme.txt").write_text("no images here")
    return folder


def _damaged_image(folder: Path) -> Path:
    write_images(folder, {"a": [(8, 8)], "b": [(8, 8)]})
    (folder / "train" / "b" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    return folder


# ------------------------------------------------------------------------------------------------------ running them


def run_in_process(argv: list[str]) -> tuple[int, str]:
    """``nsganet ARGV`` through :func:`nsganet.cli.main`: its exit code and stderr (stdout is discarded).

    The root logger is emptied for the call so that ``main`` sets up logging to the captured stderr, as the
    real command does; any exception other than argparse's ``SystemExit`` propagates.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        root.handlers = handlers
        root.setLevel(level)
    return code, err.getvalue()


def run_argv(case: Case, argv: list[str]) -> tuple[int, str]:
    """Run one case's command line, in-process or as a subprocess: exit code and stderr."""
    if case.subprocess:
        result = run_cli(*argv)
        return result.returncode, result.stderr
    return run_in_process(argv)


def problems(case: Case, code: int, err: str) -> list[str]:
    """What is wrong with the outcome of ``case``: anything but one line naming the problem and exit code 2."""
    found = []
    lines = err.splitlines()
    if code != 2:
        found.append(f"exit code {code}, not 2")
    if "Traceback" in err:
        found.append("a traceback")
    if len(lines) != 1 or not lines[0].strip():
        found.append(f"{len(lines)} lines on stderr")
    elif not lines[0].startswith("nsganet"):
        found.append("a message not starting with 'nsganet'")
    if case.expect not in err:
        found.append(f"no {case.expect!r} in the message")
    return found


def store_state(root: Path) -> dict[Path, object]:
    """Per run.sqlite under ``root``: its row count per table when intact, else its bytes."""
    states: dict[Path, object] = {}
    for path in sorted(root.rglob("run.sqlite")):
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("integrity check failed")
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                states[path] = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            states[path] = path.read_bytes()
    return states


def damaged_stores(before: dict[Path, object], after: dict[Path, object]) -> list[str]:
    """Stores the case changed: rows of intact stores, bytes of corrupt ones, or new stores that are not intact."""
    found = []
    for path, state in after.items():
        if path in before and state != before[path]:
            found.append(f"{path} changed")
        elif path not in before and not isinstance(state, dict):
            found.append(f"{path} was written and is damaged")
    return found


# ---------------------------------------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, nb201_table) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("bad-input"), nb201_table)


def test_there_are_enough_cases_and_each_is_named_once():
    names = [c.name for c in CASES]
    assert len(names) >= 40 and len(set(names)) == len(names)
    assert 2 <= sum(c.subprocess for c in CASES) <= 4  # the real command line, for a few


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_naming_the_problem_with_exit_code_2(case, inputs):
    argv = case.make(inputs)
    before = store_state(inputs.root)
    code, err = run_argv(case, argv)
    found = problems(case, code, err)
    assert not found, f"{case.name}: {', '.join(found)}; stderr: {err!r}"
    assert not damaged_stores(before, store_state(inputs.root))


def markdown_table(inputs: Inputs) -> str:
    """Every case run, as a Markdown table (input, exit code, message); cases that misbehave are marked."""
    rows = ["| # | input | exit | message |", "|---|---|---|---|"]
    for i, case in enumerate(CASES, 1):
        try:
            argv = case.make(inputs)
            before = store_state(inputs.root)
            code, err = run_argv(case, argv)
        except Exception as exc:  # a case that crashes is reported in the table, not fatal to the others
            code, err = -1, f"Traceback: {type(exc).__name__}: {exc}"
        wrong = problems(case, code, err)
        if code != -1:
            wrong += damaged_stores(before, store_state(inputs.root))
        message = " ".join(err.split()).replace(str(inputs.root), "TMP").replace("|", "\\|")
        flag = f" **FAILS: {'; '.join(wrong)}**" if wrong else ""
        rows.append(f"| {i} | {case.name}{' (subprocess)' if case.subprocess else ''} | {code} | `{message}`{flag} |")
    return "\n".join(rows)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not SHARED_TABLE.exists():
        sys.exit(f"{SHARED_TABLE} is not available")
    with tempfile.TemporaryDirectory() as tmp:
        print(markdown_table(Inputs(Path(tmp), SHARED_TABLE)))
