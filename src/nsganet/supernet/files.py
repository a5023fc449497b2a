"""Supernet files: what a trained weight-sharing supernet is saved as, how it is read back, and how one is made.

A supernet file (``supernet.pt``, written by ``nsganet supernet train`` or by
a search that trains its own) holds the weights and everything needed to
rebuild the module and feed it data: the space it belongs to and that space's
options (its shape), classes, input channels and the normalisation statistics
of the data it was trained on. It is read with ``torch.load(weights_only=True)``:
plain containers and tensors only. Any :class:`~nsganet.spaces.base.SupernetSpace`
is saved, read and trained the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nsganet.data import Augmentation, channel_stats, make_loader
from nsganet.errors import NsganetError
from nsganet.spaces import SPACES, SupernetSpace, get_space
from nsganet.supernet.training import SUPERNET_FILE, SupernetTrainSettings, train_supernet
from nsganet.train.checkpoint import TrainingListener, load_checkpoint
from nsganet.train.distributed import Distributed
from nsganet.utils.device import resolve_device
from nsganet.utils.files import atomic_save
from nsganet.utils.seeds import derived_seed

logger = logging.getLogger(__name__)

FORMAT, VERSION = "nsganet-supernet", 2
#: Version-1 files predate the ``space`` key: they hold supernets of the only supernet space of the time.
LEGACY_SPACE = "mobilenetv3"
_DESCRIPTION = ("num_classes", "in_channels", "mean", "std")


@dataclass
class TrainedSupernet:
    """A supernet ``module`` of ``space`` with what searching and exporting its subnets needs.

    ``mean``/``std`` normalise its inputs per channel (the statistics of the
    data it was trained on); ``dataset`` names that data and ``init`` the
    file it was fine-tuned from; ``path`` is where it was read from.
    """

    space: SupernetSpace
    module: nn.Module
    num_classes: int
    in_channels: int
    mean: list[float]
    std: list[float]
    dataset: str = ""
    init: str | None = None
    path: Path | None = field(default=None, compare=False)

    def extract(self, genome: np.ndarray) -> nn.Module:
        """The subnet of ``genome`` with copies of the supernet's weights (see :meth:`SupernetSpace.extract`)."""
        return self.space.extract(self.module, genome)

    def describe(self) -> dict[str, Any]:
        """The plain-valued description stored beside the weights."""
        return {"space": self.space.name, "space_options": self.space.options, "num_classes": int(self.num_classes),
                "in_channels": int(self.in_channels), "mean": [float(m) for m in self.mean],
                "std": [float(s) for s in self.std], "dataset": self.dataset, "init": self.init}

    def save(self, path: str | Path) -> Path:
        """Write the supernet file (atomically), the largest subnet active."""
        self.space.activate(self.module, self.space.largest())
        return atomic_save({"format": FORMAT, "version": VERSION, **self.describe(),
                            "state_dict": self.module.state_dict()}, path)


def _description(state: Any, path: Path) -> dict[str, Any]:
    """The description of a supernet file's contents, checked; version-1 files are read too."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise NsganetError(f"{path} is not an nsganet supernet file (train one with 'nsganet supernet train')")
    if state.get("version") == 1:  # {"config": ...} of the legacy space at the top level
        state = {**state, "space": LEGACY_SPACE, "space_options": {"config": state.get("config")}}
    elif state.get("version") != VERSION:
        raise NsganetError(f"supernet file {path} has version {state.get('version')!r}; this nsganet reads "
                           f"{VERSION} and 1")
    missing = [k for k in ("space", "space_options", *_DESCRIPTION, "state_dict") if k not in state]
    if missing:
        raise NsganetError(f"supernet file {path} lacks {', '.join(missing)}")
    return state


def supernet_space(state: dict[str, Any], path: Path) -> SupernetSpace:
    """The space a supernet file's description names, made with its options."""
    options = state["space_options"]
    if not isinstance(options, dict):
        raise NsganetError(f"supernet file {path} has space options {options!r}, not a mapping")
    try:
        space = get_space(state["space"], **options)
    except NsganetError as exc:
        raise NsganetError(f"the supernet file {path} describes an invalid supernet: {exc}") from None
    if not isinstance(space, SupernetSpace):
        raise NsganetError(f"supernet file {path} names the {space.name} space, which has no supernet")
    return space


def read_supernet_space(path: str | Path) -> SupernetSpace:
    """The space of the supernet in file ``path``: an nsganet supernet file (its weights are read but not
    built) or a published checkpoint (built, to learn its shape)."""
    path = Path(path)
    state = load_checkpoint(path)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        return supernet_space(_description(state, path), path)
    return load_supernet(path).space


