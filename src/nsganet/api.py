"""The Python API: everything ``nsganet search`` does, as one function call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nsganet.config import SearchConfig
from nsganet.errors import ConfigError
from nsganet.evaluators import Evaluator, TableEvaluator
from nsganet.objectives import CostModel, parse_objectives
from nsganet.problem import Problem
from nsganet.spaces import SearchSpace, get_space
from nsganet.strategies import Strategy, get_strategy
from nsganet.study import SearchResult, Study


def search(space: str | SearchSpace = "nb201", evaluator: Evaluator | None = None,
           objectives: str | Sequence[str] = ("error", "flops"), strategy: str | Strategy = "nsganetv1",
           budget: int = 300, seed: int = 0, out: str | Path | None = None, *,
           pop_size: int | None = None, strategy_params: dict[str, Any] | None = None,
           table: str | Path | None = None, metric: str | None = None, num_classes: int = 10,
           input_size: int = 32, in_channels: int = 3, resume: bool = False, progress: bool = True,
           plots: bool = True) -> SearchResult:
    """Search ``space`` for architectures trading off ``objectives``.

    ``evaluator`` is any function from an :class:`~nsganet.spaces.Architecture`
    to a mapping of objective values (or a float, read as the error); instead,
    ``table`` and ``metric`` look accuracies up in a tabular benchmark. Cost
    objectives (``flops``, ``params``) are measured on the network built for
    ``num_classes`` and ``input_size``. ``budget`` counts distinct architectures
    evaluated. Results go to ``out``; ``resume=True`` continues the run there.
    """
    if evaluator is not None and table is not None:
        raise ConfigError("give either an evaluator function or a table, not both")
    config = SearchConfig(
        space=space if isinstance(space, str) else space.name,
        strategy=strategy if isinstance(strategy, str) else strategy.name,
        objectives=objectives if isinstance(objectives, str) else list(objectives),
        budget=budget, seed=seed, pop_size=pop_size,
        strategy_params=dict(strategy_params or {}), table=None if table is None else str(table),
        metric=metric, num_classes=num_classes, input_size=input_size, in_channels=in_channels,
        out=None if out is None else str(out),
    )
    return run_config(config, space=space, evaluator=evaluator, strategy=strategy, resume=resume,
                      progress=progress, plots=plots)


def run_config(config: SearchConfig, *, space: str | SearchSpace | None = None,
               evaluator: Evaluator | None = None, strategy: str | Strategy | None = None,
               resume: bool = False, progress: bool = True, plots: bool = True) -> SearchResult:
    """Run the search a validated :class:`SearchConfig` describes (objects may replace names)."""
    space_obj = get_space(space if space is not None else config.space)
    objectives = parse_objectives(config.objectives, allow_custom=evaluator is not None)
    params = dict(config.strategy_params)
    if config.pop_size is not None:
        params["pop_size"] = config.pop_size
    strategy_obj = get_strategy(strategy if strategy is not None else config.strategy, **params)
    if config.table is not None:
        evaluator = TableEvaluator(config.table, config.metric, space_obj)
    cost_model = CostModel(space_obj, num_classes=config.num_classes, input_size=config.input_size,
                           in_channels=config.in_channels)
    problem = Problem(space_obj, objectives, evaluator, cost_model)
    recorded = config.to_dict(include_runtime=False)
    if evaluator is not None and config.table is None:
        recorded["evaluator"] = _describe(evaluator)
    out = config.out or config.default_out()
    study = Study(problem, strategy_obj, config.budget, config.seed, out, recorded, resume=resume,
                  progress=progress, plots=plots)
    return study.run()


def _describe(evaluator: Evaluator) -> str:
    """A stable name for a user's evaluator, recorded in the run's config."""
    module = getattr(evaluator, "__module__", type(evaluator).__module__)
    name = getattr(evaluator, "__qualname__", type(evaluator).__qualname__)
    return f"{module}.{name}"
