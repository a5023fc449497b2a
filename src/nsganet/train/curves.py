"""Training curves of a checkpointed run: ``curves.csv`` every epoch, ``curves.png`` now and then and at the end."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from pathlib import Path

from nsganet.train.checkpoint import Checkpointed, TrainingListener
from nsganet.utils.files import atomic_write, printable_name
from nsganet.utils.plotting import pyplot, save_figure

CURVES_CSV, CURVES_PNG = "curves.csv", "curves.png"
CURVE_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "valid_acc", "seconds", "images_per_s")
#: Seconds between redraws of ``curves.png`` during training.
PLOT_INTERVAL = 30.0


def write_curves(history: Mapping[str, list[float]], path: Path) -> None:
    """``curves.csv``: one row per epoch of :data:`CURVE_COLUMNS` (valid_acc empty without validation)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for i in range(len(history["epoch"])):
        row = []
        for name in CURVE_COLUMNS:
            value = history[name][i]
            row.append("" if isinstance(value, float) and math.isnan(value) else
                       str(int(value)) if name == "epoch" else f"{value:.6g}")
        writer.writerow(row)
    atomic_write(path, buffer.getvalue())


def read_curves(path: str | Path) -> dict[str, list[float]]:
    """The history in a ``curves.csv`` (empty cells as NaN); a file that is not one is a :class:`ValueError`."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or set(CURVE_COLUMNS) - set(rows[0]):
        raise ValueError(f"{path} is not a curves file: it needs the columns {', '.join(CURVE_COLUMNS)}")
    return {name: [float(row[name]) if row[name] not in ("", None) else math.nan for row in rows]
            for name in CURVE_COLUMNS}


def curves_title(folder: str | Path, model: str, history: Mapping[str, list[float]]) -> str:
    """``arch-00092 (trained): MicroNetwork, best epoch 21 (validation accuracy 98.61 %)``."""
    best = best_epoch_of(history)
    valid = history["valid_acc"][best - 1] if best else math.nan
    return (f"{network_label(folder)}: {model}, best epoch {best}"
            + ("" if math.isnan(valid) else f" (validation accuracy {valid:.2f} %)"))


def plot_curves(history: Mapping[str, list[float]], path: Path, title: str = "") -> None:
    """``curves.png``: training loss, and training and validation accuracy, per epoch."""
    plt = pyplot()
    epochs = history["epoch"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, history["train_loss"], "o-", ms=3)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    right.plot(epochs, history["train_acc"], "o-", ms=3, label="training (augmented)")
    if not all(math.isnan(v) for v in history["valid_acc"]):
        right.plot(epochs, history["valid_acc"], "o-", ms=3, label="validation")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy (%)")
    right.legend(loc="lower right", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def network_label(folder: str | Path) -> str:
    """How figures name the network of a folder: ``arch-00092``, or ``arch-00092 (trained)`` for the ``train``
    folder ``nsganet train`` writes into it."""
    folder = Path(folder).resolve()
    if folder.name == "train" and folder.parent.name:
        return f"{printable_name(folder.parent.name)} (trained)"
    return printable_name(folder.name)


def best_epoch_of(history: Mapping[str, list[float]]) -> int:
    """The epoch (1-based) of the highest validation accuracy (the first such), or the last without validation."""
    valid = history["valid_acc"]
    if not valid or all(math.isnan(v) for v in valid):
        return len(valid)
    best = max(v for v in valid if not math.isnan(v))
    return next(i for i, v in enumerate(valid) if v == best) + 1


class CurvesWriter(TrainingListener):
    """Writes ``curves.csv`` after every epoch and ``curves.png`` every :data:`PLOT_INTERVAL` s and at the end."""

    def __init__(self, out: str | Path, label: str) -> None:
        self.out, self.label = Path(out), label
        self.last_plot = time.perf_counter()

    def on_epoch(self, run: Checkpointed, epoch: int, history: Mapping[str, list[float]],
                 summary: Mapping[str, str]) -> None:
        write_curves(history, self.out / CURVES_CSV)
        if time.perf_counter() - self.last_plot > PLOT_INTERVAL:
            plot_curves(history, self.out / CURVES_PNG)
            self.last_plot = time.perf_counter()

    def on_end(self, run: Checkpointed, history: Mapping[str, list[float]]) -> None:
        if history["epoch"]:
            write_curves(history, self.out / CURVES_CSV)
            plot_curves(history, self.out / CURVES_PNG, title=curves_title(self.out, self.label, history))
