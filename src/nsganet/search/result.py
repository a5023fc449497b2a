"""What a search returns: its run directory, every evaluation, the non-dominated front, per-generation stats.

Of a multi-fidelity run also every rung trained; its front holds the architectures evaluated at full fidelity.
Of a constrained run the front holds feasible architectures only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.search.constraints import Constraint, feasible_evaluations
from nsganet.search.store import Evaluation, Rung


@dataclass
class SearchResult:
    """What a search leaves behind: its run directory, evaluations and non-dominated front.

    ``rungs`` are the results of every rung of a multi-fidelity run (empty otherwise);
    ``constraints`` those of a constrained run, whose ``front`` and
    ``hypervolume`` hold feasible evaluations only.
    """

    out: Path
    objectives: list[str]
    evaluations: list[Evaluation]
    front: list[Evaluation]
    hypervolume: float
    generations: int
    stats: list[dict[str, Any]] = field(default_factory=list)
    rungs: list[Rung] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return sum(e.status == "failed" for e in self.evaluations)

    @property
    def feasible(self) -> list[Evaluation]:
        """The successful evaluations that meet every constraint (every successful one without constraints)."""
        return feasible_evaluations(self.constraints, self.evaluations)

    def front_table(self) -> str:
        """The front as an aligned text table."""
        header = ["#", *self.objectives, "arch"]
        rows = [[str(i), *(f"{e.objectives[n]:.4g}" for n in self.objectives), e.arch]
                for i, e in enumerate(self.front)]
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header) - 1)]
        lines = ["  ".join(cell.rjust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1]
                 for row in [header, *rows]]
        return "\n".join(lines)
