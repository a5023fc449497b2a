"""Figures of an :class:`~nsganet.robustness.evaluate.EvaluationReport`: corruption and FGSM accuracy curves."""

from __future__ import annotations

from pathlib import Path

from nsganet.robustness.evaluate import EvaluationReport
from nsganet.utils.plotting import pyplot, save_figure


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
