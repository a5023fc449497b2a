"""``nsganet compare RUN...``: several runs on common bounds, their median run, their attainment surfaces."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from nsganet.commands.base import Command, register

if TYPE_CHECKING:
    from nsganet.report.compare import RunComparison

DEFAULT_OUT = "compare"


@register
class Compare(Command):
    name = "compare"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        p = subparsers.add_parser(
            "compare", help="compare runs (e.g. seeds): hypervolume, IGD+, median run, attainment surfaces",
            description="Compare search runs of the same objectives as NSGANetV1 does: all runs on common bounds "
                        "(ideal point 0; worst: the objective's known worst value, e.g. 100 % error, else the "
                        "worst bound the runs recorded for their own hypervolume, e.g. the cost of the space's "
                        "largest network, else the largest value over all runs), the normalised hypervolume and "
                        "IGD+ (against the "
                        "non-dominated front of all runs together, normalised) of each run after each generation, "
                        "and the run of median final hypervolume (of an even count, the lower of the two middle "
                        "runs: a run that exists, the conservative one). Prints a table per run and the median and "
                        "IQR of the final hypervolume; writes OUT/compare.csv (per run and generation) and "
                        "OUT/compare.png (hypervolume per generation; for two objectives the best, median and "
                        "worst empirical attainment surfaces). Runs are only read, finished or still running.",
            epilog="examples:\n"
                   "  nsganet compare runs/seed1 runs/seed2 runs/seed3\n"
                   "  nsganet compare runs/v1-* --out results/v1",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("runs", nargs="+", metavar="RUN", help="run directories of 'nsganet search'")
        p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                       help="folder for compare.csv and compare.png, outside the runs (default ./%(default)s)")
        return p

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.report.compare import check_out, compare_runs, write_comparison

        comparison = compare_runs(args.runs)
        check_out(args.out, comparison)  # refused before anything is printed
        for line in summary_lines(comparison):
            print(line)
        table, figure = write_comparison(comparison, args.out)
        print(f"wrote {table} and {figure}")
        return 0


def summary_lines(comparison: RunComparison) -> list[str]:
    """The table of runs, the common bounds, and the median run with the spread of the final hypervolume."""
    result = comparison.result
    header = ["run", "seed", "strategy", "evaluations", "hypervolume", "igd+", "median"]
    rows = []
    for i, (run, quality) in enumerate(zip(comparison.runs, result.runs)):
        final = quality.final
        evaluated = str(run.n_evaluated) if run.finished else f"{run.n_evaluated} (running)"
        rows.append([run.name, str(run.seed), run.strategy, evaluated, f"{final.hypervolume:.4f}",
                     "-" if math.isnan(final.igd_plus) else f"{final.igd_plus:.4f}",
                     "*" if i == result.median and len(comparison.runs) > 1 else ""])
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths)))
             .rstrip() for row in [header, *rows]]
    bounds = ", ".join(f"{name} {low:.4g}..{high:.4g}"
                       for name, low, high in zip(result.objectives, result.lower, result.upper))
    lines.append(f"common bounds: {bounds}")
    n = len(comparison.runs)
    if n == 1:
        return lines
    q1, q3 = result.hypervolume_quartiles
    lines.append(f"final hypervolume over {n} runs: median {result.hypervolume_median:.4f}, "
                 f"IQR {q3 - q1:.4f} ({q1:.4f}..{q3:.4f})")
    median = comparison.median.name
    if n % 2:
        lines.append(f"median run (*): {median}, the middle of {n} runs by final hypervolume")
    else:
        lines.append(f"median run (*): {median}, the lower of the two middle runs by final hypervolume "
                     "(an even count: the reported run must exist, and the lower one is the conservative choice)")
    return lines
