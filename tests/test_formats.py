"""The published dataset layouts, each written here in small files exactly as its authors lay it out.

Every format is read split by split (the test split only when asked for),
checked for classes, labels and pixels, and its damaged or mislabelled files
give one-line errors naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from nsganet.data import load_split, open_dataset, search_split
from nsganet.errors import NsganetError


def fails(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(NsganetError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert match in message, message
    assert "\n" not in message
    return message


def solid(path: Path, value: int, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> None:
    """An image of one grey level (exact after JPEG compression, too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode=mode).save(path, quality=95)


def mean_levels(dataset) -> list[int]:
    return [round(float(x.float().mean())) for x in dataset.read(slice(None))]


# ------------------------------------------------------------------------------------------------ imagenet


def write_imagenet(root: Path) -> None:
    for k, wnid in enumerate(("n01440764", "n01443537", "n01484850")):
        for i in range(3):
            solid(root / "train" / wnid / f"{wnid}_{i}.JPEG", 40 * k + 10 * i, size=(40, 30))
        solid(root / "val" / wnid / f"ILSVRC2012_val_0000000{k}.JPEG", 40 * k, size=(30, 40))


def test_imagenet_class_folders_streamed_at_any_size(tmp_path):
    write_imagenet(tmp_path)
    splits = open_dataset("imagenet", tmp_path, image_size=16)
    train = splits.get("train")
    assert not train.in_memory and len(train) == 9 and train.num_classes == 3
    assert train.class_names == ["n01440764", "n01443537", "n01484850"]
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert train.read([0, 4]).shape == (2, 3, 16, 16) and train.read([4], size=8).shape == (1, 3, 8, 8)
    assert mean_levels(train.subset(torch.tensor([0, 4, 8]))) == [0, 50, 100]
    test = load_split("imagenet", tmp_path, "test", image_size=16)
    assert test.in_memory and test.labels.tolist() == [0, 1, 2]  # small: decoded into memory once
    assert load_split("imagenet", tmp_path, "train", mode="stream").image_size == 224  # the default side


def test_imagenet_bad_files(tmp_path):
    write_imagenet(tmp_path)
    (tmp_path / "val" / "n99999999").mkdir()
    fails("class 'n99999999' is not among the train classes", load_split, "imagenet", tmp_path, "test")
    broken = tmp_path / "train" / "n01443537" / "n01443537_1.JPEG"
    broken.write_bytes(broken.read_bytes()[:40])  # truncated
    fails("n01443537_1.JPEG: cannot read the image", load_split, "imagenet", tmp_path, "train", image_size=8,
          mode="memory")


# ------------------------------------------------------------------------------------------------ cinic10

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def write_cinic10(root: Path, per_class: int = 2) -> None:
    for split, base in (("train", 0), ("valid", 100), ("test", 200)):
        for k, name in enumerate(CIFAR_CLASSES):
            for i in range(per_class):
                solid(root / split / name / f"cifar10-{split}-{k}{i}.png", base + 5 * k + i, size=(32, 32))


def test_cinic10_valid_is_the_search_validation_split(tmp_path):
    write_cinic10(tmp_path)
    splits = open_dataset("cinic10", tmp_path)
    assert splits.has("valid") and splits.has("test")
    valid = load_split("cinic10", tmp_path, "valid")
    assert len(valid) == 20 and valid.num_classes == 10 and valid.image_size == 32
    assert mean_levels(valid)[:3] == [100, 101, 105]
    # the training split is all search-train, the official validation split validates
    train_set, train, search_valid = search_split("cinic10", tmp_path, None, 0.2, None, seed=0,
                                                  official_valid=True)
    assert train_set is train and len(train) == 20 and len(search_valid) == 20
    _, _, sample = search_split("cinic10", tmp_path, None, 0.2, 10, seed=0, official_valid=True)
    assert len(sample) == 10 and sorted(sample.labels.tolist()) == list(range(10))  # stratified
    assert set(mean_levels(search_valid)) == set(mean_levels(valid))
    # without official_valid, train and valid together are the training data, a part held out
    both, train, held_out = search_split("cinic10", tmp_path, None, 0.25, None, seed=0)
    assert len(both) == 40 and len(train) == 30 and len(held_out) == 10


def test_official_valid_needs_a_format_that_has_one(tmp_path):
    write_imagenet(tmp_path)
    fails("has no official validation split", search_split, "imagenet", tmp_path, 16, 0.2, None, 0,
          official_valid=True)


# ------------------------------------------------------------------------------------------------ stl10


def write_stl10(root: Path, n_train: int = 6, n_test: int = 4) -> np.ndarray:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {}
    for split, n in (("train", n_train), ("test", n_test)):
        hwc = rng.integers(0, 256, size=(n, 96, 96, 3), dtype=np.uint8)
        images[split] = hwc
        # STL-10 stores each image channel by channel, each channel column-major
        (folder / f"{split}_X.bin").write_bytes(hwc.transpose(0, 3, 2, 1).tobytes())
        (folder / f"{split}_y.bin").write_bytes(bytes([1 + i % 10 for i in range(n)]))
    (folder / "class_names.txt").write_text("\n".join(
        ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]) + "\n")
    (folder / "unlabeled_X.bin").write_bytes(b"")  # present in the archive, never read
    return images["train"]


