"""Named objectives: what a search minimises, and which of them are costs known from the network alone.

Every objective is minimised. ``error`` (and ``robustness``) come from an
evaluator; ``flops``, ``params`` and ``latency`` are costs, measured on the
built network by the cost model (:class:`~nsganet.costs.model.CostModel`).
Objectives register at their definition below; a user's evaluator may return
objectives of its own names (Python API).
"""

from __future__ import annotations

from dataclasses import dataclass

from nsganet.errors import ConfigError
from nsganet.registry import Registry


@dataclass(frozen=True)
class Objective:
    """A minimised quantity; ``cost`` objectives are measured from the network alone."""

    name: str
    description: str
    cost: bool = False
    #: Worst value a search can see, when known independently of the space (error: 100 %).
    worst: float | None = None


#: Every named objective, in the order ``nsganet list`` shows them.
OBJECTIVES: Registry[Objective] = Registry("objective")
for _objective in (
    Objective("error", "validation error in percent (100 - accuracy)", worst=100.0),
    Objective("flops", "multiply-accumulates of one forward pass, millions", cost=True),
    Objective("params", "learnable parameters, millions", cost=True),
    Objective("latency", "inference time of one batch on this machine, milliseconds", cost=True),
    Objective("robustness", "100 - normalised FGSM accuracy area in percent (lower: more robust)", worst=100.0),
):
    OBJECTIVES.add(_objective.name, _objective)


def is_cost(name: str) -> bool:
    """Whether ``name`` is a cost objective (known from the network without training)."""
    return name in OBJECTIVES and OBJECTIVES.get(name).cost


def get_objective(name: str) -> Objective | None:
    """The named objective, or None for a name only a user's evaluator knows."""
    return OBJECTIVES.get(name) if name in OBJECTIVES else None


def parse_objectives(names: str | list[str] | tuple[str, ...], allow_custom: bool = False) -> list[str]:
    """Validate objective names (a comma-separated string or a list).

    Custom names (returned by a user's evaluator function) are allowed only
    when ``allow_custom`` is set.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = list(names)
    if not names or any(not isinstance(n, str) or not n for n in names):
        raise ConfigError("objectives must be a non-empty list of names, e.g. error,flops")
    if len(set(names)) != len(names):
        raise ConfigError(f"objectives {','.join(names)} name one objective twice")
    if not allow_custom:
        unknown = [n for n in names if n not in OBJECTIVES]
        if unknown:
            OBJECTIVES.get(unknown[0])  # the registry's one-line error naming the known objectives
    return names
