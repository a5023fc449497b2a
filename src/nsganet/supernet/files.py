"""Supernet files: what a trained once-for-all supernet is saved as, and how it is read back.

A supernet file (``supernet.pt``, written by ``nsganet supernet train``) holds
the weights and everything needed to rebuild the module and feed it data:
the :class:`~nsganet.spaces.mobilenetv3.SupernetConfig`, classes, input
channels and the normalisation statistics of the data it was trained on. It is
read with ``torch.load(weights_only=True)``: plain containers and tensors only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from nsganet.data import ImageDataset
from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3 import MobileNetV3Supernet
from nsganet.spaces.mobilenetv3 import SupernetConfig
from nsganet.supernet.training import FORMAT, SupernetTrainSettings, derived_seed, load_checkpoint, train_supernet

#: Normalisation of ImageNet images in OFA's checkpoints.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def supernet_meta(config: SupernetConfig, num_classes: int, in_channels: int, mean: list[float],
                  std: list[float], dataset: str = "") -> dict[str, Any]:
    """The description stored beside a supernet's weights."""
    return {"config": _plain(dataclasses.asdict(config)), "num_classes": int(num_classes),
            "in_channels": int(in_channels), "mean": [float(m) for m in mean], "std": [float(s) for s in std],
            "dataset": dataset}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def config_of(meta: dict[str, Any]) -> SupernetConfig:
    """The :class:`SupernetConfig` a supernet file describes."""
    try:
        return SupernetConfig(**meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NsganetError(f"the supernet file describes an invalid supernet: {exc}") from None


def build_supernet(meta: dict[str, Any]) -> MobileNetV3Supernet:
    """A freshly initialised supernet of the shape ``meta`` describes."""
    return MobileNetV3Supernet(config_of(meta), num_classes=meta["num_classes"], in_channels=meta["in_channels"])


def load_supernet(path: str | Path) -> tuple[MobileNetV3Supernet, dict[str, Any]]:
    """Read a supernet file into a module (eval mode) and its description."""
    path = Path(path)
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise NsganetError(f"{path} is not an nsganet supernet file (train one with 'nsganet supernet train'; "
                           "official OFA checkpoints go to 'nsganet supernet train --init')")
    missing = [k for k in ("config", "num_classes", "in_channels", "mean", "std", "state_dict") if k not in state]
    if missing:
        raise NsganetError(f"supernet file {path} lacks {', '.join(missing)}")
    supernet = build_supernet(state)
    try:
        supernet.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        raise NsganetError(f"supernet file {path} does not match its own description: "
                           f"{str(exc).splitlines()[0][:200]}") from None
    supernet.eval()
    meta = {k: v for k, v in state.items() if k != "state_dict"}
    return supernet, meta


def load_initial_supernet(path: str | Path) -> tuple[MobileNetV3Supernet, dict[str, Any]]:
    """A supernet to start training from: an nsganet supernet file or an official OFA checkpoint.

    OFA's ``ofa_mbv3_d234_e346_k357_w1.0`` and ``_w1.2`` ImageNet checkpoints map
    onto :meth:`SupernetConfig.imagenet` of their width (1000 classes, 3 channels).
    """
    from nsganet.supernet.ofa_weights import CheckpointError, load_ofa_checkpoint

    state = load_checkpoint(Path(path))
    if isinstance(state, dict) and state.get("format") == FORMAT:
        return load_supernet(path)
    problems = []
    for width in (1.0, 1.2):
        config = SupernetConfig.imagenet(width)
        supernet = MobileNetV3Supernet(config, num_classes=1000, in_channels=3)
        try:
            load_ofa_checkpoint(supernet, path)
        except CheckpointError as exc:
            problems.append(f"w{width}: {exc}")
            continue
        return supernet.eval(), supernet_meta(config, 1000, 3, list(IMAGENET_MEAN), list(IMAGENET_STD),
                                              dataset="imagenet (OFA)")
    raise NsganetError(f"{path} is neither an nsganet supernet file nor an OFA MobileNetV3 checkpoint "
                       f"({problems[0][:200]})")


def fit_supernet(train_set: ImageDataset, out: str | Path, settings: SupernetTrainSettings,
                 config: SupernetConfig | None = None, init: str | Path | None = None, seed: int = 0,
                 resume: bool = True, progress: bool = True) -> tuple[MobileNetV3Supernet, dict[str, Any]]:
    """Train a supernet on ``train_set`` (or fine-tune the one in ``init``) into ``out/supernet.pt``.

    Without ``init`` a supernet of ``config`` (default: the small preset for the
    data's image size, at least 16 px) is trained from scratch. With ``init`` —
    a supernet file or an official OFA checkpoint — its weights are the
    starting point: its classifier is replaced when the number of classes
    differs, and the expanded channels are sorted by importance before
    training (OFA), the NSGANetV2 recipe for a new dataset.
    """
    from nsganet.data import BatchLoader, channel_stats
    from nsganet.data.augment import Augmentation

    mean, std = channel_stats(train_set)
    classes, channels, size = train_set.num_classes, int(train_set.images.shape[1]), int(train_set.images.shape[-1])
    if init is not None:
        supernet, source = load_initial_supernet(init)
        if source["in_channels"] != channels:
            raise NsganetError(f"supernet {init} takes {source['in_channels']}-channel images; the data has {channels}")
        if source["num_classes"] != classes:
            torch.manual_seed(derived_seed(seed, "init"))
            supernet.classifier = torch.nn.Linear(supernet.classifier.in_features, classes)
            supernet.num_classes = classes
        supernet.sort_channels()
        config = config_of(source)
    else:
        config = config or SupernetConfig.small(max(size, 16))  # tiny images are upsampled in the network
        torch.manual_seed(derived_seed(seed, "init"))
        supernet = MobileNetV3Supernet(config, num_classes=classes, in_channels=channels)
    meta = supernet_meta(config, classes, channels, mean, std, dataset=train_set.name)
    augmentation = Augmentation(crop_padding=settings.crop_padding or max(1, size // 8), flip=train_set.flip)

    def loader_for_epoch(epoch: int, run_seed: int) -> BatchLoader:
        return BatchLoader(train_set, settings.batch_size, mean, std, shuffle=True, augmentation=augmentation,
                           seed=derived_seed(run_seed, "data", epoch),
                           drop_last=len(train_set) > settings.batch_size)

    train_supernet(supernet, loader_for_epoch, settings, Path(out), seed=seed,
                   meta={**meta, "init": None if init is None else str(init)}, resume=resume, progress=progress)
    return supernet.eval(), meta
