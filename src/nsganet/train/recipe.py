"""Re-training and fine-tuning a network with the NSGANetV1 / NSGANetV2 recipes, checkpointed every epoch.

:class:`RetrainSettings` holds a recipe (:meth:`RetrainSettings.for_recipe`:
``v1``, ``imagenet``, ``cifar``). The ``v1`` recipe (V1, Sec. IV-B and
Table I; V2's fine-tuning from inherited weights):

* SGD with momentum 0.9 and weight decay 5e-4, batch size 96, a cosine
  learning-rate schedule from ``lr`` (0.025 from scratch, 0.005 when
  fine-tuning inherited weights) to zero over all steps, gradients clipped at
  norm 5; 30 epochs by default (the papers trained 600 on CIFAR: the embedded
  8x8 digits need far fewer);
* random crop (padding 1/8 of the image side), horizontal flip where the data
  allows it, cutout of half the image side (16 px on 32 px images, as V1);
* scheduled drop-path rising linearly from 0 to 0.2 over the epochs, for
  networks that have it (``drop_path_prob``: the micro space);
* an auxiliary head after the second reduction whose loss is added with
  weight 0.4 (any network returning ``(logits, aux_logits)`` when training);
* an exponential moving average of the weights (decay 0.9998, on by default
  when fine-tuning inherited weights), which is then what is validated and
  saved;
* optionally, distillation from a teacher (the supernet's largest subnet):
  ``distill`` times the KL divergence of the student's from the teacher's
  softened predictions is added to the loss (OFA-style knowledge distillation);
* the best epoch is chosen on a held-out, stratified validation part of the
  *training* data (never the test split); with ``valid_fraction=0`` all
  training data is used and the best weights are the last.

NSGANetV2's ``imagenet`` recipe (its README's timm command) replaces SGD and
the cosine by RMSprop in TensorFlow's form (:mod:`nsganet.train.optim`) with
a step decay after a warm-up, the crop by a random resized crop, adds
RandAugment and random erasing (:mod:`nsganet.data.policies`), a classifier
dropout and a constant, block-scaled drop-path, label smoothing, an EMA and
distillation; its ``cifar`` recipe (``train_cifar.py``) is SGD with a per-epoch
cosine and AutoAugment's CIFAR-10 policy before a black cutout. The settings
say which; the loop is the same.

:func:`fit` trains any ``nn.Module`` this way (the hand-designed baselines
too). Into its output folder it writes, after every epoch, ``checkpoint.pt``
(model, optimiser, EMA, epoch, history, settings; atomically), ``best.pt`` and
``last.pt`` (state dicts of the validated weights: the EMA's when it is on),
``curves.csv`` and (at most every 30 s, and at the end) ``curves.png``. An
interrupted run resumes from its last checkpoint and ends with bit-identical
weights (on the CPU; GPU kernels may not be deterministic), because every
epoch's data order, augmentation and dropout draws come from seeds derived
from (seed, epoch).

The data may be held in memory or streamed from image files (see
:func:`nsganet.data.make_loader`); the forward pass runs in the precision of
``settings.amp``. Under ``torchrun`` every process trains its share of each
batch in a ``DistributedDataParallel`` network (see
:mod:`nsganet.train.distributed`), validation is split over the processes,
and rank 0 alone writes files.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nsganet.data import channel_stats, make_loader, split_train_valid
from nsganet.errors import NsganetError
from nsganet.train.checkpoint import Checkpointed, ProgressBar, TrainingListener, load_checkpoint
from nsganet.train.curves import CURVE_COLUMNS, CurvesWriter
from nsganet.train.distributed import Distributed
from nsganet.train.ema import ModelEMA
from nsganet.train.loop import Precision, classification_loss, correct_count, distillation_loss, train_epoch
from nsganet.train.optim import LRSchedule, make_optimizer
from nsganet.train.settings import RetrainSettings
from nsganet.utils.files import atomic_save
from nsganet.utils.seeds import derived_seed

logger = logging.getLogger(__name__)

BEST_FILE, LAST_FILE = "best.pt", "last.pt"
CHECKPOINT_FORMAT = "nsganet-retrain"
_VALID_BATCH = 256


def split_for(settings: RetrainSettings, train_set: Any, seed: int = 0) -> tuple[Any, Any | None]:
    """(training part, validation part) of the training data; no validation part when valid_fraction is 0."""
    if settings.valid_fraction == 0:
        return train_set, None
    return split_train_valid(train_set, settings.valid_fraction, seed=seed)


@dataclass
class RetrainResult:
    """What :func:`fit` produced: the model (last weights, trained in place) and the chosen ones."""

    model: nn.Module
    best_state: dict[str, torch.Tensor]
    best_accuracy: float | None  # validation accuracy (%) of best_state; None without a validation part
    best_epoch: int
    history: dict[str, list[float]] = field(default_factory=dict)
    out: Path = Path()

    @property
    def epochs(self) -> int:
        return len(self.history.get("epoch", []))

    @property
    def images_per_second(self) -> float:
        """Training throughput over all epochs (training loop only, without validation)."""
        images = [ips * s for ips, s in zip(self.history["images_per_s"], self.history["train_seconds"])]
        return sum(images) / max(sum(self.history["train_seconds"]), 1e-9)

    @property
    def seconds(self) -> float:
        """Wall time of all epochs, validation and saving included (summed over resumed runs)."""
        return float(sum(self.history["seconds"]))


def _empty_history() -> dict[str, list[float]]:
    return {name: [] for name in (*CURVE_COLUMNS, "train_seconds")}


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def set_dropout(model: nn.Module, rate: float | None) -> None:
    """Set the model's classifier dropout (its ``dropout`` module) to ``rate``; None leaves it."""
    if rate is None:
        return
    dropout = getattr(model, "dropout", None)
    if isinstance(dropout, nn.Dropout):
        dropout.p = rate
    else:
        logger.info("%s has no classifier dropout; dropout is ignored", type(model).__name__)


