"""Dataset readers on real files in each published format, splitting, statistics, augmentation and batching."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nsganet.data import (
    Augmentation,
    BatchLoader,
    ImageDataset,
    channel_stats,
    dataset_names,
    load_dataset,
    split_train_valid,
)
from nsganet.data.augment import cutout, random_crop, random_hflip
from nsganet.data.folders import read_folder
from nsganet.data.readers import read_cifar10, read_cifar100, read_fashion_mnist, read_mnist, read_numpy
from nsganet.errors import NsganetError


def fails(match: str, function, *args, **kwargs) -> str:
    """Call ``function`` expecting a one-line NsganetError that contains ``match``; return the message."""
    with pytest.raises(NsganetError) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert match in message, message
    return message


# ------------------------------------------------------------------------------------------------ CIFAR files


class _Py2Pickler(pickle._Pickler):
    """Writes pickles the way Python 2's cPickle wrote the published CIFAR batches (protocol 2).

    Python 2 strings become BINSTRING opcodes (read back as bytes with
    ``encoding="bytes"``) and numpy's array reconstructor is named
    ``numpy.core.multiarray._reconstruct``, as in the files from the CIFAR site.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", None) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def _dump_py2(path: Path, content: dict) -> None:
    with path.open("wb") as handle:
        _Py2Pickler(handle, protocol=2).dump(content)


