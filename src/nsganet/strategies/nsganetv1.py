"""NSGANetV1 (Lu et al., TEVC 2020, Algorithm 1).

NSGA-II with the paper's operators: crossover between the space's units and
blocks, parent-centric discretised polynomial mutation, and, once a fraction
``exploit_start`` of the budget is spent (tau, 2/3 by default), exploitation by
sampling a Bayesian network learned from the ``top_k`` best evaluated
architectures, each node of a cell conditioned on every node before it (Fig. 5;
``bn_order`` N conditions on the N nodes before it instead). Exploitation
starts with ``1 - rho = exploit_rate`` (25 %) of the offspring and then adapts
rho by the softmax of the survival rates of the two kinds of offspring in the
previous generation (Eq. 2). In a constrained run survival, tournaments and
the network's ``top_k`` follow Deb's constrained domination (feasible first).

Asynchronously it is the steady-state NSGA-II of :class:`~nsganet.strategies.nsga2.NSGA2`
with the same exploitation: a "generation" is ``pop_size`` completed
evaluations; the network is refitted once per generation, and rho adapts at
the end of each from the share of that generation's offspring of each kind
still in the population.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from nsganet.errors import ConfigError
from nsganet.spaces.base import Encoding
from nsganet.strategies.archive import Archive, genome_key
from nsganet.strategies.base import STRATEGIES
from nsganet.strategies.bayesnet import UnitChainNetwork
from nsganet.strategies.nsga2 import NSGA2
from nsganet.strategies.operators import UnitCrossover
from nsganet.strategies.ranking import survival_order


@STRATEGIES.register()
@dataclasses.dataclass
class NSGANetV1(NSGA2):
    """NSGANetV1 search strategy; defaults from the paper's Table I and Sec. III-C."""

    name = "nsganetv1"
    exploit_start: float = 2.0 / 3.0
    exploit_rate: float = 0.25
    top_k: int = 100
    bn_order: int | None = None
    bn_prior: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.exploit_start <= 1.0 or not 0.0 <= self.exploit_rate <= 1.0:
            raise ConfigError("nsganetv1 exploit_start and exploit_rate must lie in [0, 1]")
        if self.top_k < 1 or (self.bn_order is not None and self.bn_order < 0) or self.bn_prior <= 0:
            raise ConfigError("nsganetv1 needs top_k >= 1, bn_order >= 0 (or none: every previous node) "
                              "and bn_prior > 0")

    def make_crossover(self) -> UnitCrossover:
        return UnitCrossover(self.crossover_prob)

    def setup(self, encoding: Encoding, n_obj: int, budget: int, seed: int) -> None:
        super().setup(encoding, n_obj, budget, seed)
        self.rho = 1.0  # probability that an offspring comes from the genetic operators
        self.exploiting = False
        self.survival_rates: dict[str, float] = {}
        self._origin: dict[tuple[int, ...], str] = {}
        # asynchronous runs: the network's training genomes and its generation, offspring told this generation
        self.network: UnitChainNetwork | None = None
        self.network_data = np.empty((0, encoding.n_var), dtype=np.int64)
        self.network_generation = -1
        self.told: list[tuple[tuple[int, ...], str]] = []

    def ask(self, archive: Archive) -> np.ndarray:
        if len(self.pop_X) == 0:
            return super().ask(archive)
        if not self.exploiting and len(archive) >= self.exploit_start * self.budget:
            self.exploiting, self.rho = True, 1.0 - self.exploit_rate
        n_bn = int(np.sum(self.rng.random(self.pop_size) >= self.rho)) if self.exploiting else 0
        taken: set[tuple[int, ...]] = set()
        from_bn = np.empty((0, self.encoding.n_var), dtype=np.int64)
        if n_bn:
            network = self.fit_network(archive)
            from_bn = self.sample_new(n_bn, archive, taken, propose=lambda: network.sample(self.rng, 1)[0],
                                      fallback=False)  # the genetic operators make up any shortfall
        from_ga = self.offspring(self.pop_size - len(from_bn), archive, taken)
        self._origin = {genome_key(x): "bn" for x in from_bn}
        self._origin.update({genome_key(x): "ga" for x in from_ga})
        return np.vstack([from_ga, from_bn])

    def fit_network(self, archive: Archive) -> UnitChainNetwork:
        """The Bayesian network of the ``top_k`` archive members by (constrained) rank and crowding."""
        return UnitChainNetwork(self.encoding, self.bn_order, self.bn_prior).fit(self.top_architectures(archive))

    def top_architectures(self, archive: Archive) -> np.ndarray:
        X, F, V = archive.scored()
        return X[survival_order(F, V)[: self.top_k]]

    def tell(self, X: np.ndarray, F: np.ndarray, V: np.ndarray | None = None) -> None:
        super().tell(X, F, V)
        origins = np.array([self._origin.get(genome_key(x), "init") for x in X])
        survived = np.zeros(len(X), dtype=bool)
        survived[self.survivors] = True
        self.adapt(origins, survived)
        self._origin = {}

    def adapt(self, origins: np.ndarray, survived: np.ndarray) -> None:
        """Survival rates of the offspring of each kind and, while exploiting, rho by Eq. (2)."""
        rates = {kind: float(survived[origins == kind].mean())
                 for kind in ("ga", "bn") if np.any(origins == kind)}
        self.survival_rates = rates
        if self.exploiting and len(rates) == 2:
            weights = {kind: math.exp(rate) for kind, rate in rates.items()}
            self.rho = weights["ga"] / (weights["ga"] + weights["bn"])  # Eq. (2)

    # -- asynchronous: steady state with exploitation ----------------------------------------
    def ask_async(self, archive: Archive, n: int, pending: np.ndarray) -> np.ndarray:
        if len(self.queue) or not self.started or len(self.pop_X) < self.pop_size:
            return super().ask_async(archive, n, pending)
        if not self.exploiting and len(archive) >= self.exploit_start * self.budget:
            self.exploiting, self.rho = True, 1.0 - self.exploit_rate
        n_bn = int(np.sum(self.rng.random(n) >= self.rho)) if self.exploiting else 0
        taken = self.pending_keys(pending)
        from_bn = np.empty((0, self.encoding.n_var), dtype=np.int64)
        if n_bn:
            if self.network is None or self.network_generation != self.generation:  # once per generation
                self.network_data = self.top_architectures(archive)
                self.network, self.network_generation = self.fit_stored_network(), self.generation
            network = self.network
            from_bn = self.sample_new(n_bn, archive, taken, propose=lambda: network.sample(self.rng, 1)[0],
                                      fallback=False)
        from_ga = self.offspring(n - len(from_bn), archive, taken)
        self._origin.update({genome_key(x): "bn" for x in from_bn})
        self._origin.update({genome_key(x): "ga" for x in from_ga})
        return np.vstack([from_ga, from_bn])

    def fit_stored_network(self) -> UnitChainNetwork:
        return UnitChainNetwork(self.encoding, self.bn_order, self.bn_prior).fit(self.network_data)

    def tell_async(self, x: np.ndarray, f: np.ndarray, v: float | None = None) -> None:
        generation = self.generation
        super().tell_async(x, f, v)
        key = genome_key(x)
        self.told.append((key, self._origin.pop(key, "init")))
        if self.generation != generation:  # a generation completed: rates of those still in the population
            members = {genome_key(m) for m in self.pop_X}
            origins = np.array([origin for _, origin in self.told])
            self.adapt(origins, np.array([key in members for key, _ in self.told], dtype=bool))
            self.told = []

    def info(self) -> dict[str, Any]:
        return {"rho": self.rho, "exploiting": self.exploiting, "survival_rates": self.survival_rates}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(rho=self.rho, exploiting=self.exploiting, survival_rates=self.survival_rates)
        if self.started:  # asynchronous
            state.update(origins=[[list(key), origin] for key, origin in self._origin.items()],
                         told=[[list(key), origin] for key, origin in self.told],
                         network_data=self.network_data.tolist() if self.network is not None else None,
                         network_generation=self.network_generation)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rho, self.exploiting = float(state["rho"]), bool(state["exploiting"])
        self.survival_rates = dict(state["survival_rates"])
        self._origin = {tuple(key): origin for key, origin in state.get("origins", [])}
        self.told = [(tuple(key), origin) for key, origin in state.get("told", [])]
        self.network_generation = int(state.get("network_generation", -1))
        self.network = None
        if state.get("network_data") is not None:
            self.network_data = np.asarray(state["network_data"], dtype=np.int64).reshape(-1, self.encoding.n_var)
            self.network = self.fit_stored_network()