def fit(model: nn.Module, train_set: Any, valid_set: Any | None, settings: RetrainSettings,
        out: str | Path, *, mean: list[float] | None = None, std: list[float] | None = None, seed: int = 0,
        teacher: nn.Module | None = None, meta: dict[str, Any] | None = None, resume: bool = False,
        progress: bool = True, device: torch.device | str | None = None,
        on_epoch: Callable[[int, RetrainResult], None] | None = None,
        listeners: list[TrainingListener] | None = None, data_workers: int | None = None,
        distributed: Distributed | None = None) -> RetrainResult:
    """Train ``model`` in place with the recipe of ``settings``, checkpointing every epoch into ``out``.

    ``mean``/``std`` normalise the images (default: the training part's
    statistics). ``teacher`` (eval mode, same inputs) is needed when
    ``settings.distill > 0``. ``meta`` (plain values) describes the network
    and data; it is stored in the checkpoint and, with the settings, must be
    the same to ``resume``. Without ``resume`` an existing checkpoint in
    ``out`` is an error, and so is ``resume`` without one. ``on_epoch(epoch,
    result)`` is called after each epoch's checkpoint is written;
    ``listeners`` hear the run's progress besides the progress bar
    (``progress``) and the curves writer. ``device`` defaults to the CPU;
    ``data_workers`` decode streamed images. With ``distributed`` (a
    ``torchrun`` launch) each process trains its share of every batch and
    only rank 0 writes files or reports progress.
    """
    out = Path(out)
    distributed = distributed or Distributed()
    distributed.check_batch(settings.batch_size)
    if settings.distill > 0 and teacher is None:
        raise NsganetError("distillation (distill > 0) needs a teacher network")
    if valid_set is not None and valid_set.num_classes != train_set.num_classes:
        raise NsganetError("the training and validation data have different classes")
    device = distributed.device(torch.device(device or "cpu"))
    if mean is None or std is None:
        mean, std = channel_stats(train_set)
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    if len(mean) != train_set.channels or len(std) != train_set.channels:
        raise NsganetError(f"{len(mean)} means / {len(std)} standard deviations for {train_set.channels}-channel "
                           "images")

    model.to(device=device, memory_format=torch.channels_last)
    set_dropout(model, settings.dropout)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(model, settings)
    ema = ModelEMA(model, settings.ema_decay, warmup=settings.ema_warmup) if settings.ema_decay is not None else None
    if teacher is not None:
        teacher = teacher.to(device=device, memory_format=torch.channels_last).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)

    augmentation = settings.augmentation(train_set, mean=mean)
    drop_last = len(train_set) > settings.batch_size
    shard, pin = (distributed.rank, distributed.world_size), device.type == "cuda"

    def loader_for(epoch: int) -> Any:
        return make_loader(train_set, settings.batch_size, mean, std, shuffle=True, augmentation=augmentation,
                           seed=derived_seed(seed, "data", epoch), drop_last=drop_last, channels_last=True,
                           workers=data_workers, pin_memory=pin, shard=shard)

    valid_loader = (make_loader(valid_set, _VALID_BATCH, mean, std, shuffle=False, channels_last=True,
                                workers=data_workers, pin_memory=pin, shard=shard)
                    if valid_set is not None else None)
    steps_per_epoch = len(loader_for(0))
    total_steps = settings.epochs * steps_per_epoch
    schedule = LRSchedule.of(settings, steps_per_epoch)

    meta_record = {**(meta or {}), "model": type(model).__name__, "parameters": sum(p.numel() for p in params),
                   "train_images": len(train_set), "valid_images": len(valid_set) if valid_set is not None else 0,
                   "mean": mean, "std": std, "seed": int(seed), "teacher": teacher is not None}
    main = distributed.is_main
    writers = [*([ProgressBar("train")] if progress else []), CurvesWriter(out, type(model).__name__),
               *(listeners or [])]
    run = Checkpointed(out, CHECKPOINT_FORMAT, "re-training", dataclasses.asdict(settings), meta_record,
                       resume=resume, writes=main, listeners=writers if main else [])
    precision = Precision(settings.amp, device)
    history, best_accuracy, best_epoch = _empty_history(), -1.0, 0
    if run.state is not None:
        state = run.state
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        precision.load_state_dict(state.get("scaler") or {})
        if ema is not None:
            ema.load_state_dict(state["ema"], state["ema_updates"])
        history = {k: list(v) for k, v in state["history"].items()}
        best_accuracy, best_epoch = float(state["best_accuracy"]), int(state["best_epoch"])

    criterion = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    network = distributed.wrap(model, device)  # what trains: the model itself, or its DDP wrapper

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, logits = classification_loss(network(x), y, criterion, settings.aux_weight)
        if teacher is not None and settings.distill > 0:
            with torch.no_grad():
                soft = teacher(x)
            loss = loss + settings.distill * distillation_loss(logits, soft, settings.temperature)
        return loss, logits

    has_drop_path = hasattr(model, "drop_path_prob")
    if settings.drop_path > 0 and not has_drop_path:
        logger.info("%s has no drop-path; drop_path is ignored", type(model).__name__)
    validated = ema.module if ema is not None else model
    result = RetrainResult(model, {}, None, best_epoch, history, out)
    run.start(total_steps, run.start_epoch * steps_per_epoch)
    try:
        for epoch in range(run.start_epoch, settings.epochs):
            started = time.perf_counter()
            torch.manual_seed(derived_seed(seed, "torch", epoch))  # dropout / drop-path draws of this epoch
            if has_drop_path:
                model.drop_path_prob = (settings.drop_path * epoch / settings.epochs
                                        if settings.drop_path_schedule == "linear" else settings.drop_path)
            step = epoch * steps_per_epoch
            stats = train_epoch(network, loader_for(epoch), optimizer, loss_fn, lr_at=schedule.lr, step=step,
                                grad_clip=settings.grad_clip, device=device,
                                after_step=ema.update if ema is not None else None, on_step=run.step, epoch=epoch,
                                precision=precision)
            if distributed.active:  # the epoch's loss, accuracy and images over all processes' shares
                loss_sum, correct_sum, images = distributed.sum(stats.loss * stats.images,
                                                                stats.accuracy * stats.images, stats.images)
                stats = dataclasses.replace(stats, loss=loss_sum / max(images, 1),
                                            accuracy=correct_sum / max(images, 1), images=int(images))
            distributed.broadcast_buffers(model, *([ema.module] if ema is not None else []))
            valid_acc = math.nan
            if valid_loader is not None:
                correct, total = distributed.sum(*correct_count(validated, valid_loader, device, amp=settings.amp))
                valid_acc = 100.0 * correct / max(total, 1)
            if valid_loader is None or valid_acc > best_accuracy:
                best_accuracy, best_epoch = (valid_acc if valid_loader is not None else -1.0), epoch + 1
                if main:
                    atomic_save(_cpu_state(validated), out / BEST_FILE)
            if main:
                atomic_save(_cpu_state(validated), out / LAST_FILE)
            row = {"epoch": epoch + 1, "lr": schedule.lr(step), "train_loss": stats.loss,
                   "train_acc": stats.accuracy, "valid_acc": valid_acc, "images_per_s": stats.images_per_second,
                   "train_seconds": stats.seconds, "seconds": time.perf_counter() - started}
            for name, value in row.items():
                history[name].append(float(value))
            valid_text = "-" if math.isnan(valid_acc) else f"{valid_acc:.2f}%"
            run.end_epoch(epoch + 1, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                      "ema": ema.state_dict() if ema is not None else None,
                                      "ema_updates": ema.updates if ema is not None else 0,
                                      "scaler": precision.state_dict(),
                                      "best_accuracy": best_accuracy, "best_epoch": best_epoch},
                          history, {"loss": f"{stats.loss:.3f}", "valid": valid_text})
            logger.info("epoch %d/%d: lr %.4g, loss %.4f, train acc %.2f%%, valid acc %s, %.0f images/s",
                        epoch + 1, settings.epochs, row["lr"], stats.loss, stats.accuracy, valid_text,
                        stats.images_per_second)
            result.best_epoch = best_epoch
            if on_epoch is not None:
                on_epoch(epoch + 1, result)
    finally:
        run.end(history)
    distributed.barrier()  # rank 0 has written best.pt
    result.best_state = load_checkpoint(out / BEST_FILE)
    result.best_accuracy = best_accuracy if valid_loader is not None else None
    result.best_epoch = best_epoch
    return result
