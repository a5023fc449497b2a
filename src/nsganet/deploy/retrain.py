"""Re-train or fine-tune an exported network folder (``nsganet train NET``) into a new exported folder.

The network is rebuilt from ``NET/net.json``; with ``NET/net.pt`` (weights
inherited from a supernet, or an earlier training) it is fine-tuned from
those weights (lower learning rate, EMA on), otherwise trained from scratch,
with an auxiliary head where the space has one. The data default to what the
network was searched on (``net.json``'s ``dataset``), normalised with its
mean/std; the best epoch is chosen on a held-out part of the training data.
Distillation uses the largest subnet of the supernet named in ``net.json``
(batch norm recalibrated on training images) as the teacher. The output
folder ends up an exported network itself: ``net.json`` (the same network,
without the auxiliary head, with a ``trained`` record in ``source``),
``net.pt`` (the best weights) and ``net.onnx``, next to the training files
of :func:`nsganet.train.recipe.fit`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nsganet.data import channel_stats
from nsganet.deploy.netfile import NetFolder, NetSpec, open_net, write_net
from nsganet.errors import NsganetError
from nsganet.spaces import ForeignNetFiles, SupernetSpace
from nsganet.train.distributed import Distributed
from nsganet.train.recipe import RetrainResult, RetrainSettings, fit, split_for
from nsganet.utils.device import resolve_device
from nsganet.utils.files import atomic_write
from nsganet.utils.seeds import derived_seed

logger = logging.getLogger(__name__)

TRAIN_DIR = "train"
SUMMARY_FILE = "train.json"
_CALIBRATION_IMAGES = 500


@dataclass
class NetTrainResult:
    """A trained network folder: where, its spec, how it was trained and what it reached."""

    out: Path
    spec: NetSpec
    settings: RetrainSettings
    finetuned: bool
    result: RetrainResult
    model: nn.Module  # the exported network (best weights, no auxiliary head), eval mode
    transfer: dict[str, Any] | None = None  # where it came from, when trained on other data (net.json records it)


def supports_auxiliary(spec: NetSpec) -> bool:
    """Whether the network's space builds an auxiliary head (``auxiliary=True``)."""
    return "auxiliary" in inspect.signature(spec.search_space().build).parameters


