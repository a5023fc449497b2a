"""NSGA-II on integer genomes (Deb et al., 2002).

Binary tournament on rank and crowding distance, crossover and mutation, then
survival of the best ``pop_size`` of parents and offspring by non-dominated
sorting and crowding distance. Offspring already evaluated (or repeated within
the batch) are discarded and regenerated, so every proposal costs budget. In a
constrained run ranks follow Deb's constrained domination (tournaments and
survival: feasible first, then by increasing violation).

Asynchronously (:meth:`NSGA2.ask_async`) it is steady-state NSGA-II: the
initial population's genomes are proposed first, in the order of the first
batch, then each proposal is one offspring of the current population, and
each result joins the population, which keeps ``pop_size`` members by the
same survival (failed evaluations go first).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nsganet.spaces.base import Encoding
from nsganet.strategies.archive import Archive
from nsganet.strategies.base import STRATEGIES, Strategy
from nsganet.strategies.operators import (
    PolynomialMutation,
    UniformCrossover,
    UnitCrossover,
    check_variation_options,
)
from nsganet.strategies.ranking import binary_tournament, rank_and_crowding, survive


@STRATEGIES.register()
@dataclasses.dataclass
class NSGA2(Strategy):
    """Vanilla NSGA-II: uniform crossover and discretised polynomial mutation."""

    name = "nsga2"
    supports_async = True
    crossover_prob: float = 0.9
    mutation_prob: float = 0.1
    mutation_eta: float = 3.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_variation_options(self.name, self.crossover_prob, self.mutation_prob, self.mutation_eta)
        self.crossover = self.make_crossover()
        self.mutation = PolynomialMutation(self.mutation_prob, self.mutation_eta)

    def make_crossover(self) -> UniformCrossover | UnitCrossover:
        return UniformCrossover(self.crossover_prob)

    def setup(self, encoding: Encoding, n_obj: int, budget: int, seed: int) -> None:
        super().setup(encoding, n_obj, budget, seed)
        self.pop_X = np.empty((0, encoding.n_var), dtype=np.int64)
        self.pop_F = np.empty((0, n_obj))
        self.pop_V = np.zeros(0)

    # -- ask -------------------------------------------------------------------------------
    def ask(self, archive: Archive) -> np.ndarray:
        if len(self.pop_X) == 0:  # a warm start's architectures first
            return self.seeded(self.pop_size, archive, lambda n, taken: self.sample_new(n, archive, taken))
        return self.offspring(self.pop_size, archive, set())

    def mate(self, rank: np.ndarray, crowding: np.ndarray) -> np.ndarray:
        """One child from two parents chosen by binary tournament on ``rank`` and ``crowding``."""
        a, b = binary_tournament(rank, crowding, 2, self.rng)
        c1, c2 = self.crossover(self.pop_X[a], self.pop_X[b], self.encoding, self.rng)
        child = c1 if self.rng.random() < 0.5 else c2
        return self.mutation(child, self.encoding, self.rng)

    def offspring(self, n: int, archive: Archive, taken: set[tuple[int, ...]]) -> np.ndarray:
        rank, crowding = rank_and_crowding(self.pop_F, self.pop_V)
        return self.sample_new(n, archive, taken, propose=lambda: self.mate(rank, crowding))

    # -- asynchronous: steady state ----------------------------------------------------------
    def ask_async(self, archive: Archive, n: int, pending: np.ndarray) -> np.ndarray:
        """The initial population's genomes first, then offspring of the population (see the module)."""
        taken = self.pending_keys(pending)
        out = self.from_queue(archive, n, taken, lambda: self.seeded(
            self.pop_size, archive, lambda k, first: self.sample_new(k, archive, first | taken)))
        if len(out) < n:
            more = (self.offspring(n - len(out), archive, taken) if len(self.pop_X) >= self.pop_size
                    else self.sample_new(n - len(out), archive, taken))  # more workers than the population
            out = np.vstack([out, more])
        return out

    def tell_async(self, x: np.ndarray, f: np.ndarray, v: float | None = None) -> None:
        """One result joins the population; beyond ``pop_size`` members the worst goes (NSGA-II survival)."""
        self.join(x, f, v)
        self.count_completion()

    def join(self, x: np.ndarray, f: np.ndarray, v: float | None) -> None:
        X = np.vstack([self.pop_X, np.asarray(x, dtype=np.int64).reshape(1, self.encoding.n_var)])
        F = np.vstack([self.pop_F, np.asarray(f, dtype=float).reshape(1, self.n_obj)])
        V = np.append(self.pop_V, 0.0 if v is None else float(v))
        if len(X) > self.pop_size:
            keep = np.sort(survive(F, self.pop_size, V))
            X, F, V = X[keep], F[keep], V[keep]
        self.pop_X, self.pop_F, self.pop_V = X, F, V

    # -- tell ------------------------------------------------------------------------------
    def tell(self, X: np.ndarray, F: np.ndarray, V: np.ndarray | None = None) -> None:
        merged_X = np.vstack([self.pop_X, X])
        merged_F = np.vstack([self.pop_F, F])
        merged_V = np.concatenate([self.pop_V, np.zeros(len(X)) if V is None else np.asarray(V, dtype=float)])
        keep = np.sort(survive(merged_F, self.pop_size, merged_V))
        self.survivors = keep[keep >= len(self.pop_X)] - len(self.pop_X)  # rows of X that survived
        self.pop_X, self.pop_F, self.pop_V = merged_X[keep], merged_F[keep], merged_V[keep]
        self.generation += 1

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["population"] = self.pop_X.tolist()
        state["objectives"] = [[None if np.isnan(v) else float(v) for v in row] for row in self.pop_F]
        state["violation"] = [None if np.isnan(v) else float(v) for v in self.pop_V]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pop_X = np.asarray(state["population"], dtype=np.int64).reshape(-1, self.encoding.n_var)
        self.pop_F = np.asarray(
            [[np.nan if v is None else v for v in row] for row in state["objectives"]], dtype=float
        ).reshape(-1, self.n_obj)
        violation = state.get("violation")  # states of runs from before constraints: all feasible
        self.pop_V = np.zeros(len(self.pop_X)) if violation is None else np.asarray(
            [np.nan if v is None else v for v in violation], dtype=float).reshape(len(self.pop_X))
