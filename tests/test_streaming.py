"""Streamed image data, split-aware loading, devices and mixed precision, V1's ImageNet stem.

Streamed batches are decoded in DataLoader worker processes; they must not
depend on the number of workers nor on how a multi-process run shards them,
and must hold the pixels the in-memory path holds. A search reads only the
splits it uses: a damaged test split stops ``evaluate``, never ``search``.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image
from test_bad_input import write_cifar10

from nsganet.config import SearchConfig
from nsganet.data import BatchLoader, StreamLoader, load_split, make_loader, prepare
from nsganet.data.augment import Augmentation
from nsganet.errors import ConfigError, NsganetError
from nsganet.spaces import get_space
from nsganet.train.loop import Precision, TrainSettings, accuracy, train
from nsganet.utils.device import amp_dtype, check_device, resolve_device

CLASSES = ("circle", "cross", "stripes")


def class_image(cls: int, k: int, size: int = 16) -> np.ndarray:
    """A learnable pattern per class (a bright centre, a cross, stripes) with a little noise."""
    rng = np.random.default_rng(100 * cls + k)
    image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    c = size // 2
    if cls == 0:
        image[c - 3:c + 3, c - 3:c + 3] = 230
    elif cls == 1:
        image[c - 1:c + 1, :] = 230
        image[:, c - 1:c + 1] = 230
    else:
        image[::4] = 230
    return image


def write_image_folder(root: Path, per_class: int = 16, garbage_test: bool = False) -> Path:
    """``train/<class>/*.png``; with ``garbage_test`` a ``test/`` of damaged files and an unknown class."""
    for cls, name in enumerate(CLASSES):
        (root / "train" / name).mkdir(parents=True)
        for k in range(per_class):
            Image.fromarray(class_image(cls, k)).save(root / "train" / name / f"{k:03d}.png")
    if garbage_test:
        (root / "test" / "circle").mkdir(parents=True)
        (root / "test" / "circle" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
        (root / "test" / "martian").mkdir()
        (root / "test" / "martian" / "1.png").write_bytes(b"not an image at all")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("images"))


def batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader]


def same_batches(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(a, b))


# ------------------------------------------------------------------------------------------------ the loaders


def test_stream_batches_do_not_depend_on_workers_and_cover_each_image_once(folder):
    data = load_split("folder", folder, "train", mode="stream")
    assert not data.in_memory and len(data) == 48
    augmentation = Augmentation(crop_padding=2, flip=True, cutout=4)

    def loader(workers: int) -> StreamLoader:
        return StreamLoader(data, 10, [0.5] * 3, [0.25] * 3, shuffle=True, augmentation=augmentation, seed=3,
                            workers=workers)

    alone, pooled = loader(0), loader(2)
    first = batches(alone)
    assert same_batches(first, batches(pooled))  # epoch 1, built in this process or in two workers
    second = batches(alone)
    assert same_batches(second, batches(pooled)) and not same_batches(first, second)  # epoch 2 differs
    assert [len(y) for _, y in first] == [10, 10, 10, 10, 8]
    labels = torch.cat([y for _, y in first])
    assert sorted(labels.tolist()) == sorted(data.labels.tolist())
    assert first[0][0].shape == (10, 3, 16, 16) and first[0][0].dtype == torch.float32


def test_stream_and_memory_loaders_hold_the_same_pixels(folder):
    stream = load_split("folder", folder, "train", mode="stream")
    memory = load_split("folder", folder, "train", mode="memory")
    assert memory.in_memory and torch.equal(memory.images, stream.read(slice(None)))
    mean, std = [0.2, 0.3, 0.4], [0.5, 0.5, 0.5]
    plain = batches(BatchLoader(memory, 16, mean, std, shuffle=False))
    streamed = batches(make_loader(stream, 16, mean, std, shuffle=False, workers=0))
    assert all(torch.allclose(x, u, atol=1e-6) and torch.equal(y, v) for (x, y), (u, v) in zip(plain, streamed))


@pytest.mark.parametrize("mode", ["memory", "stream"])
def test_shards_of_two_processes_make_up_the_global_batch(folder, mode):
    data = load_split("folder", folder, "train", mode=mode)
    augmentation = Augmentation(crop_padding=2, flip=True)

    def loader(shard):
        return make_loader(data, 8, [0.5] * 3, [0.25] * 3, shuffle=True, augmentation=augmentation, seed=1,
                           drop_last=True, workers=0, shard=shard)

    whole, rank0, rank1 = batches(loader((0, 1))), batches(loader((0, 2))), batches(loader((1, 2)))
    assert len(whole) == len(rank0) == len(rank1) == 6
    for (x, y), (x0, y0), (x1, y1) in zip(whole, rank0, rank1):
        assert torch.allclose(x[0::2], x0) and torch.allclose(x[1::2], x1)
        assert torch.equal(y[0::2], y0) and torch.equal(y[1::2], y1)


def test_stream_resolution_decodes_each_image_at_that_size(folder):
    data = load_split("folder", folder, "train", mode="stream")
    x, _ = next(iter(make_loader(data, 4, [0.5] * 3, [0.25] * 3, shuffle=False, resolution=12, workers=0)))
    assert x.shape == (4, 3, 12, 12)
    memory = load_split("folder", folder, "train", mode="memory")
    x, _ = next(iter(make_loader(memory, 4, [0.5] * 3, [0.25] * 3, shuffle=False, resolution=12)))
    assert x.shape == (4, 3, 16, 16)  # in memory images keep their size: the network resizes


def test_auto_mode_streams_what_does_not_fit(folder, monkeypatch):
    import nsganet.data

    files = nsganet.data.open_dataset("folder", folder).get("train")
    assert prepare(files, mode="auto").in_memory  # 48 images of 16x16: decoded once
    monkeypatch.setattr(nsganet.data, "MEMORY_LIMIT", files.bytes_in_memory() - 1)
    assert not prepare(files, mode="auto").in_memory
    assert prepare(files, mode="memory").in_memory and not prepare(files, mode="stream").in_memory
    with pytest.raises(NsganetError, match="data mode must be one of auto, memory, stream"):
        prepare(files, mode="disk")


# ------------------------------------------------------------------------------------------------ split-aware


def test_a_damaged_test_batch_does_not_stop_a_search(tmp_path):
    folder = write_cifar10(tmp_path / "cifar")
    (folder / "test_batch").write_bytes(pickle.dumps({"not": "a batch"}) + b"truncated")
    assert len(load_split("cifar10", folder, "train")) == 10
    with pytest.raises(NsganetError, match="test_batch"):
        load_split("cifar10", folder, "test")


@pytest.mark.slow
def test_search_streams_an_image_folder_whose_test_split_is_garbage(tmp_path):
    data = write_image_folder(tmp_path / "images", garbage_test=True)
    out = tmp_path / "run"
    result = run_cli("search", "--dataset", "folder", "--data", str(data), "--data-mode", "stream",
                     "--data-workers", "2", "--budget", "4", "--pop-size", "2", "--epochs", "6", "--batch-size", "8",
                     "--device", "cpu", "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    with open(out / "evaluations.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert min(float(r["error"]) for r in rows) < 100 * (1 - 1 / len(CLASSES))  # better than chance
    selected = run_cli("select", str(out), "-n", "1", "--no-onnx")
    assert selected.returncode == 0, selected.stderr
    net = next(p for p in (out / "selected").iterdir() if p.is_dir())
    evaluated = run_cli("evaluate", str(net), "--corruptions", "none", "--eps", "none")
    assert evaluated.returncode == 2 and len(evaluated.stderr.strip().splitlines()) == 1
    assert "martian" in evaluated.stderr or "0.png" in evaluated.stderr


@pytest.mark.slow
def test_mobilenetv3_subnets_are_fed_at_their_own_resolution_from_streamed_files(tmp_path):
    from nsganet.evaluators.supernet import SupernetEvaluator
    from nsganet.supernet.files import fit_supernet
    from nsganet.supernet.training import SupernetTrainSettings

    data = write_image_folder(tmp_path / "images", per_class=8)
    train = load_split("folder", data, "train", mode="stream")
    space = get_space("mobilenetv3").for_images(train.image_size, width_mult=0.35)
    supernet = fit_supernet(train, tmp_path / "supernet", SupernetTrainSettings(epochs=1, batch_size=12, n_random=1),
                            space, progress=False, device="cpu", data_workers=0)
    from nsganet.data import split_train_valid

    search_train, search_valid = split_train_valid(train, 0.25, seed=0)
    evaluator = SupernetEvaluator(supernet, search_train, search_valid)
    resolutions = sorted({evaluator.resolution(space.architecture(g)) for g in space.sample(np.random.default_rng(0),
                                                                                             12)})
    assert len(resolutions) > 1
    for r in resolutions:
        assert evaluator.calibration_at(r).shape[-2:] == (r, r)
    arch = space.architecture(space.smallest())
    assert 0 <= evaluator(arch)["error"] <= 100


# ------------------------------------------------------------------------------------------------ devices, precision


def test_device_names_are_checked():
    assert check_device("cuda:1") == "cuda:1" and resolve_device("cpu") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "CPU", ""):
        with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
            check_device(bad)
    with pytest.raises(ConfigError, match="device must be"):
        SearchConfig(device="tpu")
    with pytest.raises(ConfigError, match="amp must be one of auto, off, bf16, fp16"):
        SearchConfig(amp="half")
    if not torch.cuda.is_available():
        with pytest.raises(NsganetError, match="no CUDA GPU is visible"):
            resolve_device("cuda:0")


def test_mixed_precision_modes_per_device():
    assert amp_dtype("auto", "cpu") is None and amp_dtype("off", "cpu") is None
    assert amp_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 mixed precision needs a CUDA device"):
        Precision("fp16", "cpu")


def test_bf16_autocast_trains_on_the_cpu(folder, one_thread):
    data = load_split("folder", folder, "train", mode="memory")
    torch.manual_seed(0)
    model = get_space("micro").architecture(get_space("micro").largest()).build(num_classes=3, input_size=16,
                                                                                channels=8, layers=1)
    before = [p.detach().clone() for p in model.parameters()]
    loader = BatchLoader(data, 16, [0.2] * 3, [0.3] * 3, shuffle=True, seed=0, channels_last=True)
    history = train(model, loader, TrainSettings(epochs=2, lr=0.05, amp="bf16"))
    assert all(np.isfinite(history.losses)) and history.losses[-1] < history.losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast, not a bf16 model
    assert 0 <= accuracy(model, loader, amp="bf16") <= 100


def test_cli_rejects_unknown_devices_in_one_line(tmp_path):
    result = run_cli("search", "--device", "gpu0", "--budget", "2", "-q", "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "device must be auto, cpu, cuda or cuda:N" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ ImageNet stem


def test_micro_imagenet_stem_downsamples_8x_before_the_cells():
    from nsganet.costs.model import count_costs

    space = get_space("micro")
    genome = space.largest()
    cifar = space.build(genome, num_classes=5, input_size=64, channels=12, layers=1)
    imagenet = space.build(genome, num_classes=5, input_size=64, channels=12, layers=1, stem="imagenet")
    x = torch.randn(2, 3, 64, 64)
    seen = {}

    def first(module, inputs, output):
        seen["first"] = (inputs[0].shape, inputs[1].shape)

    def last(module, inputs, output):
        seen["last"] = output.shape

    imagenet.cells[0].register_forward_hook(first)
    imagenet.cells[-1].register_forward_hook(last)
    assert imagenet(x).shape == (2, 5) and cifar(x).shape == (2, 5)
    assert seen["first"][0][-1] == 16 and seen["first"][1][-1] == 8  # the two stems: 1/4 and 1/8 of the side
    assert seen["last"][-1] == 2  # two reductions more: 1/32
    assert count_costs(imagenet, (3, 64, 64))["flops"] < count_costs(cifar, (3, 64, 64))["flops"] / 10
    with pytest.raises(ConfigError, match="micro stem must be one of cifar, imagenet"):
        space.build(genome, stem="mobile")
    with pytest.raises(ConfigError, match="micro networks have no build option 'stems'"):
        space.check_build_options({"stems": "imagenet"})


def test_a_share_of_a_last_batch_smaller_than_the_processes_is_empty(folder):
    data = load_split("folder", folder, "train", mode="stream").subset(torch.arange(9))
    shares = [batches(make_loader(data, 8, [0.5] * 3, [0.25] * 3, shuffle=False, workers=0, shard=(rank, 2)))
              for rank in range(2)]
    assert [len(y) for _, y in shares[0]] == [4, 1] and [len(y) for _, y in shares[1]] == [4, 0]
    assert shares[1][1][0].shape == (0, 3, 16, 16)