def _normaliser(from_mean: list[float], from_std: list[float], to_mean: list[float],
                to_std: list[float]) -> nn.Module | None:
    """A 1x1 affine map from one input normalisation to another, or None when they agree."""
    if list(from_mean) == list(to_mean) and list(from_std) == list(to_std):
        return None
    f_mean, f_std = torch.tensor(from_mean), torch.tensor(from_std)
    t_mean, t_std = torch.tensor(to_mean), torch.tensor(to_std)

    class Renormalise(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("scale", (f_std / t_std).view(1, -1, 1, 1))
            self.register_buffer("shift", ((f_mean - t_mean) / t_std).view(1, -1, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale + self.shift

    return Renormalise()


def supernet_teacher(spec: NetSpec, folder: Path, calibration: Any) -> nn.Module:
    """The largest subnet of the supernet ``spec.supernet`` names, batch norm recalibrated, as a teacher.

    ``calibration`` is the training data (in memory or streamed). The teacher
    takes inputs normalised with the network's mean/std (re-normalised to the
    supernet's when they differ).
    """
    from nsganet.data import make_loader
    from nsganet.nn.bn_calibration import recalibrate_bn
    from nsganet.supernet.files import load_supernet

    if not spec.supernet:
        raise NsganetError(f"distillation needs a supernet teacher, and {folder / 'net.json'} names none (networks "
                           "exported from mobilenetv3 runs have one); --distill 0 trains without it")
    path = Path(spec.supernet)
    if not path.is_absolute() and not path.exists():
        path = folder / path
    if not path.is_file():
        raise NsganetError(f"the teacher supernet {spec.supernet} named in {folder / 'net.json'} does not exist")
    supernet = load_supernet(path)
    if supernet.num_classes != spec.num_classes or supernet.in_channels != spec.in_channels:
        raise NsganetError(f"supernet {path} classifies {supernet.num_classes} classes of {supernet.in_channels}-"
                           f"channel images; the network {spec.num_classes} of {spec.in_channels}-channel ones")
    largest = supernet.extract(supernet.space.largest())
    generator = torch.Generator().manual_seed(0)
    n = min(_CALIBRATION_IMAGES, len(calibration))
    pick = torch.sort(torch.randperm(len(calibration), generator=generator)[:n]).values
    images = next(iter(make_loader(calibration.subset(pick), n, supernet.mean, supernet.std, shuffle=False)))[0]
    recalibrate_bn(largest, images)
    renormalise = _normaliser(spec.mean, spec.std, list(supernet.mean), list(supernet.std))
    teacher = largest if renormalise is None else nn.Sequential(renormalise, largest)
    return teacher.eval()


def _fitting_state(target: nn.Module, state: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` that ``target`` has (drops an auxiliary head); missing entries are an error."""
    keys = target.state_dict().keys()
    missing = [k for k in keys if k not in state]
    if missing:
        raise NsganetError(f"{where} lacks {missing[0]!r}; it does not fit the network")
    return {k: state[k] for k in keys}


def _load_inherited(model: nn.Module, spec: NetSpec, net: NetFolder, transfer: bool = False) -> list[str]:
    """Load the folder's weights (of the network without auxiliary head) into ``model`` (which may have one).

    With ``transfer`` ``spec`` is the network's on other data (other classes,
    channels or size) and ``net.spec`` its original: every tensor that still
    fits is kept, the rest (the classifier, a stem of other channels) start
    fresh. Returns the names of the tensors that start fresh.
    """
    if not transfer:
        plain = spec.build()
        net.load_into(plain)
        state = plain.state_dict()
    else:
        original = net.spec.build()
        net.load_into(original)
        target = spec.build().state_dict()
        state = {k: v for k, v in original.state_dict().items() if k in target and v.shape == target[k].shape}
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys or (not transfer and any(not k.startswith("auxiliary_head.")
                                                       for k in result.missing_keys)):
        raise NsganetError(f"weights {net.weights} do not fit the network being trained")
    return [k for k in result.missing_keys if not k.startswith("auxiliary_head.")]


def transfer_spec(spec: NetSpec, train_set: Any, record: dict[str, Any]) -> NetSpec | None:
    """The network of ``spec`` for other data (``train_set``, from ``record``): a new classifier, input size and
    input channels, normalised by the new data's statistics; None when the data fit the network as it is."""
    shape = (train_set.num_classes, train_set.image_size, train_set.channels)
    size_matters = not spec.search_space().resizes_input  # else any image size suits the network
    if (shape[0], shape[2]) == (spec.num_classes, spec.in_channels) and (shape[1] == spec.input_size
                                                                         or not size_matters):
        return None
    if train_set.height != train_set.width:
        raise NsganetError(f"the data's images are {train_set.width}x{train_set.height}: give --image-size PX to "
                           "train the network on squares")
    mean, std = channel_stats(train_set)
    return dataclasses.replace(spec, num_classes=shape[0], input_size=shape[1], in_channels=shape[2],
                               mean=[float(m) for m in mean], std=[float(v) for v in std],
                               dataset={k: record[k] for k in ("name", "data", "image_size")})


def train_net(net: str | Path, out: str | Path | None = None, overrides: dict[str, Any] | None = None, *,
              dataset: str | None = None, data: str | None = None, image_size: int | None = None,
              train_images: int | None = None, seed: int = 0,
              scratch: bool = False, resume: bool = False, progress: bool = True, device: str | None = None,
              onnx: bool = True, data_mode: str = "auto", data_workers: int | None = None,
              build_options: dict[str, Any] | None = None, recipe: str = "v1") -> NetTrainResult:
    """Train the exported network ``net`` into ``out`` (default ``NET/train``); see the module docstring.

    ``overrides`` replace the recipe's defaults (:meth:`RetrainSettings.defaults`,
    which depend on whether ``NET/net.pt`` is fine-tuned; ``scratch`` ignores it).
    ``train_images`` trains on a fixed random subset of that many images of
    the training part (quick experiments; validation keeps its full part).
    Only the training split is read (``data_mode``: in memory or streamed).
    ``device`` is ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or
    ``cuda:N``; under ``torchrun`` every process trains its share of each
    batch and rank 0 writes the output folder. ``build_options`` change the
    network's (e.g. ``stem="imagenet"`` for a micro network; from scratch).
    """
    folder = Path(net)
    if folder.name == "net.json":
        folder = folder.parent
    if not folder.is_dir():
        raise NsganetError(f"no such network folder: {folder}")
    net = open_net(folder)
    spec = net.spec
    if build_options:
        spec = dataclasses.replace(spec, build_options={
            **spec.build_options, **spec.search_space().check_build_options(build_options)})
    out = Path(out) if out is not None else folder / TRAIN_DIR
    if out.resolve() == folder.resolve():
        raise NsganetError("--out must differ from the network folder (it would overwrite net.json and net.pt)")
    train_set, data_record = spec.load_data(dataset, data, image_size, mode=data_mode, check=False)
    transferred = transfer_spec(spec, train_set, data_record)
    source_spec = spec
    if transferred is not None:  # V1 re-trains cell networks from scratch; V2 keeps a subnet's weights, new head
        spec = transferred
        scratch = scratch or not isinstance(spec.search_space(), SupernetSpace)
    finetune = net.has_weights and not scratch
    settings = RetrainSettings.for_recipe(recipe, finetune, **(overrides or {}))
    target = resolve_device(device)
    distributed = Distributed.from_environment(target)
    train_part, valid_part = split_for(settings, train_set, seed=seed)
    if train_images is not None:
        if train_images < 1:
            raise NsganetError(f"train_images must be positive, got {train_images}")
        if train_images < len(train_part):
            generator = torch.Generator().manual_seed(derived_seed(seed, "train_images"))
            keep = torch.randperm(len(train_part), generator=generator)[:train_images]
            train_part = train_part.subset(torch.sort(keep).values)
        data_record["train_images"] = len(train_part)

    has_auxiliary = supports_auxiliary(spec)
    auxiliary = settings.auxiliary and has_auxiliary
    # the exported network: the same build options, without an auxiliary head
    plain_spec = dataclasses.replace(spec, build_options={k: v for k, v in spec.build_options.items()
                                                          if not (has_auxiliary and k == "auxiliary")})
    torch.manual_seed(derived_seed(seed, "init"))
    model = plain_spec.build(auxiliary=True) if auxiliary else plain_spec.build()
    fresh = _load_inherited(model, plain_spec, net, transfer=transferred is not None) if finetune else []
    teacher = supernet_teacher(spec, folder, train_part) if settings.distill > 0 else None

    meta = {"net": json.loads(json.dumps(spec.to_dict())), "data": data_record, "finetune": finetune,
            "auxiliary": auxiliary, "teacher_file": spec.supernet if teacher is not None else None}
    result = fit(model, train_part, valid_part, settings, out, mean=spec.mean, std=spec.std, seed=seed,
                 teacher=teacher, meta=meta, resume=resume, progress=progress, device=target,
                 data_workers=data_workers, distributed=distributed)

    trained = {"from": str(folder.resolve()), "finetuned": finetune, "epochs": settings.epochs,
               "best_epoch": result.best_epoch, "valid_acc": result.best_accuracy, "data": data_record,
               "seed": seed}
    if transferred is not None:
        trained["transfer"] = {
            "from": {"dataset": source_spec.dataset, "num_classes": source_spec.num_classes,
                     "input_size": source_spec.input_size, "in_channels": source_spec.in_channels},
            "weights": ("inherited, " + (f"new {', '.join(sorted({k.rsplit('.', 1)[0] for k in fresh}))}"
                                         if fresh else "all kept")) if finetune else "from scratch"}
    out_spec = dataclasses.replace(plain_spec, dataset={k: data_record[k] for k in ("name", "data", "image_size")},
                                   source={**spec.source, "trained": trained})
    exported = out_spec.build()
    exported.load_state_dict(_fitting_state(exported, result.best_state, str(out / "best.pt")))
    if distributed.is_main:
        write_net(out, out_spec, exported, weights=True, onnx=onnx)
        space = out_spec.search_space()
        if isinstance(space, ForeignNetFiles):  # e.g. NSGANetV2's net.config and net.init
            space.write_foreign_files(out, out_spec.genome(), exported, trained=True)
        summary = {**trained, "settings": dataclasses.asdict(settings), "images_per_s": result.images_per_second,
                   "seconds": result.seconds, "device": str(target), "processes": distributed.world_size}
        atomic_write(out / SUMMARY_FILE, json.dumps(summary, indent=1) + "\n")
    distributed.barrier()
    return NetTrainResult(out, out_spec, settings, finetune, result, exported.eval(), trained.get("transfer"))
