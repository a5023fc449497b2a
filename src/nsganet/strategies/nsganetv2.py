"""NSGANetV2's surrogate-assisted search (MSuNAS, Lu et al., ECCV 2020), with a sharper surrogate loop.

A design of experiments (the smallest and the largest architecture, then
architectures spread over the range of the first cost objective) is evaluated
first. Then every iteration:

1. fit an accuracy predictor on the archive (one per non-cost objective),
   by default gradient-boosted trees on the log error; features are the
   one-hot genome plus the space's data-free descriptors where it has them
   (:class:`~nsganet.spaces.base.DescribedSpace`: NAS-Bench-201's live
   paths lift Kendall's τ from 100 architectures from 0.58 to 0.76);
2. predict the candidates: every architecture of a small space (``inner``
   ``"enumerate"``, up to ``enumerate_limit`` genomes), otherwise those NSGA-II
   visits on (predicted objectives, true cost objectives), started from the
   archive's non-dominated set: cheap, since no network is trained;
3. keep the ``n_candidates`` that fill the archive's front most
   (:func:`~nsganet.strategies.subset.select_front_fill`): first those whose
   predicted point adds hypervolume, then, while places are left, those that
   would add it if they were ``kappa`` doubts better than predicted. The
   doubt is the robust spread of the last batch's prediction errors (or,
   with ``ensemble`` > 1, the spread of a bag of models on bootstrap
   samples). The original spread the candidates evenly along the first cost
   instead (``selection="spread"``);
4. hand those to the study for true evaluation; they join the archive.

In a constrained run (:attr:`ProblemContext.violation`) the candidates are
screened before step 3: those that break a constraint on a cost (exact) or
on a predicted objective even at their most favourable value within
``kappa`` doubts of the prediction are removed (they fill the batch only,
least violation first, when too few others are left). The archive's front is
its feasible front, the NSGA-II on the surrogate ranks by constrained
domination on the predictions, and the design of experiments draws from the
architectures whose costs meet the constraints.

The defaults were chosen on NAS-Bench-201 (``benchmarks/nb201_strategies.py``,
``benchmarks/nb201_predictors.py``); ``docs/benchmarks.md`` lists what each change gained.

Asynchronously (:meth:`NSGANetV2.ask_async`) the design of experiments is
handed out first; then the predictor is refitted every ``refit_every``
completed evaluations (default ``n_candidates``) on the archive so far, and
each refit selects a batch of ``n_candidates`` by the same selection,
counting every evaluation still running as already on the front at its
predicted values (a "kriging believer"), which free workers are handed in
order. Workers that come free when the batch is used up before the next
refit get more candidates chosen alike, beyond what is pending, not the same
region. With one worker (results in order) this proposes exactly what the
generational search does.

Costs (FLOPs, parameters) of unevaluated candidates come from a cost function
the study binds (:meth:`Strategy.bind`). Per iteration :meth:`info`
reports the predictor, the model adaptive switching chose, and RMSE, Spearman
ρ and Kendall τ of its predictions on the candidates just evaluated.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from nsganet.errors import ConfigError
from nsganet.spaces.base import Encoding
from nsganet.strategies.archive import Archive, genome_key
from nsganet.strategies.base import STRATEGIES, Strategy
from nsganet.strategies.operators import PolynomialMutation, UniformCrossover, check_variation_options
from nsganet.strategies.ranking import binary_tournament, feasible_front, rank_and_crowding, survive
from nsganet.strategies.subset import select_front_fill, select_hypervolume, select_spread
from nsganet.surrogates import (
    TARGETS,
    Predictor,
    feature_names,
    get_features,
    get_predictor,
    identity,
    predictor_names,
    quality,
)


@STRATEGIES.register()
@dataclasses.dataclass
class NSGANetV2(Strategy):
    """Surrogate-assisted NSGA-II; ``pop_size`` is the population of the search on the surrogate."""

    name = "nsganetv2"
    uses_surrogate = True
    supports_async = True
    #: Size of the design of experiments; 0 picks budget/5 within 10..100 (the paper used 100).
    n_doe: int = 0
    #: Design of experiments: "cost" (spread over the first cost objective's range) or "random" (uniform).
    doe: str = "cost"
    #: Architectures truly evaluated per iteration (the paper's K = 8).
    n_candidates: int = 8
    #: Accuracy predictor: gbt, rbf, gp, mlp, cart, or "as" (adaptive switching among them).
    predictor: str = "gbt"
    #: Features the predictor sees ("structure": one-hot plus the space's descriptors; "onehot"; "integer"),
    #: and the target it is fitted on: "log" of the error (default: it keeps a few very bad architectures
    #: from dominating the fit), "raw" or "rank".
    features: str = "structure"
    target: str = "log"
    #: Predictors per objective: 1 fits one model on all data (its doubt: the robust spread of its errors
    #: on the last batch); more fit the others on bootstrap samples (their spread is the doubt).
    ensemble: int = 1
    #: Optimism of the second pass of "fill": places left are filled as if candidates were kappa doubts better.
    kappa: float = 1.5
    #: How the K candidates are chosen: "fill" (hypervolume gain of predicted, then optimistic points),
    #: "spread" (even gaps along the cost, the original) or "hypervolume" (greedy gain of predicted points).
    selection: str = "fill"
    #: Candidates: "enumerate" every architecture, "nsga2" on the surrogate, "auto": enumerate up to
    #: ``enumerate_limit`` genomes.
    inner: str = "auto"
    enumerate_limit: int = 100_000
    #: Generations of NSGA-II on the surrogate per iteration (its population is ``pop_size``).
    generations: int = 20
    crossover_prob: float = 0.9
    mutation_prob: float = 0.1
    mutation_eta: float = 1.0
    #: Asynchronous runs: completed evaluations between refits of the predictor; 0: n_candidates (the
    #: generational cadence).
    refit_every: int = 0

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "doe": ("cost", "random"), "selection": ("fill", "spread", "hypervolume"),
        "inner": ("auto", "enumerate", "nsga2")}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.predictor not in predictor_names():
            raise ConfigError(f"unknown predictor {self.predictor!r}; known predictors: "
                              f"{', '.join(predictor_names())}")
        choices = {"features": tuple(feature_names()), "target": TARGETS, **self.CHOICES}
        for option, known in choices.items():
            if getattr(self, option) not in known:
                raise ConfigError(f"nsganetv2 {option} must be one of {', '.join(known)}, "
                                  f"got {getattr(self, option)!r}")
        if self.n_doe < 0 or self.n_candidates < 1 or self.generations < 1 or self.ensemble < 1:
            raise ConfigError("nsganetv2 needs n_doe >= 0, n_candidates >= 1, generations >= 1 and ensemble >= 1")
        if self.kappa < 0 or self.enumerate_limit < 0 or self.refit_every < 0:
            raise ConfigError("nsganetv2 needs kappa >= 0, enumerate_limit >= 0 and refit_every >= 0")
        check_variation_options(self.name, self.crossover_prob, self.mutation_prob, self.mutation_eta)
        self.crossover = UniformCrossover(self.crossover_prob)
        self.mutation = PolynomialMutation(self.mutation_prob, self.mutation_eta)

    def setup(self, encoding: Encoding, n_obj: int, budget: int, seed: int) -> None:
        super().setup(encoding, n_obj, budget, seed)
        self.cost_columns = list(self.context.cost_columns)
        self.predicted_columns = [j for j in range(n_obj) if j not in self.cost_columns]
        if not self.predicted_columns:
            raise ConfigError("nsganetv2 needs at least one objective that is not a cost (e.g. error)")
        self.encode = get_features(self.features, encoding.lower, encoding.upper, self.context.descriptors)
        self.pending: dict[tuple[int, ...], list[float]] = {}  # candidate -> predicted objectives
        self.last: dict[str, Any] = {}
        # enumerated genomes, their features, costs and the position of each genome
        self._space: tuple[np.ndarray, np.ndarray, np.ndarray, dict[tuple[int, ...], int]] | None = None
        self.residual = np.zeros(len(self.predicted_columns))  # robust spread of the last batch's errors
        # asynchronous runs: (predicted, true) rows since the last fit, the genomes it learnt from, the
        # generator's state before it and the completions then; the fit's candidates with their predictions
        self.errors: list[list[list[float]]] = []
        self.fitted_on = np.empty((0, encoding.n_var), dtype=np.int64)
        self.fit_rng: dict[str, Any] | None = None
        self.fit_completed = 0
        self._pool: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def doe_size(self) -> int:
        return self.n_doe or int(np.clip(self.budget // 5, 10, 100))

    @property
    def enumerates(self) -> bool:
        """Whether candidates are every architecture of the space rather than an NSGA-II's visits."""
        return self.inner == "enumerate" or (self.inner == "auto" and self.encoding.size <= self.enumerate_limit)

    # -- ask -------------------------------------------------------------------------------
    def ask(self, archive: Archive) -> np.ndarray:
        if len(archive) == 0:  # a warm start's architectures first, then the design fills up to its size
            return self.seeded(self.doe_size, archive, lambda n, taken: self.design_of_experiments(archive, n, taken))
        X, F, V = archive.scored()
        if len(X) < 2:  # too little to fit on: explore
            return self.sample_new(self.n_candidates, archive, set())
        models = self.fit(X, F)  # on every success, feasible or not: the predictor learns from all
        if self.enumerates:
            pool_X, features, costs, position = self.all_candidates()
            fresh = np.ones(len(pool_X), dtype=bool)
            fresh[[position[key] for key in archive.keys if key in position]] = False
        else:
            pool_X = self.surrogate_search(models, X, F, V)
            costs = self.cost_matrix(pool_X)
            features = self.encode(pool_X)
            fresh = np.array([genome_key(x) not in archive for x in pool_X], dtype=bool)
        cand_X = pool_X[fresh]
        mean, spread = self.predict(models, features[fresh])
        chosen, expected = self.choose(cand_X, mean, spread, costs[fresh], feasible_front(F, V), self.n_candidates)
        batch = cand_X[chosen]
        self.pending = {genome_key(x): [float(f[j]) for j in self.predicted_columns]
                        for x, f in zip(batch, expected[chosen])}
        if len(batch) < self.n_candidates:  # the candidates are all evaluated already
            taken = {genome_key(x) for x in batch}
            batch = np.vstack([batch, self.sample_new(self.n_candidates - len(batch), archive, taken)])
        return batch

    def choose(self, cand_X: np.ndarray, mean: np.ndarray, spread: np.ndarray, costs: np.ndarray,
               front: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of up to ``k`` candidates to evaluate (screened in a constrained run) and every candidate's
        expected objective row, from the predictions ``mean`` and their doubt ``spread``."""
        expected = self.objective_matrix(mean, costs)
        optimistic = self.objective_matrix(mean - self.kappa * spread, costs)
        passed, fill = np.arange(len(cand_X)), np.empty(0, dtype=np.int64)
        if self.context.violation is not None:  # screen: exact costs, predictions within kappa doubts
            pessimistic = self.objective_matrix(mean + self.kappa * spread, costs)
            violation = self.context.violation(cand_X, optimistic, pessimistic)
            passed = np.flatnonzero(violation <= 0)
            failed = np.flatnonzero(violation > 0)
            fill = failed[np.argsort(violation[failed], kind="stable")]
        chosen = passed[self.select(expected[passed], optimistic[passed], front, k)]
        if len(chosen) < k and len(fill):  # too few pass: the least violation next
            chosen = np.concatenate([chosen, fill[:k - len(chosen)]])
        return chosen, expected

    def select(self, expected: np.ndarray, optimistic: np.ndarray, front: np.ndarray,
               k: int | None = None) -> np.ndarray:
        """Indices of ``k`` (default ``n_candidates``) candidates to evaluate, from their predicted and
        optimistic objective rows."""
        k = self.n_candidates if k is None else k
        if self.selection == "hypervolume":
            return select_hypervolume(expected, front, k)
        if self.selection == "spread":
            axis = self.cost_columns[0] if self.cost_columns else self.predicted_columns[-1]
            return select_spread(expected[:, axis], front[:, axis], k)
        # "fill": first what the prediction promises, then where doubt may pay
        chosen = select_front_fill(expected, expected, front, k, fallback=False)
        if len(chosen) < k:
            rest = np.setdiff1d(np.arange(len(expected)), chosen)
            more = select_front_fill(optimistic[rest], expected[rest], np.vstack([front, expected[chosen]]),
                                     k - len(chosen))
            chosen = np.sort(np.concatenate([chosen, rest[more]]))
        return chosen

    def design_of_experiments(self, archive: Archive, n: int | None = None,
                              taken: set[tuple[int, ...]] | None = None) -> np.ndarray:
        """The smallest and largest architectures of the space, then distinct ones spread over the cost range.

        ``n`` architectures (the DOE size by default; none for 0) outside ``taken`` (a warm start's).

        With ``doe="cost"`` and a cost objective, a pool of random architectures
        is cut into as many equal slices of the first cost objective's range as
        architectures are still wanted, and one is drawn per slice (the rest,
        for empty slices, uniformly from the pool): a random sample crowds the
        middle of the cost range, the front spans all of it.
        """
        smallest, largest = self.context.smallest, self.context.largest
        corners = (self.encoding.lower if smallest is None else smallest,
                   self.encoding.upper if largest is None else largest)
        n, taken = self.doe_size if n is None else n, set() if taken is None else taken
        first = []
        for genome in corners if n > 0 else ():
            genome = self.encoding.canonical(genome)
            if genome_key(genome) not in taken:
                taken.add(genome_key(genome))
                if self.context.violation is None or self.cost_violation(genome[None])[0] <= 0:
                    first.append(genome)
        n_rest = max(0, n - len(first))
        if self.doe == "cost" and self.cost_columns and self.context.costs is not None and n_rest > 1:
            rest = self._cost_spread(n_rest, archive, taken)
        elif self.context.violation is not None and n_rest:  # constrained: uniformly among those that may pass
            rest = self._screened_pool(n_rest, archive, taken)[:n_rest]
        else:
            rest = self.sample_new(n_rest, archive, taken)
        return np.vstack([np.asarray(first, dtype=np.int64).reshape(-1, self.encoding.n_var), rest])

    def cost_violation(self, X: np.ndarray) -> np.ndarray:
        """Violation of the constraints on costs alone (known before evaluation; predicted objectives unknown)."""
        assert self.context.violation is not None
        rows = self.objective_matrix(np.full((len(X), len(self.predicted_columns)), np.nan), self.cost_matrix(X))
        return self.context.violation(X, rows, rows)

    def _screened_pool(self, n: int, archive: Archive, taken: set[tuple[int, ...]]) -> np.ndarray:
        """Random architectures not evaluated nor ``taken``; constrained: those whose costs pass the constraints
        (at least ``n``: with too few, the least violation next), in the order drawn."""
        pool = self.sample_new(max(20 * n, 500), archive, set(taken), fallback=False)
        if self.context.violation is None or len(pool) == 0:
            return pool
        violation = self.cost_violation(pool)
        order = np.argsort(violation, kind="stable")
        keep = max(n, int(np.sum(violation <= 0)))
        return pool[np.sort(order[:keep])]

    def _cost_spread(self, n: int, archive: Archive, taken: set[tuple[int, ...]]) -> np.ndarray:
        pool = self._screened_pool(n, archive, taken)
        if len(pool) <= n:  # a tiny space: everything left
            return pool
        cost = self.cost_matrix(pool)[:, 0]
        edges = np.linspace(cost.min(), cost.max(), n + 1)
        slices = np.clip(np.searchsorted(edges, cost, side="right") - 1, 0, n - 1)
        picked = [int(self.rng.choice(np.flatnonzero(slices == b))) for b in range(n) if np.any(slices == b)]
        rest = np.setdiff1d(np.arange(len(pool)), picked)
        picked += self.rng.choice(rest, size=min(n - len(picked), len(rest)), replace=False).tolist()
        return pool[np.sort(picked)]

    # -- the surrogate -------------------------------------------------------------------------
    def fit(self, X: np.ndarray, F: np.ndarray) -> list[list[Predictor]]:
        """Per predicted objective, ``ensemble`` predictors: one on all data, or each on a bootstrap sample."""
        features = self.encode(X)
        models = []
        for j in self.predicted_columns:
            members = []
            for m in range(self.ensemble):
                seed = int(self.rng.integers(2**31 - 1))
                rows = np.arange(len(X)) if m == 0 else self.rng.integers(len(X), size=len(X))
                if len(np.unique(rows)) < 2:
                    rows = np.arange(len(X))
                model = get_predictor(self.predictor, seed=seed, encode=identity, target=self.target)
                members.append(model.fit(features[rows], F[rows, j]))
            models.append(members)
        self.models = models
        return models

    def predict(self, models: list[list[Predictor]], features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prediction of the model fitted on all data and its doubt, each (n, predicted objectives).

        The doubt is the ensemble's standard deviation, or for a single model
        the robust spread of its errors on the last batch.
        """
        if len(features) == 0:
            empty = np.empty((0, len(models)))
            return empty, empty
        values = np.stack([np.stack([m.predict(features) for m in members]) for members in models], axis=-1)
        if self.ensemble == 1:
            return values[0], np.broadcast_to(self.residual, values[0].shape)
        return values[0], values.std(axis=0)

    def objective_matrix(self, predicted: np.ndarray, costs: np.ndarray) -> np.ndarray:
        """Rows of objective values: ``predicted`` in the predicted columns, ``costs`` in the cost columns."""
        F = np.empty((len(predicted), self.n_obj))
        F[:, self.predicted_columns] = predicted
        if self.cost_columns:
            F[:, self.cost_columns] = costs
        return F

    def cost_matrix(self, X: np.ndarray) -> np.ndarray:
        if not self.cost_columns:
            return np.empty((len(X), 0))
        if self.context.costs is None:
            raise RuntimeError("nsganetv2 needs the costs of candidates: bind a ProblemContext with costs")
        return np.asarray(self.context.costs(X), dtype=float).reshape(len(X), len(self.cost_columns))

    def all_candidates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[tuple[int, ...], int]]:
        """Every canonical genome of the space with its features, costs and position (computed once per run)."""
        if self._space is None:
            X = self.encoding.enumerate()
            self._space = (X, self.encode(X), self.cost_matrix(X), {genome_key(x): i for i, x in enumerate(X)})
        return self._space

    def evaluate(self, models: list[list[Predictor]], X: np.ndarray) -> np.ndarray:
        """Surrogate objective matrix: predictions for predicted columns, true costs for the rest."""
        costs = self.cost_matrix(X)
        return self.objective_matrix(self.predict(models, self.encode(X))[0], costs)

    def surrogate_search(self, models: list[list[Predictor]], X: np.ndarray, F: np.ndarray,
                         V: np.ndarray | None = None) -> np.ndarray:
        """NSGA-II on the surrogate, seeded with the archive's best; returns every genome it visited.

        The visited genomes, not only the final population, are the candidates:
        the selection then weighs the predictor's doubt over all of them. In a
        constrained run (``V``: the archive's violations) it ranks by
        constrained domination, on the predicted violation of its genomes.
        """
        order = survive(F, self.pop_size, V)
        pop_X = X[order]
        keys = {genome_key(x) for x in pop_X}
        if len(pop_X) < self.pop_size:
            extra = self._offspring(pop_X, np.zeros(len(pop_X), dtype=np.int64), np.zeros(len(pop_X)),
                                    self.pop_size - len(pop_X), keys)
            pop_X = np.vstack([pop_X, extra])
        pop_F = self.evaluate(models, pop_X)
        pop_V = self._predicted_violation(pop_X, pop_F)
        visited = [pop_X]
        seen = {genome_key(x) for x in pop_X}
        for _ in range(self.generations):
            rank, crowding = rank_and_crowding(pop_F, pop_V)
            children = self._offspring(pop_X, rank, crowding, self.pop_size, keys)
            if len(children) == 0:
                break
            children_F = self.evaluate(models, children)
            new = np.array([genome_key(x) not in seen for x in children], dtype=bool)
            seen.update(genome_key(x) for x in children)
            visited.append(children[new])
            merged_X = np.vstack([pop_X, children])
            merged_F = np.vstack([pop_F, children_F])
            merged_V = None if pop_V is None else np.concatenate([pop_V, self._predicted_violation(children,
                                                                                                 children_F)])
            keep = survive(merged_F, self.pop_size, merged_V)
            pop_X, pop_F = merged_X[keep], merged_F[keep]
            pop_V = None if merged_V is None else merged_V[keep]
            keys = {genome_key(x) for x in pop_X}
        return np.vstack(visited)

    def _predicted_violation(self, X: np.ndarray, F: np.ndarray) -> np.ndarray | None:
        """Constraint violation of genomes at their surrogate objective rows ``F`` (None: unconstrained)."""
        return None if self.context.violation is None else self.context.violation(X, F, F)

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

    # -- asynchronous ----------------------------------------------------------------------
    @property
    def refit_interval(self) -> int:
        return self.refit_every or self.n_candidates

    def refit_due(self) -> bool:
        """Whether the predictor is to be (re)fitted: never fitted, or ``refit_interval`` completions since."""
        return self.fit_rng is None or self.completed - self.fit_completed >= self.refit_interval

    def ask_async(self, archive: Archive, n: int, pending: np.ndarray) -> np.ndarray:
        """The design of experiments first; then, at each refit, a batch of ``n_candidates`` (or ``n`` if more)
        chosen as :meth:`ask` does with ``pending`` believed at their predicted values, handed out in order;
        beyond it, more chosen alike."""
        taken = self.pending_keys(pending)
        pending = np.asarray(pending, dtype=np.int64).reshape(-1, self.encoding.n_var)
        first = lambda: self.seeded(  # noqa: E731
            self.doe_size, archive, lambda k, doe_taken: self.design_of_experiments(archive, k, doe_taken | taken))
        out = np.empty((0, self.encoding.n_var), dtype=np.int64)
        if self.fit_rng is None:  # the design of experiments
            out = self.from_queue(archive, n, taken, first)
        if len(out) < n and self.refit_due() and len(archive.scored()[0]) >= 2:
            self.queue_batch(archive, max(self.n_candidates, n - len(out)), np.vstack([pending, out]), taken)
        if len(out) < n:
            out = np.vstack([out, self.from_queue(archive, n - len(out), taken, first)])
        if len(out) < n:
            out = np.vstack([out, self.propose_async(archive, n - len(out), np.vstack([pending, out]), taken)])
        return out

    def queue_batch(self, archive: Archive, k: int, pending: np.ndarray, taken: set[tuple[int, ...]]) -> None:
        """Refit the predictor and queue the next ``k`` candidates (replacing those not handed out)."""
        for x in self.queue:  # dropped unproposed: their predictions go too
            if genome_key(x) not in taken:
                self.pending.pop(genome_key(x), None)
        self.learn_errors()
        self.fit_rng, self.fit_completed = self.rng.bit_generator.state, self.completed
        self.refit(archive, archive.scored()[0])
        self.queue = self.propose_async(archive, k, pending, set(taken))

    def propose_async(self, archive: Archive, k: int, pending: np.ndarray,
                      taken: set[tuple[int, ...]]) -> np.ndarray:
        """``k`` candidates of the last fit, none in ``archive`` nor ``taken``, chosen with ``pending`` believed at
        their predicted values (random ones before a fit is possible); they join ``taken``."""
        X, F, V = archive.scored()
        if len(X) < 2:  # too little to fit on: explore
            return self.sample_new(k, archive, taken)
        if self._pool is None:  # restored: the last fit again, as it was
            self.refit(archive, self.fitted_on, restored=True)
        assert self._pool is not None
        pool_X, costs, mean, spread = self._pool
        if self.enumerates:
            position = self.all_candidates()[3]
            fresh = np.ones(len(pool_X), dtype=bool)
            fresh[[position[key] for key in (*archive.keys, *taken) if key in position]] = False
        else:
            fresh = np.array([genome_key(x) not in archive and genome_key(x) not in taken for x in pool_X],
                             dtype=bool)
        front = feasible_front(F, V)
        if len(pending):  # pending evaluations believed at their predicted values
            believed = self.evaluate(self.models, pending)
            believed_V = (np.zeros(len(pending)) if self.context.violation is None
                          else self.context.violation(pending, believed, believed))
            front = feasible_front(np.vstack([F, believed]), np.concatenate([V, believed_V]))
        cand_X = pool_X[fresh]
        chosen, expected = self.choose(cand_X, mean[fresh], spread[fresh], costs[fresh], front, k)
        batch = cand_X[chosen]
        self.pending.update({genome_key(x): [float(f[j]) for j in self.predicted_columns]
                             for x, f in zip(batch, expected[chosen])})
        taken.update(genome_key(x) for x in batch)
        if len(batch) < k:  # the candidates are all evaluated already
            batch = np.vstack([batch, self.sample_new(k - len(batch), archive, taken)])
        return batch

    def refit(self, archive: Archive, fit_X: np.ndarray, restored: bool = False) -> None:
        """Fit the predictor on the archive's results for ``fit_X`` from the generator state ``fit_rng`` and
        predict its candidates once; ``restored``: redo the last fit of a saved run, leaving the generator
        where it was."""
        assert self.fit_rng is not None
        now = self.rng.bit_generator.state
        self.rng.bit_generator.state = self.fit_rng
        X, F, V = archive.scored()
        row = {genome_key(x): i for i, x in enumerate(X)}
        rows = np.array([row[genome_key(x)] for x in fit_X], dtype=np.int64)
        X, F, V = X[rows], F[rows], V[rows]
        models = self.fit(X, F)
        if self.enumerates:
            pool_X, features, costs, _ = self.all_candidates()
        else:
            pool_X = self.surrogate_search(models, X, F, V)
            costs, features = self.cost_matrix(pool_X), self.encode(pool_X)
        mean, spread = self.predict(models, features)
        self._pool, self.fitted_on = (pool_X, costs, mean, np.array(spread)), X
        if restored:
            self.rng.bit_generator.state = now

    def learn_errors(self) -> None:
        """The predictor's figures and doubt from its errors on the evaluations since its last fit."""
        if not self.errors:
            return
        predicted, true = (np.array([row[i] for row in self.errors]) for i in (0, 1))
        self.last = {"predictor": self.predictor, "n_candidates": len(self.errors)}
        if getattr(self, "models", None):
            first = self.models[0][0]
            self.last["winner"] = getattr(first, "winner", None) or first.name
        if len(self.errors) >= 2:
            self.last["quality"] = [quality(true[:, i], predicted[:, i]) for i in range(len(self.predicted_columns))]
            self.residual = 1.4826 * np.median(np.abs(predicted - true), axis=0)
        self.errors = []

    def tell_async(self, x: np.ndarray, f: np.ndarray, v: float | None = None) -> None:
        """Keep the predictor's error on ``x`` (for its doubt at the next refit); count the completion."""
        predicted = self.pending.pop(genome_key(x), None)
        f = np.asarray(f, dtype=float).reshape(self.n_obj)
        if predicted is not None and not np.isnan(f).any():
            self.errors.append([predicted, [float(f[j]) for j in self.predicted_columns]])
        self.count_completion()

    # -- tell ------------------------------------------------------------------------------
    def tell(self, X: np.ndarray, F: np.ndarray, V: np.ndarray | None = None) -> None:
        """Score the predictor on the candidates just evaluated (the original's per-iteration figures)."""
        self.last = {}
        rows = [(self.pending[genome_key(x)], f) for x, f in zip(X, F)
                if genome_key(x) in self.pending and not np.isnan(f).any()]
        if self.generation > 0:
            self.last = {"predictor": self.predictor, "n_candidates": len(X)}
            models = getattr(self, "models", [])
            if models:
                first = models[0][0]
                self.last["winner"] = getattr(first, "winner", None) or first.name
            if len(rows) >= 2:
                predicted = np.array([p for p, _ in rows])
                true = np.array([[f[j] for j in self.predicted_columns] for _, f in rows])
                self.last["quality"] = [quality(true[:, i], predicted[:, i])
                                        for i in range(len(self.predicted_columns))]
                self.residual = 1.4826 * np.median(np.abs(predicted - true), axis=0)
        self.pending = {}
        self.generation += 1

    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), "residual": [float(v) for v in self.residual]}
        if self.started:  # asynchronous
            state.update(predicted=[[list(key), values] for key, values in self.pending.items()],
                         errors=self.errors, fitted_on=self.fitted_on.tolist(), fit_rng=self.fit_rng,
                         fit_completed=self.fit_completed)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "residual" in state:  # runs from before it was kept start at no doubt
            self.residual = np.asarray(state["residual"], dtype=float)
        if "fitted_on" in state:
            self.pending = {tuple(key): list(values) for key, values in state["predicted"]}
            self.errors = [list(row) for row in state["errors"]]
            self.fitted_on = np.asarray(state["fitted_on"], dtype=np.int64).reshape(-1, self.encoding.n_var)
            self.fit_rng, self.fit_completed = state["fit_rng"], int(state["fit_completed"])
            self._pool = None  # refitted from fit_rng on the next ask_async

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