def _cifar_rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar10(root: Path, per_batch: int = 3, py2: bool = True) -> dict[str, np.ndarray]:
    """A CIFAR-10 python-version folder with a few images per batch; returns each batch's rows."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    dump = _dump_py2 if py2 else (lambda p, c: p.write_bytes(pickle.dumps(c, protocol=4)))
    rows = {}
    for i, name in enumerate([*(f"data_batch_{b}" for b in range(1, 6)), "test_batch"]):
        data = _cifar_rows(per_batch, i)
        rows[name] = data
        labels = [(i + k) % 10 for k in range(per_batch)]
        dump(folder / name, {b"batch_label": b"batch " + name.encode(), b"labels": labels, b"data": data,
                             b"filenames": [f"img{k}.png".encode() for k in range(per_batch)]})
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    dump(folder / "batches.meta", {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072})
    return rows


def test_cifar10_reads_python2_batches_with_plane_order(tmp_path):
    rows = write_cifar10(tmp_path)
    # A known pattern in the first image: R at (1, 2), G at (3, 4), B at (5, 6).
    first = rows["data_batch_1"]
    first[0, :] = 0
    first[0, 0 * 1024 + 1 * 32 + 2] = 200
    first[0, 1 * 1024 + 3 * 32 + 4] = 100
    first[0, 2 * 1024 + 5 * 32 + 6] = 50
    folder = tmp_path / "cifar-10-batches-py"
    _dump_py2(folder / "data_batch_1", {b"labels": [0, 1, 2], b"data": first, b"batch_label": b"x"})
    for root in (tmp_path, folder):  # the parent folder and the batches folder both work
        train, test = read_cifar10(root)
        assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == torch.uint8
        assert train.labels.dtype == torch.int64 and train.labels[:3].tolist() == [0, 1, 2]
        assert test is not None and test.images.shape == (3, 3, 32, 32)
        assert train.class_names[0] == "airplane" and train.class_names[9] == "truck"
        assert train.num_classes == 10 and train.flip
        image = train.images[0]
        assert image[0, 1, 2] == 200 and image[1, 3, 4] == 100 and image[2, 5, 6] == 50
        assert int(image.sum()) == 350
        expected = np.concatenate([rows[f"data_batch_{b}"] for b in range(1, 6)]).reshape(-1, 3, 32, 32)
        assert np.array_equal(train.images.numpy(), expected)
        assert np.array_equal(test.images.numpy(), rows["test_batch"].reshape(-1, 3, 32, 32))
        assert test.labels.tolist() == [5, 6, 7]


def test_cifar10_python3_pickles_and_registry(tmp_path):
    write_cifar10(tmp_path, per_batch=2, py2=False)
    train, test = load_dataset("cifar10", tmp_path)
    assert len(train) == 10 and len(test) == 2


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train_rows, test_rows = _cifar_rows(4, 1), _cifar_rows(2, 2)
    _dump_py2(folder / "train", {b"data": train_rows, b"fine_labels": [99, 0, 42, 7], b"coarse_labels": [1, 2, 3, 4],
                                 b"filenames": [b"a", b"b", b"c", b"d"]})
    _dump_py2(folder / "test", {b"data": test_rows, b"fine_labels": [3, 98], b"coarse_labels": [0, 0]})
    _dump_py2(folder / "meta", {b"fine_label_names": [f"c{i}".encode() for i in range(100)],
                                b"coarse_label_names": [f"s{i}".encode() for i in range(20)]})
    train, test = read_cifar100(tmp_path)
    assert train.num_classes == 100 and train.labels.tolist() == [99, 0, 42, 7]
    assert test.labels.tolist() == [3, 98] and train.class_names[42] == "c42"
    assert np.array_equal(train.images.numpy(), train_rows.reshape(4, 3, 32, 32))


def test_cifar_missing_batch(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    fails("data_batch_3: missing", read_cifar10, tmp_path)


def test_cifar_corrupt_pickle(tmp_path):
    write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:500])
    fails("data_batch_2: not a readable CIFAR python batch", read_cifar10, tmp_path)
    batch.write_bytes(b"this is not a pickle at all")
    fails("data_batch_2", read_cifar10, tmp_path)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_cifar_pickle_with_forbidden_global_is_refused(tmp_path):
    write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": [0]}, protocol=4))
    message = fails("refused", read_cifar10, tmp_path)
    assert "system" in message and "data_batch_1" in message
    assert not marker.exists()


def test_cifar_mislabelled_and_malformed_batches(tmp_path):
    rows = write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    _dump_py2(folder / "data_batch_4", {b"data": rows["data_batch_4"], b"labels": [1, 12, 3]})
    fails("label 12 out of range 0..9 in", read_cifar10, tmp_path)
    _dump_py2(folder / "data_batch_4", {b"data": rows["data_batch_4"], b"labels": [1, 2]})
    fails("data_batch_4: 3 images but 2 labels", read_cifar10, tmp_path)
    _dump_py2(folder / "data_batch_4", {b"data": rows["data_batch_4"][:, :100], b"labels": [1, 2, 3]})
    fails("rows of 3072 bytes", read_cifar10, tmp_path)
    _dump_py2(folder / "data_batch_4", {b"labels": [1, 2, 3]})
    fails("has no 'data' entry", read_cifar10, tmp_path)
    _dump_py2(folder / "data_batch_4", [1, 2, 3])
    fails("expected a dict", read_cifar10, tmp_path)


# ------------------------------------------------------------------------------------------------ idx (MNIST)


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def write_mnist(root: Path, n_train: int = 6, n_test: int = 3, gz: bool = False) -> tuple[np.ndarray, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    files = {
        "train-images-idx3-ubyte": _idx_bytes(train, 0x803),
        "train-labels-idx1-ubyte": _idx_bytes(np.arange(n_train, dtype=np.uint8) % 10, 0x801),
        "t10k-images-idx3-ubyte": _idx_bytes(test, 0x803),
        "t10k-labels-idx1-ubyte": _idx_bytes(np.arange(n_test, dtype=np.uint8)[::-1] % 10, 0x801),
    }
    for name, content in files.items():
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (root / name).write_bytes(content)
    return train, test


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_plain_and_gzipped(tmp_path, gz):
    train_pixels, test_pixels = write_mnist(tmp_path, gz=gz)
    train, test = read_mnist(tmp_path)
    assert train.images.shape == (6, 1, 28, 28) and train.images.dtype == torch.uint8
    assert np.array_equal(train.images[:, 0].numpy(), train_pixels)
    assert np.array_equal(test.images[:, 0].numpy(), test_pixels)
    assert train.labels.tolist() == [0, 1, 2, 3, 4, 5] and test.labels.tolist() == [2, 1, 0]
    assert train.num_classes == 10 and not train.flip and not test.flip


def test_fashion_mnist_class_names(tmp_path):
    write_mnist(tmp_path, gz=True)
    train, _ = load_dataset("fashion-mnist", tmp_path)
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    assert not read_fashion_mnist(tmp_path)[0].flip


def test_idx_truncated_wrong_magic_and_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    content = images.read_bytes()
    images.write_bytes(content[:-100])
    fails("train-images-idx3-ubyte: truncated", read_mnist, tmp_path)
    images.write_bytes(content[:10])
    fails("truncated", read_mnist, tmp_path)
    images.write_bytes(content + b"\x00")
    fails("trailing bytes", read_mnist, tmp_path)
    images.write_bytes(struct.pack(">I", 0x801) + content[4:])
    fails("wrong magic number 0x00000801", read_mnist, tmp_path)
    images.write_bytes(content)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.zeros(5, dtype=np.uint8), 0x801))
    fails("6 images but train-labels-idx1-ubyte has 5 labels", read_mnist, tmp_path)
    labels.write_bytes(_idx_bytes(np.array([0, 1, 2, 10, 4, 5], dtype=np.uint8), 0x801))
    fails("label 10 out of range 0..9 in", read_mnist, tmp_path)
    labels.unlink()
    fails("train-labels-idx1-ubyte: missing", read_mnist, tmp_path)


def test_idx_corrupt_gzip(tmp_path):
    write_mnist(tmp_path, gz=True)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-12])
    fails("t10k-labels-idx1-ubyte.gz: corrupt gzip file", read_mnist, tmp_path)
    labels.write_bytes(b"garbage, not gzip")
    fails("corrupt gzip file", read_mnist, tmp_path)


# ------------------------------------------------------------------------------------------------ image folders


def _pattern(seed: int, size: tuple[int, int] = (6, 5)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)


def write_folder(root: Path) -> dict[str, np.ndarray]:
    """train/{cat,dog} as PNG and BMP (lossless), val/dog as JPEG; returns the pixels of each lossless file."""
    pixels = {}
    for cls, fmt in (("dog", "png"), ("cat", "bmp")):
        (root / "train" / cls).mkdir(parents=True)
        for k in range(3):
            array = _pattern(10 * len(cls) + k)
            Image.fromarray(array).save(root / "train" / cls / f"{k}.{fmt}")
            pixels[f"{cls}/{k}"] = array
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    (root / "val" / "dog").mkdir(parents=True)
    Image.fromarray(np.full((5, 6, 3), 120, dtype=np.uint8)).save(root / "val" / "dog" / "a.jpg", quality=95)
    return pixels


def test_folder_reads_classes_and_pixels(tmp_path):
    pixels = write_folder(tmp_path)
    train, test = read_folder(tmp_path)
    assert train.class_names == ["cat", "dog"] and train.num_classes == 2
    assert train.images.shape == (6, 3, 5, 6) and train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(train.images[0].numpy().transpose(1, 2, 0), pixels["cat/0"])
    assert np.array_equal(train.images[5].numpy().transpose(1, 2, 0), pixels["dog/2"])
    assert test is not None and test.labels.tolist() == [1] and test.images.shape == (1, 3, 5, 6)
    assert abs(int(test.images.float().mean()) - 120) <= 2  # JPEG is lossy


def test_folder_grayscale_and_resize(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        Image.fromarray(np.full((4, 4), 10, dtype=np.uint8)).save(tmp_path / "train" / cls / "x.png")
        Image.fromarray(np.full((8, 8), 20, dtype=np.uint8)).save(tmp_path / "train" / cls / "y.png")
    fails("image is 8x8 but", read_folder, tmp_path)
    train, test = load_dataset("folder", tmp_path, image_size=6)
    assert test is None and train.images.shape == (4, 1, 6, 6)
    assert train.images[0].unique().tolist() == [10] and train.images[1].unique().tolist() == [20]


def test_folder_bad_inputs(tmp_path):
    write_folder(tmp_path)
    Image.fromarray(_pattern(3, size=(7, 5))).save(tmp_path / "train" / "dog" / "big.png")
    message = fails("big.png: image is 7x5 but", read_folder, tmp_path)
    assert "6x5" in message
    (tmp_path / "train" / "dog" / "big.png").unlink()
    (tmp_path / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    fails("broken.png: cannot read the image", read_folder, tmp_path)
    (tmp_path / "train" / "dog" / "broken.png").unlink()
    (tmp_path / "val" / "wolf").mkdir()
    fails("class 'wolf' is not among the train classes", read_folder, tmp_path)
    fails("has no train/ folder", read_folder, tmp_path / "train")
    fails("no such file or directory", read_folder, tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------------ numpy .npz


def test_numpy_layouts_and_dtypes(tmp_path):
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, size=(8, 5, 4, 3), dtype=np.uint8)
    path = tmp_path / "set.npz"
    np.savez(path, x_train=nhwc, y_train=np.arange(8) % 4, x_test=nhwc[:2], y_test=np.array([[3], [0]]))
    train, test = read_numpy(path)
    assert train.images.shape == (8, 3, 5, 4) and train.num_classes == 4
    assert np.array_equal(train.images.numpy(), nhwc.transpose(0, 3, 1, 2))
    assert test.labels.tolist() == [3, 0]
    np.savez(path, x_train=nhwc.transpose(0, 3, 1, 2), y_train=np.arange(8) % 4)
    train, test = read_numpy(path)
    assert test is None and np.array_equal(train.images.numpy(), nhwc.transpose(0, 3, 1, 2))
    gray = rng.random((6, 7, 7)).astype(np.float32)
    gray[0, 0, 0], gray[0, 0, 1] = 0.0, 1.0
    np.savez(path, x_train=gray, y_train=np.array([0, 1, 2, 0, 1, 2], dtype=np.uint8))
    train, _ = load_dataset("numpy", path)
    assert train.images.shape == (6, 1, 7, 7) and train.images.dtype == torch.uint8
    assert train.images[0, 0, 0, :2].tolist() == [0, 255]
    assert np.array_equal(train.images[:, 0].numpy(), np.rint(gray * 255).astype(np.uint8))


def test_numpy_bad_inputs(tmp_path):
    path = tmp_path / "bad.npz"
    x = np.zeros((4, 8, 8), dtype=np.uint8)
    np.savez(path, x_train=x)
    fails("bad.npz: missing y_train", read_numpy, path)
    np.savez(path, images=x, labels=np.zeros(4, dtype=int))
    fails("missing x_train and y_train", read_numpy, path)
    np.savez(path, x_train=np.zeros((4, 8), dtype=np.uint8), y_train=np.array([0, 1, 0, 1]))
    fails("images must be N×H×W", read_numpy, path)
    np.savez(path, x_train=np.zeros((4, 5, 8, 8), dtype=np.uint8), y_train=np.array([0, 1, 0, 1]))
    fails("shape (4, 5, 8, 8)", read_numpy, path)
    np.savez(path, x_train=x, y_train=np.array([0, 1, 0]))
    fails("x_train has 4 images but y_train has 3 labels", read_numpy, path)
    np.savez(path, x_train=x, y_train=np.array([0.0, 1.0, 0.5, 1.0]))
    fails("labels must be integers", read_numpy, path)
    np.savez(path, x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=x[:1], y_test=np.array([2]))
    fails("label 2 out of range 0..1", read_numpy, path)
    np.savez(path, x_train=x.astype(np.float32) + 2, y_train=np.array([0, 1, 0, 1]))
    fails("float images must lie in [0, 1]", read_numpy, path)
    np.savez(path, x_train=x[:0], y_train=np.array([], dtype=np.int64))
    fails("holds no images", read_numpy, path)
    np.save(tmp_path / "single.npy", x)
    fails("single .npy array", read_numpy, tmp_path / "single.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    fails("junk.npz: not a readable .npz file", read_numpy, tmp_path / "junk.npz")
    np.savez(path, x_train=np.array([object(), object()], dtype=object), y_train=np.array([0, 1]))
    fails("not a readable .npz file", read_numpy, path)


# ------------------------------------------------------------------------------------------------ registry, digits


def test_registry_errors():
    assert dataset_names()[0] == "digits" and {"cifar10", "cifar100", "mnist", "numpy"} <= set(dataset_names())
    fails("unknown dataset 'imagenet21k'; known datasets: digits", load_dataset, "imagenet21k")
    fails("dataset cifar10 needs --data DIR", load_dataset, "cifar10")
    fails("dataset numpy needs --data FILE.npz", load_dataset, "numpy")
    fails("digits is embedded; --data is not used", load_dataset, "digits", "/tmp")


def test_digits_loads_with_fixed_test_split():
    train, test = load_dataset("digits")
    assert len(train) + len(test) == 1797 and len(test) == 359
    assert train.images.shape[1:] == (1, 8, 8) and train.num_classes == 10 and not train.flip
    assert int(train.images.max()) == 255 and train.images.dtype == torch.uint8
    assert torch.bincount(test.labels, minlength=10).min() >= 34  # stratified: ~36 of each digit
    again, _ = load_dataset("digits")
    assert torch.equal(again.images, train.images)


# ------------------------------------------------------------------------------------------------ ImageDataset


def _toy(n: int = 40, classes: int = 4, channels: int = 3, size: int = 6, seed: int = 0) -> ImageDataset:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=generator)
    return ImageDataset("toy", images, torch.arange(n) % classes, classes)


def test_image_dataset_validation():
    images = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    fails("toy: the dataset is empty", ImageDataset, "toy", images[:0], torch.zeros(0, dtype=torch.int64), 2)
    fails("label 12 out of range 0..9 in toy", ImageDataset, "toy", images, torch.tensor([0, 12, 1]), 10)
    fails("label -1 out of range", ImageDataset, "toy", images, torch.tensor([0, -1, 1]), 10)
    fails("3 images but 2 labels", ImageDataset, "toy", images, torch.tensor([0, 1]), 2)
    fails("4-D uint8", ImageDataset, "toy", images.float(), torch.tensor([0, 1, 1]), 2)
    fails("1-D int64", ImageDataset, "toy", images, torch.tensor([0, 1, 1], dtype=torch.int32), 2)
    fails("at least 2 classes", ImageDataset, "toy", images, torch.tensor([0, 0, 0]), 1)
    dataset = _toy()
    assert (dataset.channels, dataset.height, dataset.width, len(dataset)) == (3, 6, 6, 40)
    part = dataset.subset([5, 1])
    assert torch.equal(part.images, dataset.images[[5, 1]]) and part.labels.tolist() == [1, 1]


def test_split_is_stratified_deterministic_and_disjoint():
    dataset = _toy(n=103, classes=5)
    train, valid = split_train_valid(dataset, 0.2, seed=3)
    assert len(valid) == round(103 * 0.2) and len(train) + len(valid) == 103
    assert set(torch.bincount(valid.labels, minlength=5).tolist()) <= {4, 5}
    # Images are random, so matching images identifies indices: together they cover every index exactly once.
    key = {bytes(img.numpy()): i for i, img in enumerate(dataset.images)}
    train_idx = [key[bytes(img.numpy())] for img in train.images]
    valid_idx = [key[bytes(img.numpy())] for img in valid.images]
    assert sorted(train_idx + valid_idx) == list(range(103))
    again_train, again_valid = split_train_valid(dataset, 0.2, seed=3)
    assert torch.equal(again_valid.images, valid.images) and torch.equal(again_train.labels, train.labels)
    _, other = split_train_valid(dataset, 0.2, seed=4)
    assert not torch.equal(other.images, valid.images)


def test_split_small_classes_and_too_small():
    images = torch.zeros(5, 1, 2, 2, dtype=torch.uint8)
    train, valid = split_train_valid(ImageDataset("s", images, torch.tensor([0, 0, 1, 2, 2]), 3), 0.2)
    assert sorted(valid.labels.tolist()) == [0, 2] and sorted(train.labels.tolist()) == [0, 1, 2]
    fails("too few to split", split_train_valid, ImageDataset("s", images[:2], torch.tensor([0, 1]), 2))
    fails("valid_fraction", split_train_valid, _toy(), 1.5)


def test_channel_stats_match_direct_computation():
    dataset = _toy(n=5000, channels=3, size=4)  # more than one chunk
    mean, std = channel_stats(dataset)
    pixels = dataset.images.numpy().astype(np.float64) / 255.0
    assert np.allclose(mean, pixels.mean(axis=(0, 2, 3)), atol=1e-12)
    assert np.allclose(std, pixels.std(axis=(0, 2, 3)), atol=1e-10)


# ------------------------------------------------------------------------------------------------ augmentation


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augmentations_keep_shape_and_are_deterministic():
    x = torch.rand(16, 3, 10, 12, generator=_generator(9))
    for augment in (lambda g: random_crop(x, 3, g), lambda g: random_hflip(x, g), lambda g: cutout(x, 4, g),
                    lambda g: Augmentation(2, True, 3)(x, g)):
        first, second = augment(_generator(1)), augment(_generator(1))
        assert first.shape == x.shape and torch.equal(first, second)
        assert not torch.equal(augment(_generator(2)), first)
    assert torch.equal(Augmentation()(x, _generator()), x)
    fails("must be >= 0", Augmentation, crop_padding=-1)


def test_random_crop_shifts_by_at_most_padding():
    padding, size = 3, 12
    x = torch.zeros(64, 1, size, size)
    x[:, 0, 5, 7] = 1.0  # one bright pixel, far enough from the border to stay inside any crop
    x[:, 0, 6, 7] = 0.5
    out = random_crop(x, padding, _generator())
    shifts = set()
    for image in out[:, 0]:
        ys, xs = torch.nonzero(image == 1.0, as_tuple=True)
        assert len(ys) == 1
        dy, dx = int(ys[0]) - 5, int(xs[0]) - 7
        assert abs(dy) <= padding and abs(dx) <= padding
        expected = torch.zeros(size, size)
        expected[5 + dy, 7 + dx], expected[6 + dy, 7 + dx] = 1.0, 0.5
        assert torch.equal(image, expected)
        shifts.add((dy, dx))
    assert len(shifts) > 10


def test_cutout_zeroes_a_square():
    size, side = 4, 32
    out = cutout(torch.ones(200, 2, side, side), size, _generator())
    interior = 0
    for image in out:
        assert torch.equal(image[0], image[1])  # the same square in every channel
        ys, xs = torch.nonzero(image[0] == 0, as_tuple=True)
        top, bottom, left, right = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
        assert len(ys) == (bottom - top + 1) * (right - left + 1)  # a filled rectangle
        if top > 0 and left > 0 and bottom < side - 1 and right < side - 1:
            interior += 1
            assert bottom - top + 1 == size and right - left + 1 == size
        else:
            assert bottom - top + 1 <= size and right - left + 1 <= size
    assert interior > 100


def test_hflip_flips_about_half():
    x = torch.arange(64 * 5, dtype=torch.float32).view(64, 1, 1, 5)
    out = random_hflip(x, _generator())
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, x)]
    assert all(f or torch.equal(o, i) for f, o, i in zip(flipped, out, x))
    assert 16 < sum(flipped) < 48


# ------------------------------------------------------------------------------------------------ BatchLoader


def _indexed(n: int = 50) -> ImageDataset:
    """Image i is filled with the value i, so a batch tells which images it holds."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 2, 3, 3).clone()
    return ImageDataset("indexed", images, torch.arange(n) % 3, 3)


