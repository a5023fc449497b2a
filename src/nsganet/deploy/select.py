"""``nsganet select``: read a finished (or running) run, pick architectures from its front, export them.

Each selected architecture goes to its own folder (``RUN/selected/arch-NNNNN``,
NNNNN its evaluation number) as written by :func:`nsganet.deploy.netfile.write_net`:
the space and architecture string, the network shape of the run's data, the
input normalisation the search used and, for runs of a weight-sharing space
(:class:`~nsganet.spaces.base.SupernetSpace`), the weights inherited from the
run's supernet (batch norm recalibrated as during search).
``selection.csv`` beside the folders lists what was picked and why.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.deploy.netfile import NetSpec, write_net
from nsganet.errors import NsganetError
from nsganet.moo.front import objective_matrix
from nsganet.moo.selection import parse_preference, select
from nsganet.search.objectives import get_objective
from nsganet.search.rundir import RunDirectory, RunRecord, network_options
from nsganet.search.store import Evaluation
from nsganet.spaces import ForeignNetFiles, SearchSpace, SupernetSpace, get_space
from nsganet.utils.files import atomic_write
from nsganet.utils.lock import locked

logger = logging.getLogger(__name__)

SELECTION_CSV = "selection.csv"


def read_run(run_dir: str | Path) -> RunRecord:
    """Read a run directory (its store checked, nothing written to it); anything missing, foreign or damaged is a
    one-line error."""
    return RunDirectory(run_dir).read()


@dataclass
class Selected:
    """One exported architecture."""

    rank: int
    evaluation: Evaluation
    score: float
    folder: Path


@dataclass
class NetworkSource:
    """How a run's networks are built and fed: space, shape, normalisation, data, inherited weights."""

    space: SearchSpace
    num_classes: int
    input_size: int
    in_channels: int
    mean: list[float]
    std: list[float]
    build_options: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    supernet: str | None = None
    subnet: Any = None  # architecture -> network with inherited, recalibrated weights


def network_source(record: RunRecord) -> NetworkSource:
    """Space, network shape, normalisation and (weight-sharing spaces) the weight source of a run's networks."""
    config = record.config
    space = get_space(config.space)
    build_options = network_options(config, space, record.trains)
    if not record.trains:
        shape = config.network_shape()
        channels = shape["in_channels"]
        return NetworkSource(space, **shape, mean=[0.0] * channels, std=[1.0] * channels,
                             build_options=build_options)
    from nsganet.data import channel_stats

    train_set, search_train, search_valid = record.search_split()
    dataset = {"name": config.dataset_name, "data": config.data, "image_size": config.image_size}
    shape = {"num_classes": train_set.num_classes, "input_size": train_set.image_size,
             "in_channels": train_set.channels}
    if not isinstance(space, SupernetSpace):
        mean, std = channel_stats(search_train)
        return NetworkSource(space, **shape, mean=mean, std=std, build_options=build_options, dataset=dataset)
    from nsganet.evaluators.supernet import SupernetEvaluator
    from nsganet.supernet.files import load_supernet

    supernet_file = record.supernet_file()
    if not supernet_file.is_file():
        raise NsganetError(f"the run's supernet {supernet_file} is missing; its weights cannot be exported")
    evaluator = SupernetEvaluator(load_supernet(supernet_file), search_train, search_valid, seed=config.seed)
    return NetworkSource(evaluator.space, **shape, mean=list(evaluator.mean), std=list(evaluator.std),
                         dataset=dataset, supernet=str(supernet_file.resolve()), subnet=evaluator.subnet)


