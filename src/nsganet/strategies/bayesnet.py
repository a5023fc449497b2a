"""The Bayesian network that NSGANetV1 learns from its best architectures (Fig. 5, Sec. III-C).

Within each block (cell) of the encoding, the units (nodes) form a chain: the
first unit's value has a distribution p(u1), each later unit a distribution
conditioned on the ``order`` units before it, e.g. p(u3 | u2, u1) for order 2;
``order=None`` conditions each unit on every unit before it in its block, as
V1's Fig. 5 does: p(a1) p(a2 | a1) p(a3 | a2, a1).
A unit's "value" is the tuple of all its variables (inputs and operations).
Blocks are modelled independently.

Estimates are smoothed recursively: p_k(v | c_k) = (n(c_k, v) + a * p_{k-1}(v | c_{k-1}))
/ (n(c_k) + a), where c_k is the context of the k nearest preceding units and
p_{-1} is uniform over the unit's values. So unseen contexts fall back to
shorter ones, and unseen values keep a small probability that lets the model
propose architectures it has not seen.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from nsganet.spaces.base import Encoding

Value = tuple[int, ...]


class UnitChainNetwork:
    """A chain-structured Bayesian network over the units of each block."""

    def __init__(self, encoding: Encoding, order: int | None = None, prior: float = 1.0) -> None:
        if (order is not None and order < 0) or prior <= 0:
            raise ValueError("order must be >= 0 (or None: every previous unit) and prior > 0")
        if order is None:
            order = max((len(block) for block in encoding.blocks), default=1) - 1
        self.encoding, self.order, self.prior = encoding, order, prior
        # counts[unit][context] -> Counter of unit values; contexts are tuples of preceding values
        self.counts: dict[int, dict[tuple[Value, ...], Counter[Value]]] = {}

    def _context(self, block: tuple[int, ...], position: int, values: dict[int, Value],
                 length: int) -> tuple[Value, ...]:
        start = max(0, position - length)
        return tuple(values[u] for u in block[start:position])

    def _unit_value(self, genome: np.ndarray, unit: int) -> Value:
        return tuple(int(genome[i]) for i in self.encoding.units[unit])

    def fit(self, X: np.ndarray) -> UnitChainNetwork:
        """Count unit values and their contexts (of every length up to ``order``) in ``X``."""
        self.counts = {u: defaultdict(Counter) for u in range(len(self.encoding.units))}
        for genome in np.asarray(X):
            values = {u: self._unit_value(genome, u) for u in range(len(self.encoding.units))}
            for block in self.encoding.blocks:
                for pos, unit in enumerate(block):
                    for length in range(min(self.order, pos) + 1):
                        ctx = self._context(block, pos, values, length)
                        self.counts[unit][ctx][values[unit]] += 1
        return self

    def _domain_size(self, unit: int) -> int:
        idx = list(self.encoding.units[unit])
        return int(np.prod(self.encoding.upper[idx] - self.encoding.lower[idx] + 1))

    def probability(self, unit: int, value: Value, context: tuple[Value, ...] = ()) -> float:
        """Smoothed p(unit = value | context), the context being the preceding units' values."""
        base = self.probability(unit, value, context[1:]) if context else 1.0 / self._domain_size(unit)
        counter = self.counts[unit].get(tuple(context))
        total = sum(counter.values()) if counter else 0
        seen = counter[value] if counter else 0
        return (seen + self.prior * base) / (total + self.prior)

    def _sample_unit(self, unit: int, context: tuple[Value, ...], rng: np.random.Generator) -> Value:
        while True:
            counter = self.counts[unit].get(context)
            total = sum(counter.values()) if counter else 0
            if total and rng.random() < total / (total + self.prior):
                values = list(counter)
                weights = np.fromiter(counter.values(), dtype=float)
                return values[rng.choice(len(values), p=weights / total)]
            if not context:
                idx = list(self.encoding.units[unit])
                drawn = rng.integers(self.encoding.lower[idx], self.encoding.upper[idx] + 1)
                return tuple(int(v) for v in drawn)
            context = context[1:]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` genomes drawn from the network."""
        if not self.counts:
            raise RuntimeError("fit the network before sampling")
        out = np.empty((n, self.encoding.n_var), dtype=np.int64)
        for row in range(n):
            values: dict[int, Value] = {}
            for block in self.encoding.blocks:
                for pos, unit in enumerate(block):
                    ctx = self._context(block, pos, values, self.order)
                    values[unit] = self._sample_unit(unit, ctx, rng)
                    out[row, list(self.encoding.units[unit])] = values[unit]
        return out