def test_stl10_binary_pixels_and_labels(tmp_path):
    train_pixels = write_stl10(tmp_path)
    train = load_split("stl10", tmp_path, "train")
    assert train.images.shape == (6, 3, 96, 96) and train.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(train.images[2].numpy().transpose(1, 2, 0), train_pixels[2])
    assert train.class_names[7] == "monkey"
    assert len(load_split("stl10", tmp_path, "test")) == 4


def test_stl10_bad_files(tmp_path):
    write_stl10(tmp_path)
    folder = tmp_path / "stl10_binary"
    (folder / "test_X.bin").write_bytes((folder / "test_X.bin").read_bytes()[:-5])
    fails("test_X.bin: truncated", load_split, "stl10", tmp_path, "test")
    assert len(load_split("stl10", tmp_path, "train")) == 6  # the damaged test split does not matter
    (folder / "train_y.bin").write_bytes(bytes([1, 2, 3, 4, 5, 11]))
    fails("train_y.bin: label 11 out of range 1..10", load_split, "stl10", tmp_path, "train")


# ------------------------------------------------------------------------------------------------ flowers102


def write_flowers(root: Path) -> None:
    labels = [1, 1, 2, 2, 3, 3, 1, 2, 3, 1, 2, 3]
    for i, label in enumerate(labels, start=1):
        solid(root / "jpg" / f"image_{i:05d}.jpg", 20 * label + i, size=(50, 40))
    savemat(root / "imagelabels.mat", {"labels": np.array([labels], dtype=np.uint8)})
    savemat(root / "setid.mat", {"trnid": np.array([[1, 3, 5, 2]], dtype=np.uint16),
                                 "valid": np.array([[4, 6, 7]], dtype=np.uint16),
                                 "tstid": np.array([[8, 9, 10, 11, 12]], dtype=np.uint16)})


def test_flowers102_mat_files(tmp_path):
    write_flowers(tmp_path)
    train = load_split("flowers102", tmp_path, "train", image_size=8)  # train + the official valid
    assert len(train) == 7 and train.num_classes == 3
    assert train.labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert mean_levels(train)[:4] == [21, 43, 65, 22]
    test = load_split("flowers102", tmp_path, "test", image_size=8)
    assert test.labels.tolist() == [1, 2, 0, 1, 2]


def test_flowers102_bad_files(tmp_path):
    write_flowers(tmp_path)
    savemat(tmp_path / "setid.mat", {"trnid": np.array([[1, 30]]), "valid": np.array([[4]]),
                                     "tstid": np.array([[8]])})
    fails("setid.mat: trnid names image 30, but imagelabels.mat labels 12 images", load_split, "flowers102",
          tmp_path, "train", image_size=8)
    (tmp_path / "imagelabels.mat").write_bytes(b"MATLAB 5.0 but not really")
    fails("imagelabels.mat: not a readable MATLAB file", open_dataset, "flowers102", tmp_path)


# ------------------------------------------------------------------------------------------------ pets


def write_pets(root: Path) -> None:
    rows = {"trainval.txt": [("Abyssinian_1", 1, 1, 1), ("Abyssinian_2", 1, 1, 1), ("beagle_1", 2, 2, 1),
                             ("beagle_2", 2, 2, 1), ("Bengal_1", 3, 1, 2)],
            "test.txt": [("Abyssinian_3", 1, 1, 1), ("beagle_3", 2, 2, 1), ("Bengal_2", 3, 1, 2)]}
    lines = {}
    for file, entries in rows.items():
        lines[file] = ["#Image CLASS-ID SPECIES BREED ID"] + [" ".join(map(str, e)) for e in entries]
        for k, (name, label, _, _) in enumerate(entries):
            solid(root / "images" / f"{name}.jpg", 30 * label + k, size=(33, 27))
    (root / "annotations").mkdir()
    for file, text in lines.items():
        (root / "annotations" / file).write_text("\n".join(text) + "\n")


def test_pets_annotation_lists(tmp_path):
    write_pets(tmp_path / "oxford-iiit-pet")
    train = load_split("pets", tmp_path, "train", image_size=8)  # the archive's top folder is found
    assert train.class_names == ["Abyssinian", "beagle", "Bengal"]
    assert train.labels.tolist() == [0, 0, 1, 1, 2]
    assert load_split("pets", tmp_path, "test", image_size=8).labels.tolist() == [0, 1, 2]


