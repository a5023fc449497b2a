"""The Python API: everything ``nsganet search`` does, as one function call."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nsganet.config import SearchConfig
from nsganet.errors import ConfigError
from nsganet.evaluators import Evaluator, TableEvaluator
from nsganet.executors.base import ExecutorSettings, visible_gpus
from nsganet.executors.ray import import_ray
from nsganet.search.objectives import CostModel, parse_objectives
from nsganet.search.problem import Problem
from nsganet.search.study import SearchResult, Study, open_run_store
from nsganet.spaces import SearchSpace, get_space
from nsganet.strategies import Strategy, get_strategy

logger = logging.getLogger("nsganet")


def search(space: str | SearchSpace = "micro", evaluator: Evaluator | None = None,
           objectives: str | Sequence[str] = ("error", "flops"), strategy: str | Strategy = "nsganetv1",
           budget: int = 100, seed: int = 0, out: str | Path | None = None, *,
           resume: bool = False, progress: bool = True, plots: bool = True, **options: Any) -> SearchResult:
    """Search ``space`` for architectures trading off ``objectives``.

    Architectures are scored by ``evaluator`` — any function from an
    :class:`~nsganet.spaces.Architecture` to a mapping of objective values (or a
    float, read as the error) — or, without one, by a tabular benchmark
    (``table=``, ``metric=``) or by proxy training on a dataset (``dataset=``
    name and ``data=`` path, or the embedded digits). Cost objectives
    (``flops``, ``params``) are measured on the built networks. ``budget``
    counts distinct architectures evaluated. Results go to ``out``;
    ``resume=True`` continues the run there. Further ``options`` are the keys of
    :class:`~nsganet.config.SearchConfig` (``pop_size``, ``epochs``,
    ``workers``, ``channels``, ...).
    """
    config = SearchConfig.from_dict({
        "space": space if isinstance(space, str) else space.name,
        "strategy": strategy if isinstance(strategy, str) else strategy.name,
        "objectives": objectives if isinstance(objectives, str) else list(objectives),
        "budget": budget, "seed": seed, "out": None if out is None else str(out),
        **{k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
    })
    return run_config(config, space=space, evaluator=evaluator, strategy=strategy, resume=resume,
                      progress=progress, plots=plots)


def run_config(config: SearchConfig, *, space: str | SearchSpace | None = None,
               evaluator: Evaluator | None = None, strategy: str | Strategy | None = None,
               resume: bool = False, progress: bool = True, plots: bool = True) -> SearchResult:
    """Run the search a validated :class:`SearchConfig` describes (objects may replace names)."""
    if evaluator is not None and config.uses_table:
        raise ConfigError("give either an evaluator function or a table, not both")
    space_obj = get_space(space if space is not None else config.space)
    objectives = parse_objectives(config.objectives, allow_custom=evaluator is not None)
    out = Path(config.out or config.default_out())
    params = dict(config.strategy_params)
    if config.pop_size is not None:
        params["pop_size"] = config.pop_size
    strategy_obj = get_strategy(strategy if strategy is not None else config.strategy, **params)
    latency = _latency_model(config, objectives, strategy_obj, space_obj)
    recorded = config.to_dict(include_runtime=False)
    trains = evaluator is None and not config.uses_table
    executor = _executor_settings(config, trains, strategy_obj.pop_size)
    inherits = trains and space_obj.name == "mobilenetv3"
    if config.supernet is not None and not inherits:
        raise ConfigError("--supernet applies to the mobilenetv3 space scored on a dataset")
    build_options = space_obj.proxy_options(config.channels, config.layers, use_defaults=trains)
    if inherits:
        open_run_store(out, recorded, resume).close()  # check the run directory before training a supernet
        resume = True
        evaluator = _supernet_evaluator(config, out, progress)
        space_obj = evaluator.space
        shape = evaluator.network_shape
    elif trains:
        shape_keys = [n for n in ("num_classes", "input_size", "in_channels") if getattr(config, n) is not None]
        if shape_keys:
            raise ConfigError(f"{shape_keys[0]} comes from the dataset when training; it applies to --table runs")
        evaluator = _proxy_evaluator(config, space_obj, build_options)
        shape = evaluator.network_shape
    else:
        if evaluator is None:
            evaluator = TableEvaluator(config.table, config.metric, space_obj)
        else:
            recorded["evaluator"] = _describe(evaluator)
        shape = {"num_classes": config.num_classes or 10, "input_size": config.input_size or 32,
                 "in_channels": config.in_channels or 3}
    cost_model = CostModel(space_obj, build_options=build_options, latency=latency, **shape)
    problem = Problem(space_obj, objectives, evaluator, cost_model)
    study = Study(problem, strategy_obj, config.budget, config.seed, out, recorded, resume=resume,
                  progress=progress, plots=plots, executor=executor)
    return study.run()


def _executor_settings(config: SearchConfig, trains: bool, pop_size: int) -> ExecutorSettings:
    """Where evaluations run. Local default: one worker per GPU, else per core, when training; one otherwise."""
    if config.executor == "ray":
        import_ray()  # fail before anything is written when Ray is missing
    workers = config.workers
    if workers is None:
        workers = (len(visible_gpus()) or min(os.cpu_count() or 1, pop_size)) if trains else 1
    return ExecutorSettings(kind=config.executor, workers=workers, ray_address=config.ray_address,
                            cpus_per_eval=config.cpus_per_eval, gpus_per_eval=config.gpus_per_eval,
                            retries=config.eval_retries)


def _search_split(config: SearchConfig) -> tuple[Any, Any, Any]:
    """The configured training data and its (search-train, search-validation) split.

    The validation part is ``vld_size`` images when given, else ``valid_fraction``
    of them; the test split is never read.
    """
    from nsganet.data import load_dataset, split_train_valid

    train_set, _ = load_dataset(config.dataset_name, config.data, image_size=config.image_size)
    fraction = config.valid_fraction
    if config.vld_size is not None:
        if config.vld_size >= len(train_set):
            raise ConfigError(f"vld_size {config.vld_size} must be smaller than the {len(train_set)} training images")
        fraction = config.vld_size / len(train_set)
    return train_set, *split_train_valid(train_set, fraction, seed=config.seed)


def _proxy_evaluator(config: SearchConfig, space: SearchSpace, build_options: dict[str, Any]) -> Any:
    """Proxy training on the configured dataset's search-train / search-validation split."""
    from nsganet.evaluators.proxy import ProxyEvaluator, ProxySettings
    from nsganet.robustness.fgsm import objective_eps
    from nsganet.train.loop import TrainSettings

    fgsm_eps = objective_eps(config.objectives, config.fgsm_eps)  # None unless robustness is an objective
    _, search_train, search_valid = _search_split(config)
    settings = ProxySettings(train=TrainSettings(epochs=config.epochs, lr=config.lr), batch_size=config.batch_size,
                             train_images=config.train_images, cutout=config.cutout, build_options=build_options,
                             fgsm_eps=fgsm_eps)
    return ProxyEvaluator(search_train, search_valid, settings, seed=config.seed)


