"""Evaluate a trained network on a test set: clean accuracy, common corruptions and FGSM robustness.

Every corruption at every severity is applied to the whole test set (as
CIFAR-10-C does) and the accuracy measured; FGSM accuracy is measured for
each attack strength and condensed into the normalised robustness area. The
corruption noise is drawn per block of :data:`CHUNK` images from a generator
seeded by the seed, the corruption, the severity and the block, so results
depend on the seed only: not on the batch size, nor on which other
corruptions are evaluated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nsganet.errors import NsganetError
from nsganet.robustness import DEFAULT_EPS
from nsganet.robustness.corruptions import check_severity, corrupt, corruption_names
from nsganet.robustness.fgsm import Normalized, check_eps, fgsm_accuracy, robustness_area
from nsganet.train.loop import Precision
from nsganet.utils.device import resolve_device
from nsganet.utils.seeds import derived_seed

logger = logging.getLogger(__name__)

#: images corrupted together from one generator
CHUNK = 500


@dataclass
class EvaluationReport:
    """What :func:`evaluate_network` measured; accuracies in percent."""

    dataset: str
    images: int
    num_classes: int
    clean_accuracy: float
    #: corruption -> severity -> accuracy
    corruptions: dict[str, dict[int, float]] = field(default_factory=dict)
    fgsm_eps: list[float] = field(default_factory=list)
    fgsm_accuracy: list[float] = field(default_factory=list)
    seed: int = 0
    seconds: float = 0.0

    @property
    def chance(self) -> float:
        """Accuracy of random guessing, percent."""
        return 100.0 / self.num_classes

    def corruption_mean(self, name: str) -> float:
        """Accuracy on corruption ``name`` averaged over its severities."""
        values = list(self.corruptions[name].values())
        return sum(values) / len(values)

    @property
    def mean_corruption_accuracy(self) -> float | None:
        """Accuracy averaged over every corruption and severity (None without corruptions)."""
        values = [a for by_severity in self.corruptions.values() for a in by_severity.values()]
        return sum(values) / len(values) if values else None

    @property
    def severity_means(self) -> dict[int, float]:
        """Accuracy at each severity, averaged over the corruptions."""
        severities = sorted({s for by_severity in self.corruptions.values() for s in by_severity})
        return {s: sum(c[s] for c in self.corruptions.values()) / len(self.corruptions) for s in severities}

    @property
    def robustness_area(self) -> float | None:
        """Normalised FGSM area (0..100; None with fewer than two attack strengths)."""
        if len(set(self.fgsm_eps)) < 2:
            return None
        return robustness_area(self.fgsm_eps, self.fgsm_accuracy, chance=self.chance)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (severities become string keys)."""
        return {
            "dataset": self.dataset, "images": self.images, "num_classes": self.num_classes, "seed": self.seed,
            "clean_accuracy": self.clean_accuracy,
            "corruptions": {name: {str(s): a for s, a in by_severity.items()}
                            for name, by_severity in self.corruptions.items()},
            "corruption_means": {name: self.corruption_mean(name) for name in self.corruptions},
            "severity_means": {str(s): a for s, a in self.severity_means.items()},
            "mean_corruption_accuracy": self.mean_corruption_accuracy,
            "fgsm": {"eps": self.fgsm_eps, "accuracy": self.fgsm_accuracy, "chance": self.chance,
                     "robustness_area": self.robustness_area,
                     "definition": "area under accuracy-vs-eps (piecewise linear, above chance) normalised by "
                                   "(max eps - min eps) x (100 - chance), percent; pixel scale 0..1"},
            "seconds": self.seconds,
        }


@torch.no_grad()
def _count_correct(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, precision: Precision) -> int:
    device = next(net.parameters()).device
    correct = 0
    for start in range(0, len(x), batch_size):
        with precision.autocast():
            logits = net(x[start:start + batch_size].to(device, non_blocking=True))
        correct += int((logits.argmax(dim=1).cpu() == y[start:start + batch_size]).sum())
    return correct


def evaluate_network(model: nn.Module, dataset: Any, mean: Sequence[float], std: Sequence[float],
                     corruptions: str | Sequence[str] | None = "all", severities: Sequence[int] = (1, 2, 3, 4, 5),
                     eps: Sequence[float] = DEFAULT_EPS, batch_size: int = 256, seed: int = 0,
                     progress: Callable[[str], None] | None = None, device: str = "cpu",
                     amp: str = "off") -> EvaluationReport:
    """Clean, corrupted and FGSM accuracy of ``model`` on ``dataset`` (normalised by mean/std).

    The dataset may be held in memory or streamed from files (read
    :data:`CHUNK` images at a time). ``corruptions`` is ``"all"`` (those that
    apply to the channel count), ``"none"``/None, or names; ``eps`` may be
    empty (no attack). The network runs on ``device`` (``auto``, ``cpu``,
    ``cuda``, ``cuda:N``) in the precision of ``amp``; corruptions are made
    on the CPU. ``progress`` receives a line after each measurement.
    """
    names = corruption_names(dataset.channels, corruptions)
    severities = sorted({check_severity(s) for s in severities})
    if names and not severities:
        raise NsganetError("give at least one corruption severity (1..5)")
    eps = check_eps(eps)
    if batch_size < 1:
        raise NsganetError(f"batch size must be at least 1, got {batch_size}")
    if len(mean) != dataset.channels or len(std) != dataset.channels:
        raise NsganetError(f"{len(mean)} means and {len(std)} standard deviations for {dataset.channels} channels")
    say = progress or (lambda line: logger.info("%s", line))
    started = time.perf_counter()
    was_training = model.training
    target = resolve_device(device)
    precision = Precision(amp, target)
    net = Normalized(model, mean, std).to(target).eval()
    labels = dataset.labels

    def chunks() -> Iterator[tuple[int, torch.Tensor]]:
        for chunk, start in enumerate(range(0, len(dataset), CHUNK)):
            yield chunk, dataset.read(slice(start, start + CHUNK)).to(torch.float32) / 255.0

    try:
        correct = 0
        for chunk, x in chunks():
            correct += _count_correct(net, x, labels[chunk * CHUNK:(chunk + 1) * CHUNK], batch_size, precision)
        report = EvaluationReport(dataset.name, len(dataset), dataset.num_classes, 100.0 * correct / len(dataset),
                                  seed=seed)
        say(f"clean: {report.clean_accuracy:.2f} %")
        for name in names:
            report.corruptions[name] = {}
            for severity in severities:
                correct = 0
                for chunk, x in chunks():
                    generator = torch.Generator().manual_seed(derived_seed(seed, name, severity, chunk))
                    x = corrupt(x, name, severity, generator)
                    correct += _count_correct(net, x, labels[chunk * CHUNK:(chunk + 1) * CHUNK], batch_size,
                                              precision)
                report.corruptions[name][severity] = 100.0 * correct / len(dataset)
            say(f"{name}: " + " ".join(f"{a:.1f}" for a in report.corruptions[name].values()))
        if eps:
            report.fgsm_eps = eps
            report.fgsm_accuracy = fgsm_accuracy(model, dataset, labels, eps, mean, std, batch_size, precision)
            say("fgsm: " + " ".join(f"{e:g}:{a:.1f}" for e, a in zip(eps, report.fgsm_accuracy)))
    finally:
        model.train(was_training)
    report.seconds = time.perf_counter() - started
    return report