def _ids(x: torch.Tensor) -> list[int]:
    return torch.round(x[:, 0, 0, 0] * 255).long().tolist()


def test_loader_covers_each_index_once_per_epoch():
    dataset = _indexed()
    loader = BatchLoader(dataset, 16, [0.0, 0.0], [1.0, 1.0], shuffle=True, seed=5)
    assert len(loader) == 4
    epochs = []
    for _ in range(2):
        ids, labels = [], []
        for x, y in loader:
            assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == (2, 3, 3)
            ids += _ids(x)
            labels += y.tolist()
        assert sorted(ids) == list(range(50)) and labels == [i % 3 for i in ids]
        epochs.append(ids)
    assert epochs[0] != epochs[1]
    in_order = BatchLoader(dataset, 16, [0.0, 0.0], [1.0, 1.0], shuffle=False)
    assert [i for x, _ in in_order for i in _ids(x)] == list(range(50))
    dropping = BatchLoader(dataset, 16, [0.0, 0.0], [1.0, 1.0], shuffle=True, drop_last=True)
    assert len(dropping) == 3 and [len(y) for _, y in dropping] == [16, 16, 16]


def test_loader_normalises_and_is_reproducible():
    dataset = _toy(n=30, channels=3)
    mean, std = [0.2, 0.5, 0.7], [0.1, 0.2, 0.3]
    x, _ = next(iter(BatchLoader(dataset, 30, mean, std, shuffle=False, channels_last=True)))
    expected = (dataset.images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(x, expected, atol=1e-5) and x.is_contiguous(memory_format=torch.channels_last)

    def run(seed: int) -> list[torch.Tensor]:
        loader = BatchLoader(dataset, 8, mean, std, shuffle=True, augmentation=Augmentation(2, True, 2), seed=seed)
        next(iter(loader))  # an epoch abandoned after one batch does not change the next epoch
        return [x for x, _ in loader]

    first, second = run(1), run(1)
    assert all(torch.equal(a, b) for a, b in zip(first, second)) and len(first) == 4
    assert not torch.equal(run(2)[0], first[0])
    fails("2 means", BatchLoader, dataset, 8, [0.0, 0.0], [1.0, 1.0], shuffle=True)
    fails("batch size", BatchLoader, dataset, 0, mean, std, shuffle=True)
