"""Evaluators: anything that maps an :class:`~nsganet.spaces.base.Architecture` to objective values.

An evaluator is a callable ``evaluator(arch) -> {"error": ..., ...}`` (or a
single float, read as the error). It may declare the objectives it returns in a
``provides`` attribute so a run can check them before it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from nsganet.evaluators.table import TableEvaluator
from nsganet.spaces.base import Architecture

Evaluator = Callable[[Architecture], float | Mapping[str, float]]

__all__ = ["Evaluator", "TableEvaluator"]
