"""Hard constraints on what a run measures: "flops<=300", "latency<5", parsed by a tiny grammar (no eval).

A constraint bounds one measured value, an objective or a cost, in the units
the run reports it (error in percent, flops in millions, latency in
milliseconds): ``NAME OP NUMBER`` with ``OP`` one of ``<=``, ``>=``, ``<``,
``>``. The violation of one constraint is how far the value lies beyond the
bound, divided by the bound's magnitude (by 1 for a bound of 0), so that
constraints of different units add up; a strict bound met exactly is violated
by :data:`TIE`. An architecture's total violation is the sum over the run's
constraints; 0 means feasible.

Strategies rank by Deb's constrained domination (NSGA-II, 2002): a feasible
architecture beats an infeasible one, of two infeasible ones the smaller total
violation wins, of two feasible ones Pareto dominance decides
(:func:`nsganet.strategies.ranking.nondominated_rank` with a violation array).
A run's front holds feasible architectures only.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nsganet.errors import ConfigError
from nsganet.search.objectives import OBJECTIVES, is_cost

#: The violation of a strict bound (``<``, ``>``) met exactly: infeasible, by the least amount.
TIE = 1e-9
OPERATORS = ("<=", ">=", "<", ">")
_GRAMMAR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(<=|>=|<|>)\s*([^\s<>=]+)\s*")
_EXAMPLE = "e.g. flops<=300 or latency<5"


@dataclass(frozen=True)
class Constraint:
    """``name op bound``: the value ``name`` must lie below (``<=``, ``<``) or above (``>=``, ``>``) ``bound``."""

    name: str
    op: str
    bound: float

    def __str__(self) -> str:
        text = repr(float(self.bound))
        return f"{self.name}{self.op}{text[:-2] if text.endswith('.0') else text}"

    @property
    def upper(self) -> bool:
        """Whether the bound is an upper one (``<=``, ``<``)."""
        return self.op in ("<=", "<")

    def violation(self, low: np.ndarray | float, high: np.ndarray | float | None = None) -> np.ndarray:
        """Normalised violation of values ``low`` (0 where met); with ``high``, of the most favourable value
        within ``[low, high]`` (a prediction's optimistic doubt). NaN values (unknown) count as met."""
        low = np.asarray(low, dtype=float)
        high = low if high is None else np.asarray(high, dtype=float)
        excess = (low - self.bound) if self.upper else (self.bound - high)
        excess = excess / (abs(self.bound) or 1.0)
        strict = self.op in ("<", ">")
        v = np.where(excess >= 0, np.maximum(excess, TIE), 0.0) if strict else np.maximum(excess, 0.0)
        return np.where(np.isnan(v), 0.0, v)


def parse_constraint(text: object) -> Constraint:
    """One constraint from its text, e.g. ``"flops<=300"``; anything else is a one-line :class:`ConfigError`."""
    if not isinstance(text, str):
        raise ConfigError(f"a constraint is a text like NAME<=NUMBER ({_EXAMPLE}), got {text!r}")
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        raise ConfigError(f"constraint {text!r} is not NAME<=NUMBER, NAME>=NUMBER, NAME<NUMBER or NAME>NUMBER "
                          f"({_EXAMPLE})")
    name, op, number = match.groups()
    try:
        bound = float(number)
    except ValueError:
        raise ConfigError(f"constraint {text!r}: {number!r} is not a number ({_EXAMPLE})") from None
    if not math.isfinite(bound):
        raise ConfigError(f"constraint {text!r}: the bound must be a finite number")
    return Constraint(name, op, bound)


def parse_constraints(texts: str | Iterable[object] | None) -> list[Constraint]:
    """Constraints from texts (a comma-separated text, or a list of them): sorted, without repeats.

    The order is canonical, so a run's identity does not depend on the order
    the constraints were given in.
    """
    if texts is None:
        return []
    if isinstance(texts, str):
        texts = [texts]
    parsed: dict[str, Constraint] = {}
    for text in texts:
        for part in text.split(",") if isinstance(text, str) else [text]:
            if isinstance(part, str) and not part.strip():
                continue
            constraint = parse_constraint(part)
            parsed[str(constraint)] = constraint
    return [parsed[key] for key in sorted(parsed)]


def canonical(texts: str | Iterable[object] | None) -> list[str]:
    """The canonical texts of constraints (what a config records): ``["flops<=300", "latency<5"]``."""
    return [str(c) for c in parse_constraints(texts)]


def check_measurable(constraints: Sequence[Constraint], objectives: Sequence[str],
                     provides: Collection[str] | None = None, custom_evaluator: bool = False) -> None:
    """Refuse, in one line, a constraint on a value the run does not measure.

    Measured are the objectives, every cost (flops, params, latency: measured
    on the network) and what the evaluator ``provides``. A user's evaluator
    that declares nothing may return names of its own.
    """
    known = {*objectives, *(n for n in OBJECTIVES if is_cost(n)), *(provides or ())}
    for c in constraints:
        if c.name in known or (custom_evaluator and provides is None and c.name not in OBJECTIVES):
            continue
        if c.name in OBJECTIVES:
            raise ConfigError(f"constraint {c}: this run does not measure {c.name}; add it to the objectives")
        close = difflib.get_close_matches(c.name, sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; measurable: {', '.join(sorted(known))}"
        raise ConfigError(f"constraint {c}: unknown name {c.name!r}{hint}")


def extra_names(constraints: Sequence[Constraint], objectives: Sequence[str]) -> list[str]:
    """Names constrained that are not objectives: measured besides them, in order, once each."""
    return list(dict.fromkeys(c.name for c in constraints if c.name not in objectives))


def total_violation(constraints: Sequence[Constraint], low: Mapping[str, np.ndarray],
                    high: Mapping[str, np.ndarray] | None = None, n: int | None = None) -> np.ndarray:
    """Total violation of ``n`` rows whose values are columns by name (``high``: see :meth:`Constraint.violation`).

    A name without a column is unknown and counts as met.
    """
    if n is None:
        n = len(next(iter(low.values()))) if low else 0
    total = np.zeros(n)
    for c in constraints:
        if c.name in low:
            total += c.violation(low[c.name], None if high is None else high.get(c.name))
    return total


def feasible_evaluations(constraints: Sequence[Constraint], evaluations: Iterable[Any]) -> list[Any]:
    """The successful evaluations (``status``, ``objectives``) that meet every constraint, in their order."""
    return [e for e in evaluations
            if e.status == "ok" and not (constraints and evaluation_violation(constraints, e.status, e.objectives) > 0)]


def evaluation_violation(constraints: Sequence[Constraint], status: str, values: Mapping[str, float]) -> float:
    """Total violation of one evaluation; NaN for a failed one (it is neither feasible nor infeasible)."""
    if status != "ok":
        return math.nan
    return float(total_violation(constraints, {name: np.array([values.get(name, np.nan)])
                                               for name in {c.name for c in constraints}}, n=1)[0])