def _supernet_evaluator(config: SearchConfig, out: Path, progress: bool) -> Any:
    """Weight inheritance from ``config.supernet``, or from a supernet trained in ``out/supernet`` first.

    The supernet trained here sees only the search-train part of the data; the
    validation subset (``vld_size`` images, or ``valid_fraction``) stays unseen.
    """
    from nsganet.evaluators.supernet import SupernetEvalSettings, SupernetEvaluator
    from nsganet.robustness.fgsm import objective_eps
    from nsganet.supernet.files import fit_supernet, load_supernet
    from nsganet.supernet.training import SupernetTrainSettings
    from nsganet.train.loop import TrainSettings

    fgsm_eps = objective_eps(config.objectives, config.fgsm_eps)  # checked before a supernet is trained
    train_set, search_train, search_valid = _search_split(config)
    if config.supernet is not None:
        supernet, meta = load_supernet(config.supernet)
        if meta["num_classes"] != train_set.num_classes or meta["in_channels"] != train_set.channels:
            raise ConfigError(f"supernet {config.supernet} is for {meta['num_classes']} classes of "
                              f"{meta['in_channels']}-channel images, the data has {train_set.num_classes} "
                              f"classes of {train_set.channels}-channel images: fine-tune it first with "
                              "'nsganet supernet train --init'")
    else:
        settings = SupernetTrainSettings(epochs=config.supernet_epochs, batch_size=max(config.batch_size, 64))
        supernet, meta = fit_supernet(search_train, out / "supernet", settings, seed=config.seed,
                                      progress=progress)
    finetune = TrainSettings(epochs=config.finetune_epochs, lr=config.lr * 0.1) if config.finetune_epochs else None
    return SupernetEvaluator(supernet, meta, search_train, search_valid,
                             SupernetEvalSettings(finetune=finetune, batch_size=config.batch_size, fgsm_eps=fgsm_eps),
                             seed=config.seed)


def _latency_model(config: SearchConfig, objectives: list[str], strategy: Strategy, space: SearchSpace) -> Any:
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
    from nsganet.costs.latency import LatencyModel
    from nsganet.costs.lut import LatencyTable

    table = LatencyTable.load(config.lut) if config.lut is not None else None
    model = LatencyModel(backend=config.latency_backend, batch_size=config.latency_batch, table=table)
    if table is not None and space.name == "mobilenetv3" and config.supernet is not None:
        from nsganet.spaces.mobilenetv3 import MobileNetV3Space
        from nsganet.supernet.files import config_of
        from nsganet.supernet.training import load_checkpoint

        meta = load_checkpoint(Path(config.supernet))
        if isinstance(meta, dict) and all(k in meta for k in ("config", "num_classes", "in_channels")):
            table.check(MobileNetV3Space(config_of(meta)), meta["num_classes"], meta["in_channels"])
    if table is None and strategy.name == "nsganetv2":
        logger.warning("latency is measured on every candidate the surrogate search prices (slow, noisy); "
                       "for mobilenetv3 give a look-up table (--lut, 'nsganet lut build')")
    return model


def _describe(evaluator: Evaluator) -> str:
    """A stable name for a user's evaluator, recorded in the run's config."""
    module = getattr(evaluator, "__module__", type(evaluator).__module__)
    name = getattr(evaluator, "__qualname__", type(evaluator).__qualname__)
    return f"{module}.{name}"