def export_selection(run_dir: str | Path, n: int = 3, prefer: str | None = None, out: str | Path | None = None,
                     channels: int | None = None, layers: int | None = None, onnx: bool = True,
                     build_options: dict[str, Any] | None = None) -> list[Selected]:
    """Select ``n`` architectures of a run's front (see :mod:`nsganet.moo.selection`) and export each.

    ``channels``/``layers`` set the width and depth of the exported networks
    (the space's proxy knobs; default: as searched), e.g. to re-train a larger
    network than the search's proxy, as NSGANetV1 did; ``build_options``
    set other options of the space's networks (e.g. ``stem="imagenet"`` for
    micro networks), recorded in ``net.json`` for re-training. A space that
    writes another tool's network files (``mobilenetv3``: NSGANetV2's
    ``net.subnet``, ``net.config``, ``net.inherited``) writes them beside.
    """
    record = read_run(run_dir)
    front = record.front
    if not front:
        raise NsganetError(f"{record.path} has no successful evaluation yet; nothing to select")
    F = objective_matrix(front, record.objectives)
    reference = None
    if prefer is not None:
        values = parse_preference(prefer, record.objectives)
        reference = np.array([values.get(name, F[:, j].min()) for j, name in enumerate(record.objectives)])
    first = get_objective(record.objectives[0])
    if first is None or first.cost:
        logger.info("the first objective %s is taken as accuracy", record.objectives[0])
    indices, scores = select(F, n, reference)
    source = network_source(record)
    space = source.space
    if channels is not None or layers is not None:
        if isinstance(space, SupernetSpace):
            raise NsganetError(f"--channels/--layers do not apply to {space.name} networks (their shape is the "
                               "supernet's)")
        source.build_options.update(space.proxy_options(channels, layers, use_defaults=False))
    if build_options:
        if isinstance(space, SupernetSpace):
            raise NsganetError(f"build options do not apply to {space.name} networks (their shape is the supernet's)")
        source.build_options.update(space.check_build_options(build_options))
    folder_root = Path(out) if out is not None else record.directory.selected_dir
    try:
        folder_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NsganetError(f"cannot create {folder_root}: {exc.strerror or exc}") from None
    with locked(folder_root, "nsganet select"):  # select writes only here, never into the run it reads
        selected = _export(record, front, indices, scores, source, folder_root, onnx)
        _write_selection_csv(folder_root, selected, record.objectives, "asf" if prefer is not None else "tradeoff")
    return selected


def _export(record: RunRecord, front: list[Evaluation], indices: Any, scores: Any, source: NetworkSource,
            folder_root: Path, onnx: bool) -> list[Selected]:
    """Write one network folder per selected architecture under ``folder_root``."""
    space = source.space
    selected = []
    for rank, (index, score) in enumerate(zip(indices, scores), start=1):
        evaluation = front[int(index)]
        spec = NetSpec(space=space.name, arch=evaluation.arch, num_classes=source.num_classes,
                       input_size=source.input_size, in_channels=source.in_channels,
                       mean=[float(v) for v in source.mean], std=[float(v) for v in source.std],
                       space_options=space.options, build_options=dict(source.build_options),
                       dataset=source.dataset, supernet=source.supernet,
                       source={"run": str(record.path.resolve()), "seq": evaluation.seq,
                               "generation": evaluation.generation, "objectives": dict(evaluation.objectives)})
        model = None
        if source.subnet is not None:
            model = source.subnet(space.architecture(np.asarray(evaluation.genome)))
        folder = write_net(folder_root / f"arch-{evaluation.seq:05d}", spec, model, weights=model is not None,
                           onnx=onnx)
        if isinstance(space, ForeignNetFiles) and model is not None:  # e.g. NSGANetV2's net.subnet/.config/.inherited
            space.write_foreign_files(folder, np.asarray(evaluation.genome), model)
        selected.append(Selected(rank, evaluation, float(score), folder))
    return selected


def _write_selection_csv(folder: Path, selected: list[Selected], objectives: list[str], score_name: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "seq", *objectives, score_name, "folder", "arch"])
    for s in selected:
        writer.writerow([s.rank, s.evaluation.seq, *(repr(s.evaluation.objectives[o]) for o in objectives),
                         repr(s.score), s.folder.name, s.evaluation.arch])
    atomic_write(folder / SELECTION_CSV, buffer.getvalue())
