"""Evaluators: anything that maps an :class:`~nsganet.spaces.base.Architecture` to objective values.

Built-in kinds: ``table`` (look accuracies up), ``proxy`` (train a down-scaled
network briefly) and ``supernet`` (inherit weights from a once-for-all
supernet); see :mod:`nsganet.evaluators.base` for the interface. The kinds
that train load torch, so their modules are imported when a kind is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from nsganet.evaluators.base import EVALUATORS, Evaluator, EvaluatorRequest
from nsganet.evaluators.table import TableEvaluator

#: The modules of the built-in kinds (each registers its kind when imported).
BUILT_IN = ("nsganet.evaluators.table", "nsganet.evaluators.proxy", "nsganet.evaluators.supernet")


def evaluator_kind(name: str) -> Callable[[EvaluatorRequest], Evaluator]:
    """The factory of evaluator kind ``name`` (built-in or registered by the user)."""
    if name not in EVALUATORS:
        for module in BUILT_IN:
            importlib.import_module(module)
    return EVALUATORS.get(name)


__all__ = ["EVALUATORS", "Evaluator", "EvaluatorRequest", "TableEvaluator", "evaluator_kind"]
