"""NSGANetV2's surrogate-assisted search (MSuNAS, Lu et al., ECCV 2020).

A design of experiments (the smallest and the largest architecture plus random
ones) is evaluated first. Then every iteration:

1. fit an accuracy predictor on the archive (one per non-cost objective);
2. run NSGA-II on (predicted objectives, true cost objectives), starting from
   the archive's non-dominated set: cheap, since no network is trained;
3. drop candidates already evaluated and keep the ``n_candidates`` that spread
   the front most evenly along the first cost objective (:mod:`subset`);
4. hand those to the study for true evaluation; they join the archive.

Costs (FLOPs, parameters) of unevaluated candidates come from a cost function
the study binds (:meth:`Strategy.bind_costs`). Per iteration :meth:`info`
reports the predictor, the model adaptive switching chose, and RMSE, Spearman
ρ and Kendall τ of its predictions on the candidates just evaluated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nsganet.errors import ConfigError
from nsganet.spaces.base import Encoding
from nsganet.strategies.archive import Archive, genome_key
from nsganet.strategies.base import STRATEGIES, Strategy
from nsganet.strategies.operators import PolynomialMutation, UniformCrossover, check_variation_options
from nsganet.strategies.ranking import binary_tournament, rank_and_crowding, survive
from nsganet.strategies.subset import select_hypervolume, select_spread
from nsganet.surrogates import TARGETS, Predictor, feature_names, get_features, get_predictor, predictor_names, quality


@STRATEGIES.register()
@dataclasses.dataclass
class NSGANetV2(Strategy):
    """Surrogate-assisted NSGA-II; ``pop_size`` is the population of the search on the surrogate."""

    name = "nsganetv2"
    uses_surrogate = True
    #: Size of the design of experiments; 0 picks budget/5 within 10..100 (the paper used 100).
    n_doe: int = 0
    #: Architectures truly evaluated per iteration (the paper's K = 8).
    n_candidates: int = 8
    #: Accuracy predictor: rbf, gp, mlp, cart, gbt, or "as" (adaptive switching among them).
    predictor: str = "as"
    #: Features the predictor sees ("onehot" or "integer"), and the target it is fitted on: "log" of the
    #: error (default: it keeps a few very bad architectures from dominating the fit), "raw" or "rank".
    features: str = "onehot"
    target: str = "log"
    #: How the K candidates are chosen: "spread" (even gaps along the cost, the original) or
    #: "hypervolume" (greedy predicted hypervolume gain).
    selection: str = "spread"
    #: Generations of NSGA-II on the surrogate per iteration (its population is ``pop_size``).
    generations: int = 20
    crossover_prob: float = 0.9
    mutation_prob: float = 0.1
    mutation_eta: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.predictor not in predictor_names():
            raise ConfigError(f"unknown predictor {self.predictor!r}; known predictors: "
                              f"{', '.join(predictor_names())}")
        for option, value, known in (("features", self.features, feature_names()), ("target", self.target, TARGETS),
                                     ("selection", self.selection, ("spread", "hypervolume"))):
            if value not in known:
                raise ConfigError(f"nsganetv2 {option} must be one of {', '.join(known)}, got {value!r}")
        if self.n_doe < 0 or self.n_candidates < 1 or self.generations < 1:
            raise ConfigError("nsganetv2 needs n_doe >= 0, n_candidates >= 1 and generations >= 1")
        check_variation_options(self.name, self.crossover_prob, self.mutation_prob, self.mutation_eta)
        self.crossover = UniformCrossover(self.crossover_prob)
        self.mutation = PolynomialMutation(self.mutation_prob, self.mutation_eta)

    def setup(self, encoding: Encoding, n_obj: int, budget: int, seed: int) -> None:
        super().setup(encoding, n_obj, budget, seed)
        self.cost_columns = list(self.context.cost_columns)
        self.predicted_columns = [j for j in range(n_obj) if j not in self.cost_columns]
        if not self.predicted_columns:
            raise ConfigError("nsganetv2 needs at least one objective that is not a cost (e.g. error)")
        self.encode = get_features(self.features, encoding.lower, encoding.upper)
        self.pending: dict[tuple[int, ...], list[float]] = {}  # candidate -> predicted objectives
        self.last: dict[str, Any] = {}

    @property
    def doe_size(self) -> int:
        return self.n_doe or int(np.clip(self.budget // 5, 10, 100))

    # -- ask -------------------------------------------------------------------------------
    def ask(self, archive: Archive) -> np.ndarray:
        if len(archive) == 0:
            return self.design_of_experiments(archive)
        X, F = archive.successful()
        if len(X) < 2:  # too little to fit on: explore
            return self.sample_new(self.n_candidates, archive, set())
        models = self.fit(X, F)
        pop_X, pop_F = self.surrogate_search(models, X, F)
        fresh = np.array([genome_key(x) not in archive for x in pop_X], dtype=bool)
        cand_X, cand_F = pop_X[fresh], pop_F[fresh]
        front = F[rank_and_crowding(F)[0] == 0]
        axis = self.cost_columns[0] if self.cost_columns else self.predicted_columns[-1]
        if self.selection == "hypervolume":
            chosen = select_hypervolume(cand_F, front, self.n_candidates)
        else:
            chosen = select_spread(cand_F[:, axis], front[:, axis], self.n_candidates)
        batch = cand_X[chosen]
        self.pending = {genome_key(x): [float(f[j]) for j in self.predicted_columns]
                        for x, f in zip(batch, cand_F[chosen])}
        if len(batch) < self.n_candidates:  # the surrogate search converged on evaluated ones
            taken = {genome_key(x) for x in batch}
            batch = np.vstack([batch, self.sample_new(self.n_candidates - len(batch), archive, taken)])
        return batch

    def design_of_experiments(self, archive: Archive) -> np.ndarray:
        """The smallest and largest architectures of the space, then distinct random ones."""
        smallest, largest = self.context.smallest, self.context.largest
        corners = (self.encoding.lower if smallest is None else smallest,
                   self.encoding.upper if largest is None else largest)
        taken: set[tuple[int, ...]] = set()
        first = []
        for genome in corners:
            genome = self.encoding.canonical(genome)
            if genome_key(genome) not in taken:
                taken.add(genome_key(genome))
                first.append(genome)
        rest = self.sample_new(max(0, self.doe_size - len(first)), archive, taken)
        return np.vstack([np.asarray(first, dtype=np.int64).reshape(-1, self.encoding.n_var), rest])

    # -- the surrogate -------------------------------------------------------------------------
    def fit(self, X: np.ndarray, F: np.ndarray) -> list[Predictor]:
        """One predictor per predicted objective, fitted on the archive."""
        models = []
        for j in self.predicted_columns:
            seed = int(self.rng.integers(2**31 - 1))
            model = get_predictor(self.predictor, seed=seed, encode=self.encode, target=self.target)
            models.append(model.fit(X, F[:, j]))
        self.models = models
        return models

    def evaluate(self, models: list[Predictor], X: np.ndarray) -> np.ndarray:
        """Surrogate objective matrix: predictions for predicted columns, true costs for the rest."""
        F = np.empty((len(X), self.n_obj))
        for j, model in zip(self.predicted_columns, models):
            F[:, j] = model.predict(X)
        if self.cost_columns:
            if self.context.costs is None:
                raise RuntimeError("nsganetv2 needs the costs of candidates: bind a ProblemContext with costs")
            F[:, self.cost_columns] = self.context.costs(X)
        return F

    def surrogate_search(self, models: list[Predictor], X: np.ndarray,
                         F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """NSGA-II on the surrogate, seeded with the archive's best; returns the final population."""
        order = survive(F, self.pop_size)
        pop_X = X[order]
        keys = {genome_key(x) for x in pop_X}
        if len(pop_X) < self.pop_size:
            extra = self._offspring(pop_X, np.zeros(len(pop_X), dtype=np.int64), np.zeros(len(pop_X)),
                                    self.pop_size - len(pop_X), keys)
            pop_X = np.vstack([pop_X, extra])
        pop_F = self.evaluate(models, pop_X)
        for _ in range(self.generations):
            rank, crowding = rank_and_crowding(pop_F)
            children = self._offspring(pop_X, rank, crowding, self.pop_size, keys)
            if len(children) == 0:
                break
            merged_X = np.vstack([pop_X, children])
            merged_F = np.vstack([pop_F, self.evaluate(models, children)])
            keep = survive(merged_F, self.pop_size)
            pop_X, pop_F = merged_X[keep], merged_F[keep]
            keys = {genome_key(x) for x in pop_X}
        return pop_X, pop_F

    def _offspring(self, pop_X: np.ndarray, rank: np.ndarray, crowding: np.ndarray, n: int,
                   keys: set[tuple[int, ...]], max_tries: int = 20) -> np.ndarray:
        """Up to ``n`` new children (not in ``keys``) by tournament, uniform crossover and mutation."""
        out: list[np.ndarray] = []
        seen = set(keys)
        tries = 0
        while len(out) < n and tries < max_tries * n:
            tries += 1
            a, b = binary_tournament(rank, crowding, 2, self.rng)
            c1, c2 = self.crossover(pop_X[a], pop_X[b], self.encoding, self.rng)
            child = self.encoding.canonical(self.mutation(c1 if self.rng.random() < 0.5 else c2,
                                                          self.encoding, self.rng))
            key = genome_key(child)
            if key not in seen:
                seen.add(key)
                out.append(child)
        return np.asarray(out, dtype=np.int64).reshape(len(out), self.encoding.n_var)

    # -- tell ------------------------------------------------------------------------------
    def tell(self, X: np.ndarray, F: np.ndarray) -> None:
        """Score the predictor on the candidates just evaluated (the original's per-iteration figures)."""
        self.last = {}
        rows = [(self.pending[genome_key(x)], f) for x, f in zip(X, F)
                if genome_key(x) in self.pending and not np.isnan(f).any()]
        if self.generation > 0:
            self.last = {"predictor": self.predictor, "n_candidates": len(X)}
            models = getattr(self, "models", [])
            if models:
                self.last["winner"] = getattr(models[0], "winner", None) or models[0].name
            if len(rows) >= 2:
                predicted = np.array([p for p, _ in rows])
                true = np.array([[f[j] for j in self.predicted_columns] for _, f in rows])
                self.last["quality"] = [quality(true[:, i], predicted[:, i])
                                        for i in range(len(self.predicted_columns))]
        self.pending = {}
        self.generation += 1

    def info(self) -> dict[str, Any]:
        if not self.last:
            return {"phase": "design of experiments" if self.generation <= 1 else "iteration"}
        info: dict[str, Any] = {"phase": "iteration", "surrogate": {
            "model": self.last["predictor"], "winner": self.last.get("winner")}}
        for figures in self.last.get("quality", [])[:1]:
            info["surrogate"].update({k: float(v) for k, v in figures.items()})
        if len(self.last.get("quality", [])) > 1:
            info["surrogate"]["per_objective"] = [{k: float(v) for k, v in q.items()} for q in self.last["quality"]]
        return info
