"""The Python API and composition root: everything ``nsganet search`` does, as one function call.

:func:`run_config` assembles a search from a validated :class:`SearchConfig`:
the space, the strategy, the evaluator kind (a table, proxy training, or
weight inheritance for a :class:`~nsganet.spaces.base.SupernetSpace`), the cost
model, the executor, and the callbacks that write the run directory (files,
plots, progress); then it runs the :class:`~nsganet.search.study.Study`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from nsganet.config import SearchConfig
from nsganet.costs.model import CostModel, LatencyModel
from nsganet.errors import ConfigError
from nsganet.evaluators import Evaluator, EvaluatorRequest, evaluator_kind
from nsganet.evaluators.base import trains_at_epochs
from nsganet.executors import EvaluationFn, Executor, ExecutorSettings
from nsganet.search.callbacks import Callback, run_writers
from nsganet.search.constraints import check_measurable, parse_constraints
from nsganet.search.fidelity import Fidelity
from nsganet.search.objectives import parse_objectives
from nsganet.search.problem import Problem
from nsganet.search.result import SearchResult
from nsganet.search.rundir import EVALUATOR_KEY, RunDirectory, network_options, search_split, trains
from nsganet.search.study import Study, check_schedule
from nsganet.search.warmstart import init_strings
from nsganet.spaces import SearchSpace, SupernetSpace, get_space
from nsganet.strategies import Strategy, get_strategy
from nsganet.utils.device import amp_dtype, resolve_device, visible_gpus

logger = logging.getLogger(__name__)


def search(space: str | SearchSpace = "micro", evaluator: Evaluator | None = None,
           objectives: str | Sequence[str] = ("error", "flops"), strategy: str | Strategy = "nsganetv1",
           budget: int | None = None, seed: int = 0, out: str | Path | None = None, *,
           resume: bool = False, progress: bool = True, plots: bool = True, callbacks: Iterable[Callback] = (),
           init: Sequence[str | Sequence[int]] | None = None,
           executor_factory: Callable[[EvaluationFn], Executor] | None = None, **options: Any) -> SearchResult:
    """Search ``space`` for architectures trading off ``objectives``.

    Architectures are scored by ``evaluator`` — any function from an
    :class:`~nsganet.spaces.Architecture` to a mapping of objective values (or a
    float, read as the error) — or, without one, by a tabular benchmark
    (``table=``, ``metric=``) or by training on a dataset (``dataset=`` name
    and ``data=`` path, or the embedded digits). Cost objectives (``flops``,
    ``params``) are measured on the built networks. ``budget`` counts
    distinct architectures evaluated (None: the configuration's default). Results go to ``out``; ``resume=True``
    continues the run there. ``callbacks`` (:class:`~nsganet.search.callbacks.Callback`)
    hear the search's events besides the writers of the run directory.
    ``init`` (architecture strings or genomes) warm-starts the search: its
    first generation starts with them (they are recorded as the config's
    ``init_archs``); ``init_from=RUN`` starts it with the front of an earlier
    run, reusing that run's results where they were scored the same way.
    Further ``options`` are the keys of :class:`~nsganet.config.SearchConfig`
    (``pop_size``, ``epochs``, ``workers``, ``channels``, ...), e.g.
    ``constraints=["flops<=300", "latency<=5"]``: hard constraints, in the
    units the run reports each value; architectures that break one never join
    the front, and strategies rank them after the feasible ones.
    ``executor_factory`` makes the executor from the evaluation function instead
    of the configured one, e.g. a :class:`~nsganet.executors.simulated.SimulatedCluster`.
    """
    if init is not None:
        if "init_archs" in options:
            raise ConfigError("give the warm start's architectures either as init or as init_archs, not both")
        options["init_archs"] = init_strings(get_space(space), init)
    config = SearchConfig.from_dict({
        "space": space if isinstance(space, str) else space.name,
        "strategy": strategy if isinstance(strategy, str) else strategy.name,
        "objectives": objectives if isinstance(objectives, str) else list(objectives),
        **({} if budget is None else {"budget": budget}), "seed": seed, "out": None if out is None else str(out),
        **{k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
    })
    return run_config(config, space=space, evaluator=evaluator, strategy=strategy, resume=resume,
                      progress=progress, plots=plots, callbacks=callbacks, executor_factory=executor_factory)


def run_config(config: SearchConfig, *, space: str | SearchSpace | None = None,
               evaluator: Evaluator | None = None, strategy: str | Strategy | None = None,
               resume: bool = False, progress: bool = True, plots: bool = True,
               callbacks: Iterable[Callback] = (),
               executor_factory: Callable[[EvaluationFn], Executor] | None = None) -> SearchResult:
    """Run the search a validated :class:`SearchConfig` describes (objects may replace names)."""
    if evaluator is not None and config.uses_table:
        raise ConfigError("give either an evaluator function or a table, not both")
    space_obj = get_space(space if space is not None else config.space)
    objectives = parse_objectives(config.objectives, allow_custom=evaluator is not None)
    constraints = parse_constraints(config.constraints)
    check_measurable(constraints, objectives, getattr(evaluator, "provides", None) if evaluator is not None
                     else ("error",), custom_evaluator=evaluator is not None)  # before anything is written
    run = RunDirectory(config.out or config.default_out())
    params = dict(config.strategy_params)
    if config.pop_size is not None:
        params["pop_size"] = config.pop_size
    strategy_obj = get_strategy(strategy if strategy is not None else config.strategy, **params)
    latency = _latency_model(config, [*objectives, *(c.name for c in constraints)], strategy_obj)
    recorded = config.to_dict(include_runtime=False)
    training = trains(config, evaluator)
    executor = _executor_settings(config, training, strategy_obj.pop_size)
    inherits = training and isinstance(space_obj, SupernetSpace)
    if config.supernet is not None and not inherits:
        raise ConfigError("--supernet applies to a supernet space (e.g. mobilenetv3) scored on a dataset")
    fidelity = _fidelity(config, evaluator, inherits)
    check_schedule(config.schedule, strategy_obj, fidelity)
    build_options = network_options(config, space_obj, training)
    if config.build_options:  # their values too, before anything is written: one network is built
        space_obj.build(space_obj.smallest(), **build_options)
    if training:  # a device or precision this machine lacks stops the run here, not each evaluation
        amp_dtype(config.amp, resolve_device(config.device))
    if evaluator is not None:
        recorded[EVALUATOR_KEY] = _describe(evaluator)
    if evaluator is None and training:
        shape_keys = [n for n in ("num_classes", "input_size", "in_channels") if getattr(config, n) is not None]
        if shape_keys:
            raise ConfigError(f"{shape_keys[0]} comes from the dataset when training; it applies to --table runs")
    with run.lock(recorded, resume):  # one process per run, also while a supernet is trained into it first
        if evaluator is None:
            if inherits:  # the run directory is checked before a supernet is trained into it
                run.open_store(recorded, resume).close()
                resume = True
            kind = "table" if config.uses_table else "supernet" if inherits else "proxy"
            request = EvaluatorRequest(_evaluator_config(config, executor), space_obj, run.supernet_dir,
                                       build_options, lambda: search_split(config), progress)
            evaluator = evaluator_kind(kind)(request)
            space_obj = getattr(evaluator, "space", space_obj)
            shape = evaluator.network_shape
        else:
            shape = config.network_shape()
        cost_model = CostModel(space_obj, build_options=build_options, latency=latency, **shape)
        problem = Problem(space_obj, objectives, evaluator, cost_model, constraints)
        writers: list[Callback] = run_writers(run, progress)
        if plots:
            from nsganet.report.search_plots import SearchPlots

            writers.append(SearchPlots())
        study = Study(problem, strategy_obj, config.budget, config.seed, run.path, recorded, resume=resume,
                      executor=executor, callbacks=[*writers, *callbacks], fidelity=fidelity,
                      executor_factory=executor_factory, schedule=config.schedule)
        return study.run()


def _fidelity(config: SearchConfig, evaluator: Evaluator | None, inherits: bool) -> Fidelity | None:
    """The multi-fidelity schedule (None when off); refused before anything is written where nothing trains."""
    if config.fidelity_eta is None:
        return None
    if inherits:
        raise ConfigError("--fidelity-eta trains architectures in rungs of epochs; weight inheritance from a "
                          "supernet does not train them")
    if evaluator is not None and not trains_at_epochs(evaluator):
        raise ConfigError(f"--fidelity-eta needs an evaluator that trains for a given number of epochs (a "
                          f"with_epochs method); {_describe(evaluator)} has none")
    return Fidelity(config.fidelity_eta, config.fidelity_min_epochs, config.epochs)


def _executor_settings(config: SearchConfig, training: bool, pop_size: int) -> ExecutorSettings:
    """Where evaluations run. Local default: one worker per GPU, else per core, when training; one otherwise."""
    if config.executor == "ray":
        from nsganet.executors.ray import import_ray

        import_ray()  # fail before anything is written when Ray is missing
    gpus = local_gpus(config.device) if training else []
    workers = config.workers
    if workers is None:
        workers = (len(gpus) or min(os.cpu_count() or 1, pop_size)) if training else 1
    return ExecutorSettings(kind=config.executor, workers=workers, ray_address=config.ray_address,
                            cpus_per_eval=config.cpus_per_eval, gpus_per_eval=config.gpus_per_eval,
                            retries=config.eval_retries, gpus=tuple(gpus))


def local_gpus(device: str) -> list[str]:
    """The visible GPUs local evaluation workers may use under ``--device``: none for cpu, one for cuda:N."""
    gpus = visible_gpus()
    if device == "cpu":
        return []
    if device.startswith("cuda:"):
        index = int(device.split(":")[1])
        if index >= len(gpus):
            raise ConfigError(f"--device {device}: this machine has {len(gpus)} visible GPU(s)")
        return [gpus[index]]
    return gpus


def _evaluator_config(config: SearchConfig, executor: ExecutorSettings) -> SearchConfig:
    """The config evaluations see: a pool worker sees only its own GPU, so ``cuda:N`` becomes ``cuda`` there."""
    if executor.kind == "local" and executor.workers > 1 and config.device.startswith("cuda:"):
        return dataclasses.replace(config, device="cuda")
    return config


def _latency_model(config: SearchConfig, objectives: list[str], strategy: Strategy) -> LatencyModel | None:
    """How the ``latency`` objective is obtained (None when it is not an objective).

    With ``config.lut`` the table is read here, before the run directory is
    created, and checked against the space when the cost model is built; a
    given supernet file is checked here already. (A supernet trained in the
    run directory is known, and checked, only after its training.)
    """
    if "latency" not in objectives:
        if config.lut is not None:
            raise ConfigError("--lut predicts the latency objective: add latency to --objectives")
        return None
    from nsganet.costs.lut import LatencyTable

    table = LatencyTable.load(config.lut) if config.lut is not None else None
    model = LatencyModel(backend=config.latency_backend, batch_size=config.latency_batch, table=table)
    if table is not None and config.supernet is not None and not config.supernet_epochs:
        from nsganet.supernet.files import load_supernet

        supernet = load_supernet(config.supernet)
        table.check(supernet.space, supernet.num_classes, supernet.in_channels)
    if table is None and strategy.uses_surrogate:
        logger.warning("latency is measured on every candidate the surrogate search prices (slow, noisy); "
                       "for a layer-wise space (mobilenetv3) give a look-up table (--lut, 'nsganet lut build')")
    return model


def _describe(evaluator: Evaluator) -> str:
    """A stable name for a user's evaluator, recorded in the run's config."""
    module = getattr(evaluator, "__module__", type(evaluator).__module__)
    name = getattr(evaluator, "__qualname__", type(evaluator).__qualname__)
    return f"{module}.{name}"
