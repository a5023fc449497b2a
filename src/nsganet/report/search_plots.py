"""The plots a search leaves in its run directory (``front.png``, ``hypervolume.png``), as a study callback."""

from __future__ import annotations

import numpy as np

from nsganet.moo.front import objective_matrix
from nsganet.report.plots import axis_label, plot_front, plot_hypervolume
from nsganet.search.callbacks import Callback, Study
from nsganet.search.result import SearchResult

FRONT_PNG, HYPERVOLUME_PNG = "front.png", "hypervolume.png"


class SearchPlots(Callback):
    """When the search ends: the front over all evaluated architectures, and the hypervolume per generation."""

    def on_search_end(self, study: Study, result: SearchResult) -> None:
        if not result.front:
            return
        title = f"{study.space.name} / {study.strategy.name} / seed {study.seed}"
        F = objective_matrix(result.evaluations, result.objectives)
        ok = ~np.isnan(F).any(axis=1)
        plot_front(F[ok], objective_matrix(result.front, result.objectives),
                   [axis_label(name) for name in result.objectives], result.out / FRONT_PNG, title=title)
        curve = [(s["n_evaluated"], s["hypervolume"]) for s in result.stats if s["hypervolume"] is not None]
        if curve:
            plot_hypervolume(*zip(*curve), result.out / HYPERVOLUME_PNG, title=title)
