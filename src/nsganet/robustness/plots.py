"""Figures of an :class:`~nsganet.robustness.evaluate.EvaluationReport`: corruption and FGSM accuracy curves.

Their titles name the network evaluated (:func:`evaluation_title`): the exported folder, marked
``(trained)`` for the ``train`` folder ``nsganet train`` writes into it, and the test data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nsganet.robustness.evaluate import EvaluationReport
from nsganet.train.curves import network_label
from nsganet.utils.plotting import pyplot, save_figure


def evaluation_title(folder: str | Path, space: str, dataset: str, images: int | None = None) -> str:
    """``arch-00092 (trained), micro: digits test split (359 images)``: the network and the data it was tested on."""
    count = f" ({images} images)" if images else ""
    return f"{network_label(folder)}, {space}: {dataset} test split{count}"


def report_from_dict(values: dict[str, Any]) -> EvaluationReport:
    """The :class:`EvaluationReport` an ``evaluation.json`` holds (what :meth:`EvaluationReport.to_dict` wrote);
    a mapping that is not one is a :class:`ValueError`."""
    try:
        fgsm = values.get("fgsm") or {}
        return EvaluationReport(
            dataset=str(values["dataset"]), images=int(values["images"]), num_classes=int(values["num_classes"]),
            clean_accuracy=float(values["clean_accuracy"]),
            corruptions={str(name): {int(s): float(a) for s, a in by_severity.items()}
                         for name, by_severity in (values.get("corruptions") or {}).items()},
            fgsm_eps=[float(e) for e in fgsm.get("eps", [])],
            fgsm_accuracy=[float(a) for a in fgsm.get("accuracy", [])],
            seed=int(values.get("seed", 0)), seconds=float(values.get("seconds", 0.0)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not an evaluation: {exc}") from None


def plot_corruptions(report: EvaluationReport, path: str | Path, title: str = "") -> Path:
    """Accuracy vs severity, one line per corruption, with clean accuracy and chance for reference."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colours = plt.get_cmap("tab20")
    markers = "osD^v<>pPhX*"
    for i, (name, by_severity) in enumerate(report.corruptions.items()):
        severities = list(by_severity)
        ax.plot(severities, [by_severity[s] for s in severities], marker=markers[i % len(markers)], markersize=4,
                color=colours(i % 20), label=f"{name} ({report.corruption_mean(name):.1f})")
    ax.axhline(report.clean_accuracy, color="black", linestyle="--", linewidth=1,
               label=f"clean ({report.clean_accuracy:.1f})")
    ax.axhline(report.chance, color="grey", linestyle=":", linewidth=1, label=f"chance ({report.chance:.0f})")
    ax.set_xlabel("severity")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xticks(sorted({s for by_severity in report.corruptions.values() for s in by_severity}))
    ax.set_ylim(0, 100)
    mean = report.mean_corruption_accuracy
    subtitle = f"mean corruption accuracy {mean:.1f} %" if mean is not None else "no corruptions"
    ax.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=120)
    return path


def plot_fgsm(report: EvaluationReport, path: str | Path, title: str = "") -> Path:
    """Accuracy vs FGSM strength; the shaded part above chance is the normalised robustness area."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    points = sorted(zip(report.fgsm_eps, report.fgsm_accuracy))
    eps = [e for e, _ in points]
    acc = [a for _, a in points]
    if eps:
        ax.fill_between(eps, acc, report.chance, where=[a >= report.chance for a in acc], interpolate=True,
                        color="tab:green", alpha=0.25, linewidth=0)
        ax.plot(eps, acc, marker="o", color="tab:blue")
    ax.axhline(report.chance, color="grey", linestyle=":", linewidth=1, label=f"chance ({report.chance:.0f} %)")
    ax.set_xlabel("FGSM eps (pixel scale 0..1)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    area = report.robustness_area
    subtitle = f"normalised robustness area {area:.1f} / 100" if area is not None else "FGSM accuracy"
    ax.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=120)
    return path
