"""Variation operators on integer genomes.

Each operator is a small object configured by its probabilities and called
with the parents, the space's :class:`~nsganet.spaces.base.Encoding` and a
random generator; all are pure functions of those inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsganet.errors import ConfigError
from nsganet.spaces.base import Encoding


def check_variation_options(strategy: str, crossover_prob: float, mutation_prob: float, mutation_eta: float) -> None:
    """Refuse variation options that would silently mean something else (from a config file or -S)."""
    for option, value in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{strategy} {option} is a probability and must lie in [0, 1], got {value}")
    if not mutation_eta >= 0.0:
        raise ConfigError(f"{strategy} mutation_eta must be non-negative, got {mutation_eta}")


@dataclass(frozen=True)
class UniformCrossover:
    """Each variable comes from either parent with equal chance (applied with ``prob``)."""

    prob: float = 0.9

    def __call__(self, p1: np.ndarray, p2: np.ndarray, encoding: Encoding,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        c1, c2 = p1.copy(), p2.copy()
        if rng.random() < self.prob:
            swap = rng.random(encoding.n_var) < 0.5
            c1[swap], c2[swap] = p2[swap], p1[swap]
        return c1, c2


@dataclass(frozen=True)
class UnitCrossover:
    """NSGANetV1 crossover: exchange whole blocks or one unit per block.

    With probability ``prob`` the parents recombine, by one of two kinds chosen
    with equal chance: block level (one block, e.g. the Reduction cell, is
    swapped between the parents) or unit level (in every block, the unit at one
    random position, e.g. a node, is swapped). Spaces with a single block only
    use the unit level.
    """

    prob: float = 0.9

    def __call__(self, p1: np.ndarray, p2: np.ndarray, encoding: Encoding,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        c1, c2 = p1.copy(), p2.copy()
        if rng.random() >= self.prob:
            return c1, c2
        if len(encoding.blocks) > 1 and rng.random() < 0.5:
            block = encoding.blocks[rng.integers(len(encoding.blocks))]
            units = list(block)
        else:
            units = [block[rng.integers(len(block))] for block in encoding.blocks]
        idx = np.fromiter((v for u in units for v in encoding.units[u]), dtype=np.int64)
        c1[idx], c2[idx] = p2[idx], p1[idx]
        return c1, c2


@dataclass(frozen=True)
class PolynomialMutation:
    """Parent-centric, discretised polynomial mutation.

    Each variable mutates with probability ``prob``: a polynomial perturbation
    with distribution index ``eta`` (larger = closer to the parent), scaled to
    the variable's range, is rounded to an integer step of at least one, so a
    mutated variable always changes and nearby values (earlier inputs, similar
    operations) are the likeliest.
    """

    prob: float = 0.1
    eta: float = 3.0

    def __call__(self, x: np.ndarray, encoding: Encoding, rng: np.random.Generator) -> np.ndarray:
        y = x.copy()
        span = encoding.upper - encoding.lower
        mutate = (rng.random(encoding.n_var) < self.prob) & (span > 0)
        for i in np.flatnonzero(mutate):
            u = rng.random()
            if u < 0.5:
                delta = (2.0 * u) ** (1.0 / (self.eta + 1.0)) - 1.0
            else:
                delta = 1.0 - (2.0 * (1.0 - u)) ** (1.0 / (self.eta + 1.0))
            size = min(int(span[i]), max(1, round(abs(delta) * (span[i] + 1))))
            step = int(np.sign(delta)) * size
            step = step or (1 if u >= 0.5 else -1)
            value = x[i] + step
            if value < encoding.lower[i] or value > encoding.upper[i]:
                value = x[i] - step  # reflect into range
            y[i] = int(np.clip(value, encoding.lower[i], encoding.upper[i]))
        return y