def test_pets_bad_lines_and_missing_images(tmp_path):
    write_pets(tmp_path)
    listed = tmp_path / "annotations" / "test.txt"
    listed.write_text(listed.read_text() + "beagle_9 2 2 1\n")
    fails("beagle_9.jpg: missing (listed in", load_split, "pets", tmp_path, "test", image_size=8)
    assert len(load_split("pets", tmp_path, "train", image_size=8)) == 5  # a bad test list stops only the test split
    listed.write_text("beagle_3 forty 2 1\n")
    fails("test.txt: line 1 is not '<image> <class 1..37>", open_dataset, "pets", tmp_path)


# ------------------------------------------------------------------------------------------------ dtd


def write_dtd(root: Path) -> None:
    for k, name in enumerate(("banded", "blotchy", "braided")):
        for i in range(4):
            solid(root / "images" / name / f"{name}_{i:04d}.jpg", 50 * k + i, size=(45, 45))
    (root / "labels").mkdir()
    for file, picks in (("train1.txt", (0, 1)), ("val1.txt", (2,)), ("test1.txt", (3,))):
        (root / "labels" / file).write_text("".join(f"{n}/{n}_{i:04d}.jpg\n" for n in ("banded", "blotchy", "braided")
                                                    for i in picks))
    (root / "labels" / "train2.txt").write_text("another split, not read\n")


def test_dtd_split_one(tmp_path):
    write_dtd(tmp_path / "dtd")
    splits = open_dataset("dtd", tmp_path, image_size=8)
    assert splits.get("train").labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert mean_levels(splits.get("valid")) == [2, 52, 102]
    assert load_split("dtd", tmp_path, "test", image_size=8).labels.tolist() == [0, 1, 2]


def test_dtd_mislabelled_line(tmp_path):
    write_dtd(tmp_path)
    (tmp_path / "labels" / "val1.txt").write_text("banded/banded_0002.jpg\nstriped/striped_0001.jpg\n")
    fails("val1.txt: line 2 is not '<class>/<image>' of a class in images/", load_split, "dtd", tmp_path, "valid",
          image_size=8)


# ------------------------------------------------------------------------------------------------ aircraft


def write_aircraft(root: Path) -> None:
    data = root / "data"
    variants = ["707-320", "A300B4", "DHC-1"]
    (data / "images").mkdir(parents=True)
    (data / "variants.txt").write_text("\n".join(variants) + "\n")
    ids = {"train": [("1000001", 0), ("1000002", 1), ("1000003", 2)], "val": [("1000004", 0), ("1000005", 1)],
           "test": [("1000006", 2), ("1000007", 0)]}
    for split, entries in ids.items():
        for image_id, label in entries:
            path = data / "images" / f"{image_id}.jpg"
            pixels = np.full((60, 40, 3), 30 + 60 * label, dtype=np.uint8)
            pixels[-20:] = 255  # the copyright banner
            Image.fromarray(pixels).save(path, quality=95)
        (data / f"images_variant_{split}.txt").write_text("".join(f"{i} {variants[v]}\n" for i, v in entries))
    (data / "images_variant_trainval.txt").write_text(
        (data / "images_variant_train.txt").read_text() + (data / "images_variant_val.txt").read_text())


def test_aircraft_variants_and_banner(tmp_path):
    write_aircraft(tmp_path / "fgvc-aircraft-2013b")
    train = load_split("aircraft", tmp_path, "train", image_size=8)
    assert train.class_names == ["707-320", "A300B4", "DHC-1"] and train.labels.tolist() == [0, 1, 2, 0, 1]
    assert mean_levels(train) == [30, 90, 150, 30, 90]  # the white banner is cut off before resizing
    assert load_split("aircraft", tmp_path, "test", image_size=8).labels.tolist() == [2, 0]


def test_aircraft_unknown_variant(tmp_path):
    write_aircraft(tmp_path)
    (tmp_path / "data" / "images_variant_test.txt").write_text("1000006 Concorde\n")
    fails("images_variant_test.txt: line 1 is not '<image id> <variant of variants.txt>'", load_split, "aircraft",
          tmp_path, "test", image_size=8)


# ------------------------------------------------------------------------------------------------ every format


@pytest.mark.parametrize("name, write", [("imagenet", write_imagenet), ("cinic10", write_cinic10),
                                         ("flowers102", write_flowers), ("pets", write_pets), ("dtd", write_dtd),
                                         ("aircraft", write_aircraft)])
def test_memory_and_stream_hold_the_same_pixels(tmp_path, name, write):
    write(tmp_path)
    memory = load_split(name, tmp_path, "train", image_size=8, mode="memory")
    stream = load_split(name, tmp_path, "train", image_size=8, mode="stream")
    assert memory.in_memory and not stream.in_memory
    assert torch.equal(memory.images, stream.read(slice(None)))
    assert torch.equal(memory.labels, stream.labels) and memory.num_classes == stream.num_classes


def test_nsganet_list_says_what_each_format_reads_and_how_it_is_held(capsys):
    from nsganet.cli import main

    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    for name in ("imagenet", "cinic10", "flowers102", "pets", "dtd", "aircraft", "folder"):
        assert "DIR" in lines[name] and "streamed" in lines[name]
    assert "embedded" in lines["digits"] and "arrays" in lines["stl10"]