def load_supernet(path: str | Path) -> TrainedSupernet:
    """Read a supernet into its module (eval mode, largest subnet active) and description.

    ``path`` is an nsganet supernet file, or a published checkpoint, which is
    offered to every registered :class:`~nsganet.spaces.base.SupernetSpace`
    (:meth:`~SupernetSpace.read_published`): OFA's
    ``ofa_mbv3_d234_e346_k357_w1.0`` and ``_w1.2`` ImageNet checkpoints (and
    others of their layout) are read by the ``mobilenetv3`` space.
    """
    path = Path(path)
    state = load_checkpoint(path)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        return _from_state(_description(state, path), path)
    problems = []
    for name, cls in SPACES.items():
        if not issubclass(cls, SupernetSpace):
            continue
        try:
            published = cls.read_published(path)
        except NsganetError as exc:
            problems.append(str(exc))
            continue
        if published is not None:
            space, module, info = published
            space.activate(module, space.largest())
            return TrainedSupernet(space, module.eval(), int(info["num_classes"]), int(info["in_channels"]),
                                   list(info["mean"]), list(info["std"]), str(info.get("dataset", name)), None, path)
    raise NsganetError(f"{path} is neither an nsganet supernet file nor a published supernet checkpoint"
                       + (f" ({problems[0].removeprefix(str(path) + ': ')})" if problems else ""))


def _from_state(state: dict[str, Any], path: Path) -> TrainedSupernet:
    """The supernet an nsganet supernet file's checked contents describe."""
    space = supernet_space(state, path)
    module = space.new_supernet(num_classes=state["num_classes"], in_channels=state["in_channels"])
    try:
        module.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        raise NsganetError(f"supernet file {path} does not match its own description: "
                           f"{str(exc).splitlines()[0][:200]}") from None
    space.activate(module, space.largest())
    return TrainedSupernet(space, module.eval(), int(state["num_classes"]), int(state["in_channels"]),
                           list(state["mean"]), list(state["std"]), str(state.get("dataset", "")),
                           state.get("init"), path)


def fit_supernet(train_set: Any, out: str | Path, settings: SupernetTrainSettings, space: SupernetSpace,
                 init: str | Path | None = None, seed: int = 0, resume: bool = True, progress: bool = True,
                 listeners: list[TrainingListener] | None = None, device: str = "auto",
                 data_workers: int | None = None) -> TrainedSupernet:
    """Train a supernet of ``space`` on ``train_set`` (or fine-tune the one in ``init``) into ``out/supernet.pt``.

    Without ``init`` a new supernet of ``space``'s shape is trained from
    scratch. With ``init`` — a supernet file or a published checkpoint — its
    weights (and shape) are the starting point, adapted to the data by
    :meth:`SupernetSpace.prepare_transfer` (for MobileNetV3 a new classifier
    when the number of classes differs and the expanded channels sorted by
    importance, as OFA does): the NSGANetV2 recipe for a new dataset.
    Training runs on ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``);
    under ``torchrun`` on every process of the launch, rank 0 writing the
    files. Streamed images are decoded at the largest subnet's resolution.
    """
    distributed = Distributed.from_environment(resolve_device(device))
    target = distributed.device(resolve_device(device))
    distributed.check_batch(settings.batch_size)
    mean, std = channel_stats(train_set)
    classes, channels, size = train_set.num_classes, train_set.channels, train_set.image_size
    if init is not None:
        start = load_supernet(init)
        if start.in_channels != channels:
            raise NsganetError(f"supernet {init} takes {start.in_channels}-channel images; the data has {channels}")
        space, module = start.space, start.module
        torch.manual_seed(derived_seed(seed, "init"))  # a new classifier, when there is one
        space.prepare_transfer(module, classes)
    else:
        torch.manual_seed(derived_seed(seed, "init"))
        module = space.new_supernet(num_classes=classes, in_channels=channels)
    trained = TrainedSupernet(space, module, classes, channels, mean, std, dataset=train_set.name,
                              init=None if init is None else str(init))
    augmentation = Augmentation(crop_padding=settings.crop_padding or max(1, size // 8), flip=train_set.flip)

    resolution = space.input_resolution(space.largest(), size)

    def loader_for_epoch(epoch: int, run_seed: int) -> Any:
        return make_loader(train_set, settings.batch_size, mean, std, shuffle=True, augmentation=augmentation,
                           seed=derived_seed(run_seed, "data", epoch), drop_last=len(train_set) > settings.batch_size,
                           resolution=resolution, workers=data_workers, pin_memory=target.type == "cuda",
                           shard=(distributed.rank, distributed.world_size))

    out = Path(out)
    train_supernet(module, space, loader_for_epoch, settings, out, seed=seed, meta=trained.describe(),
                   resume=resume, progress=progress, listeners=listeners, device=target, distributed=distributed)
    module.cpu()
    if distributed.is_main:
        trained.path = trained.save(out / SUPERNET_FILE)
    else:
        trained.path = out / SUPERNET_FILE
    distributed.barrier()
    module.eval()
    return trained
