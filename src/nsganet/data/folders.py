"""Datasets of image files in their published layouts: class folders, ImageNet, CINIC-10, Flowers102, Pets, DTD,
FGVC-Aircraft.

Each format lists its files and labels per split, as its authors lay them
out, and yields :class:`~nsganet.data.files.ImageFiles`: nothing is decoded
until an image is needed (a small split is then decoded into memory once, a
large one streams; :func:`nsganet.data.load_split` decides). A listed file
that is missing, or a label file with a line that does not parse, is a
one-line error naming the file; a damaged image is one when it is decoded.

Images are resized (bilinear) to ``image_size`` squares when given; formats
whose images differ in size use :data:`DEFAULT_SIZE` otherwise, and a
plain ``folder`` keeps its images' common size (they must share one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from nsganet.data.dataset import check_class_count, data_error
from nsganet.data.files import ImageFiles, grey_files, open_image
from nsganet.data.formats import Splits, dataset
from nsganet.data.readers import data_root

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Side (px) images of the formats whose images differ in size are resized to when no image size is given.
DEFAULT_SIZE = 224


def _class_folders(split: Path) -> list[Path]:
    return sorted(p for p in split.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _existing(path: Path, listed_in: Path | str) -> str:
    if not path.is_file():
        raise data_error(path, f"missing (listed in {listed_in})")
    return str(path)


def files_split(name: str, files: Sequence[str], labels: Sequence[int], classes: Sequence[str],
                image_size: int | None, default_size: int | None = None, channels: int | None = None,
                reference: tuple[int, int] | None = None, flip: bool = True) -> ImageFiles:
    """A split of image files: resized to ``image_size`` (else ``default_size``) squares, or all of one size.

    ``channels`` None: grey when the files are (see :func:`grey_files`).
    ``reference`` is the (width, height) every image must have when nothing
    resizes them (default: the first file's).
    """
    if not files:
        raise data_error(name, "the split holds no images")
    check_class_count(len(classes), name)
    if channels is None:
        channels = 1 if grey_files(list(files)) else 3
    size = image_size or default_size
    if size is not None:
        width = height = size
    else:
        width, height = reference or open_image(files[0])[0]
    return ImageFiles(name, list(files), torch.tensor(list(labels), dtype=torch.int64), len(classes), height, width,
                      channels, list(classes), resize=size is not None)


def _class_folder_split(name: str, split: Path, classes: list[str], image_size: int | None,
                        default_size: int | None, channels: int | None,
                        reference: tuple[int, int] | None = None) -> ImageFiles:
    """``split/<class>/<image files>``: every class folder must be one of ``classes`` and hold images."""
    index = {c: i for i, c in enumerate(classes)}
    files: list[str] = []
    labels: list[int] = []
    for folder in _class_folders(split):
        if folder.name not in index:
            raise data_error(folder, f"class '{folder.name}' is not among the train classes")
        images = _image_files(folder)
        if not images:
            raise data_error(folder, f"holds no images ({', '.join(IMAGE_SUFFIXES)})")
        files += map(str, images)
        labels += [index[folder.name]] * len(images)
    return files_split(name, files, labels, classes, image_size, default_size, channels, reference)


def _class_folder_format(name: str, root: Path, train: str, others: dict[str, Sequence[str]], image_size: int | None,
                         default_size: int | None = None, channels: int | None = None) -> Splits:
    """Splits of ``root/<train>/<class>/`` and, for each other split, the first of its folder names that exists."""
    train_dir = root / train
    if not train_dir.is_dir():
        raise data_error(root, f"has no {train}/ folder (expected {train}/<class>/<image files>)")
    classes = [p.name for p in _class_folders(train_dir)]
    if len(classes) < 2:
        raise data_error(train_dir, f"needs at least 2 class folders, found {len(classes)}")
    shape: dict[str, tuple[int, tuple[int, int] | None]] = {}

    def trained_shape() -> tuple[int, tuple[int, int] | None]:
        """Channels and (without resizing) the image size, decided by the train split."""
        if not shape:
            for folder in _class_folders(train_dir):
                if not _image_files(folder):
                    raise data_error(folder, f"holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files = [str(f) for c in _class_folders(train_dir) for f in _image_files(c)]
            shape["train"] = (channels or (1 if grey_files(files) else 3),
                              None if (image_size or default_size) else open_image(files[0])[0])
        return shape["train"]

    def split(folder: Path, suffix: str) -> Callable[[], ImageFiles]:
        def read() -> ImageFiles:
            c, reference = trained_shape()
            return _class_folder_split(f"{name}{suffix}", folder, classes, image_size, default_size, c, reference)
        return read

    readers = {"train": split(train_dir, "")}
    for key, names in others.items():
        folder = next((root / n for n in names if (root / n).is_dir()), None)
        if folder is not None:
            readers[key] = split(folder, f"-{key}")
    return Splits(name, readers)


@dataset("folder", data="DIR", files=True)
def open_folder(root: str | Path, image_size: int | None = None) -> Splits:
    """Class folders: ``root/train/<class>/*.png|jpg|jpeg|bmp`` and optionally ``root/val`` or ``root/test``.

    Classes are the train sub-folders sorted by name. Images become RGB, or
    one channel when they are grey. Without ``image_size`` they must share
    one size.
    """
    folder = data_root(root)
    return _class_folder_format(folder.name or "folder", folder, "train", {"test": ("val", "test")}, image_size)


@dataset("imagenet", data="DIR", files=True)
def open_imagenet(root: str | Path, image_size: int | None = None) -> Splits:
    """ImageNet (ILSVRC-2012) as class folders: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (the test split).

    The 1000 classes are the WordNet ids sorted; images are RGB, resized to
    ``image_size`` (default 224).
    """
    folder = data_root(root)
    return _class_folder_format("imagenet", folder, "train", {"test": ("val",)}, image_size, DEFAULT_SIZE, 3)


@dataset("cinic10", data="DIR", files=True)
def open_cinic10(root: str | Path, image_size: int | None = None) -> Splits:
    """CINIC-10: ``train/``, ``valid/`` and ``test/``, each with the ten CIFAR class folders of 32x32 PNGs.

    ``valid`` is CINIC-10's own validation split (a search can validate on it
    instead of holding out training images).
    """
    folder = data_root(root)
    return _class_folder_format("cinic10", folder, "train", {"valid": ("valid",), "test": ("test",)}, image_size,
                                None, 3)


def _listed_split(name: str, pairs: Sequence[tuple[str, int]], classes: Sequence[str],
                  image_size: int | None) -> ImageFiles:
    files = [f for f, _ in pairs]
    labels = [label for _, label in pairs]
    return files_split(name, files, labels, classes, image_size, DEFAULT_SIZE, 3)


def _lines(path: Path) -> list[str]:
    """The non-empty, non-comment lines of a text file."""
    if not path.is_file():
        raise data_error(path, "missing")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise data_error(path, f"cannot read ({type(exc).__name__})") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@dataset("flowers102", data="DIR", files=True)
def open_flowers102(root: str | Path, image_size: int | None = None) -> Splits:
    """Oxford Flowers-102: ``jpg/image_NNNNN.jpg``, ``imagelabels.mat`` (``labels``, 1..102) and ``setid.mat``
    (``trnid``, ``valid``, ``tstid``: 1-based image numbers of the train, validation and test splits)."""
    folder = data_root(root, "flowers102")
    images = folder / "jpg"
    if not images.is_dir():
        raise data_error(folder, "has no jpg/ folder (Flowers-102 keeps its images in jpg/)")
    labels = _mat_vector(folder / "imagelabels.mat", "labels")
    if labels.size == 0 or labels.min() < 1:
        raise data_error(folder / "imagelabels.mat", "labels must be 1-based class numbers")
    num_classes = int(labels.max())
    check_class_count(num_classes, folder / "imagelabels.mat")
    classes = [str(c) for c in range(1, num_classes + 1)]

    def split(key: str, suffix: str) -> Callable[[], ImageFiles]:
        def read() -> ImageFiles:
            ids = _mat_vector(folder / "setid.mat", key)
            pairs = []
            for image_id in ids.tolist():
                if not 1 <= image_id <= labels.size:
                    raise data_error(folder / "setid.mat", f"{key} names image {image_id}, but imagelabels.mat "
                                                           f"labels {labels.size} images")
                path = images / f"image_{image_id:05d}.jpg"
                pairs.append((_existing(path, folder / "setid.mat"), int(labels[image_id - 1]) - 1))
            return _listed_split(f"flowers102{suffix}", pairs, classes, image_size)
        return read

    return Splits("flowers102", {"train": split("trnid", ""), "valid": split("valid", "-valid"),
                                 "test": split("tstid", "-test")})


def _mat_vector(path: Path, key: str) -> np.ndarray:
    """Variable ``key`` of a MATLAB file as a flat integer vector (read by scipy: arrays only, no code)."""
    from scipy.io import loadmat

    if not path.is_file():
        raise data_error(path, "missing")
    try:
        content = loadmat(path, variable_names=[key])
    except Exception as exc:  # scipy raises several types for damaged files
        raise data_error(path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from exc
    if key not in content:
        raise data_error(path, f"has no variable '{key}'")
    values = np.asarray(content[key]).ravel()
    if not np.issubdtype(values.dtype, np.number) or not np.all(np.isfinite(values)) \
            or not np.all(values == np.round(values)):
        raise data_error(path, f"'{key}' must hold integers")
    return values.astype(np.int64)


@dataset("pets", data="DIR", files=True)
def open_pets(root: str | Path, image_size: int | None = None) -> Splits:
    """Oxford-IIIT Pets: ``images/<Breed>_<n>.jpg`` and ``annotations/trainval.txt``, ``annotations/test.txt``
    (lines ``<image> <class 1..37> <species> <breed id>``); the 37 breeds are the classes."""
    folder = data_root(root, "oxford-iiit-pet")
    images = folder / "images"
    if not images.is_dir():
        raise data_error(folder, "has no images/ folder")
    entries: dict[str, list[tuple[str, int]]] = {}
    names: dict[int, str] = {}
    for key, file in (("train", "trainval.txt"), ("test", "test.txt")):
        path = folder / "annotations" / file
        rows = []
        for number, line in enumerate(_lines(path), start=1):
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 37:
                raise data_error(path, f"line {number} is not '<image> <class 1..37> <species> <breed id>': {line!r}")
            label = int(parts[1]) - 1
            names.setdefault(label, parts[0].rsplit("_", 1)[0])
            rows.append((str(images / f"{parts[0]}.jpg"), label))
        entries[key] = rows
    classes = [names.get(i, str(i + 1)) for i in range(max(names) + 1)]

    def split(key: str, suffix: str) -> Callable[[], ImageFiles]:
        def read() -> ImageFiles:
            listed = folder / "annotations" / ("trainval.txt" if key == "train" else "test.txt")
            pairs = [(_existing(Path(f), listed), label) for f, label in entries[key]]
            return _listed_split(f"pets{suffix}", pairs, classes, image_size)
        return read

    return Splits("pets", {"train": split("train", ""), "test": split("test", "-test")})


#: The DTD split (1..10) read; the dataset's authors publish ten.
DTD_SPLIT = 1


@dataset("dtd", data="DIR", files=True)
def open_dtd(root: str | Path, image_size: int | None = None) -> Splits:
    """Describable Textures: ``images/<class>/*.jpg`` and ``labels/{train,val,test}1.txt`` (lines
    ``<class>/<file>.jpg``); split 1 of the ten."""
    folder = data_root(root, "dtd")
    images = folder / "images"
    if not images.is_dir():
        raise data_error(folder, "has no images/ folder")
    classes = [p.name for p in _class_folders(images)]
    if len(classes) < 2:
        raise data_error(images, f"needs at least 2 class folders, found {len(classes)}")
    index = {c: i for i, c in enumerate(classes)}

    def split(file: str, suffix: str) -> Callable[[], ImageFiles]:
        def read() -> ImageFiles:
            path = folder / "labels" / f"{file}{DTD_SPLIT}.txt"
            pairs = []
            for number, line in enumerate(_lines(path), start=1):
                label = line.split("/", 1)[0]
                if "/" not in line or label not in index:
                    raise data_error(path, f"line {number} is not '<class>/<image>' of a class in images/: {line!r}")
                pairs.append((_existing(images / line, path), index[label]))
            return _listed_split(f"dtd{suffix}", pairs, classes, image_size)
        return read

    return Splits("dtd", {"train": split("train", ""), "valid": split("val", "-valid"),
                          "test": split("test", "-test")})


#: Height of the copyright banner at the bottom of every FGVC-Aircraft image, cut off as its authors advise.
AIRCRAFT_BANNER = 20


@dataset("aircraft", data="DIR", files=True)
def open_aircraft(root: str | Path, image_size: int | None = None) -> Splits:
    """FGVC-Aircraft: ``data/images/<id>.jpg``, ``data/variants.txt`` and ``data/images_variant_{train,val,test}.txt``
    (lines ``<id> <variant>``); the 100 variants are the classes. The bottom 20-px banner is cut off."""
    folder = data_root(root, "fgvc-aircraft-2013b")
    data = folder / "data"
    if not data.is_dir():
        raise data_error(folder, "has no data/ folder")
    variants_file = data / "variants.txt"
    classes = _lines(variants_file) if variants_file.is_file() else \
        sorted({line.split(" ", 1)[1] for line in _lines(data / "images_variant_trainval.txt") if " " in line})
    index = {c: i for i, c in enumerate(classes)}

    def split(file: str, suffix: str) -> Callable[[], ImageFiles]:
        def read() -> ImageFiles:
            path = data / f"images_variant_{file}.txt"
            pairs = []
            for number, line in enumerate(_lines(path), start=1):
                image_id, _, variant = line.partition(" ")
                if variant not in index:
                    raise data_error(path, f"line {number} is not '<image id> <variant of variants.txt>': {line!r}")
                pairs.append((_existing(data / "images" / f"{image_id}.jpg", path), index[variant]))
            files = _listed_split(f"aircraft{suffix}", pairs, classes, image_size)
            files.crops = [_without_banner(f) for f in files.files]
            return files
        return read

    return Splits("aircraft", {"train": split("train", ""), "valid": split("val", "-valid"),
                               "test": split("test", "-test")})


def _without_banner(path: str) -> tuple[int, int, int, int]:
    (width, height), _ = open_image(path)
    return (0, 0, width, max(1, height - AIRCRAFT_BANNER))


def read_folder(root: str | Path, image_size: int | None = None) -> tuple:
    """Class folders' (train, test), decoded into memory (test is None without val/ or test/)."""
    train, test = open_folder(root, image_size).read_train_test()
    return train.materialize(), None if test is None else test.materialize()
