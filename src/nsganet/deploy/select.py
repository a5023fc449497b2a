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
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.deploy.netfile import ONNX_FILE, SPEC_FILE, WEIGHTS_FILE, NetSpec, write_net
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
    status: str = "written"  # or "unchanged" (the folder held this network already), "replaced" (force)


@dataclass
class RunSettings:
    """A run's networks as its search resolved them: the space (a supernet run's: its supernet's, preset and
    width), the shape the costs were measured at, and the build options (proxy width and depth, ``-B``).

    ``split`` (a training run: the data set and its search-train and
    search-validation parts) and ``supernet`` (a supernet run's, read) are what
    was read to learn them, kept for whoever exports the networks.
    """

    space: SearchSpace
    num_classes: int
    input_size: int
    in_channels: int
    build_options: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    split: tuple[Any, Any, Any] | None = field(default=None, repr=False)
    supernet: Any = field(default=None, repr=False)

    @property
    def shape(self) -> dict[str, int]:
        """``num_classes``, ``input_size`` and ``in_channels``: what the cost model measured networks at."""
        return {"num_classes": self.num_classes, "input_size": self.input_size, "in_channels": self.in_channels}


def run_settings(record: RunRecord) -> RunSettings:
    """The settings of a run's networks (see :class:`RunSettings`), for ``select``, ``costs --run`` and ``draw
    --run``: a table run's from its config, a training run's from its data (read again) and, for a supernet space,
    its supernet file."""
    config = record.config
    space = get_space(config.space)
    build_options = network_options(config, space, record.trains)
    if not record.trains:
        return RunSettings(space, **config.network_shape(), build_options=build_options)
    split = record.search_split()
    train_set = split[0]
    dataset = {"name": config.dataset_name, "data": config.data, "image_size": config.image_size}
    settings = RunSettings(space, train_set.num_classes, train_set.image_size, train_set.channels, build_options,
                           dataset, split)
    if isinstance(space, SupernetSpace):
        from nsganet.supernet.files import load_supernet

        supernet_file = record.supernet_file()
        if not supernet_file.is_file():
            raise NsganetError(f"the run's supernet {supernet_file} is missing; its networks cannot be rebuilt")
        settings.supernet = load_supernet(supernet_file)
        settings.space = settings.supernet.space
        settings.num_classes, settings.in_channels = settings.supernet.num_classes, settings.supernet.in_channels
    return settings


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
    settings = run_settings(record)
    shape, build_options = settings.shape, settings.build_options
    if settings.split is None:
        channels = shape["in_channels"]
        return NetworkSource(settings.space, **shape, mean=[0.0] * channels, std=[1.0] * channels,
                             build_options=build_options)
    _, search_train, search_valid = settings.split
    if settings.supernet is None:
        from nsganet.data import channel_stats

        mean, std = channel_stats(search_train)
        return NetworkSource(settings.space, **shape, mean=mean, std=std, build_options=build_options,
                             dataset=settings.dataset)
    from nsganet.evaluators.supernet import SupernetEvaluator

    evaluator = SupernetEvaluator(settings.supernet, search_train, search_valid, seed=record.config.seed)
    train_set = settings.split[0]  # the exported networks are for the data's classes and channels
    shape = {"num_classes": train_set.num_classes, "input_size": train_set.image_size,
             "in_channels": train_set.channels}
    return NetworkSource(evaluator.space, **shape, mean=list(evaluator.mean), std=list(evaluator.std),
                         dataset=settings.dataset, supernet=str(record.supernet_file().resolve()),
                         subnet=evaluator.subnet)


def export_selection(run_dir: str | Path, n: int = 3, prefer: str | None = None, out: str | Path | None = None,
                     channels: int | None = None, layers: int | None = None, onnx: bool = True,
                     build_options: dict[str, Any] | None = None, force: bool = False) -> list[Selected]:
    """Select ``n`` architectures of a run's front (see :mod:`nsganet.moo.selection`) and export each.

    ``channels``/``layers`` set the width and depth of the exported networks
    (the space's proxy knobs; default: as searched), e.g. to re-train a larger
    network than the search's proxy, as NSGANetV1 did; ``build_options``
    set other options of the space's networks (e.g. ``stem="imagenet"`` for
    micro networks), recorded in ``net.json`` for re-training. A space that
    writes another tool's network files (``mobilenetv3``: NSGANetV2's
    ``net.subnet``, ``net.config``, ``net.inherited``) writes them beside.
    A folder holding this network already is left as it is; one holding it
    exported with other settings is refused, unless ``force`` replaces it.
    """
    record = read_run(run_dir)
    front = record.front
    if not front:
        if record.scored:
            bounds = ", ".join(str(c) for c in record.constraints)
            raise NsganetError(f"{record.path}: none of its {len(record.scored)} evaluated architectures meets "
                               f"{bounds}; nothing to select")
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
        selected = _export(record, front, indices, scores, source, folder_root, onnx, force)
        _write_selection_csv(folder_root, selected, record.objectives, "asf" if prefer is not None else "tradeoff")
    return selected


def _export(record: RunRecord, front: list[Evaluation], indices: Any, scores: Any, source: NetworkSource,
            folder_root: Path, onnx: bool, force: bool = False) -> list[Selected]:
    """Write one network folder per selected architecture under ``folder_root``.

    A folder that already holds the same network (``net.json`` alike, its
    files there) is left untouched; one holding another (e.g. exported at
    another width, its ``train/`` trained from that) is refused before
    anything is written, unless ``force``.
    """
    space = source.space
    planned = []
    for rank, (index, score) in enumerate(zip(indices, scores), start=1):
        evaluation = front[int(index)]
        spec = NetSpec(space=space.name, arch=evaluation.arch, num_classes=source.num_classes,
                       input_size=source.input_size, in_channels=source.in_channels,
                       mean=[float(v) for v in source.mean], std=[float(v) for v in source.std],
                       space_options=space.options, build_options=dict(source.build_options),
                       dataset=source.dataset, supernet=source.supernet,
                       source={"run": str(record.path.resolve()), "seq": evaluation.seq,
                               "generation": evaluation.generation, "objectives": dict(evaluation.objectives)})
        folder = folder_root / f"arch-{evaluation.seq:05d}"
        planned.append((rank, evaluation, float(score), spec, folder, _difference(folder, spec)))
    for *_, folder, difference in planned:
        if difference and not force:
            from nsganet.deploy.retrain import TRAIN_DIR

            trained = f" (its {TRAIN_DIR}/ was trained from it)" if (folder / TRAIN_DIR).is_dir() else ""
            raise NsganetError(f"{folder} holds this network exported with {difference}{trained}: export with "
                               "the same options, pass --force to replace it, or --out DIR to export elsewhere")
    selected = []
    for rank, evaluation, score, spec, folder, difference in planned:
        wanted = [SPEC_FILE, *([WEIGHTS_FILE] if source.subnet is not None else []), *([ONNX_FILE] if onnx else [])]
        if difference == "" and all((folder / name).is_file() for name in wanted):
            selected.append(Selected(rank, evaluation, score, folder, "unchanged"))
            continue
        model = None
        if source.subnet is not None:
            model = source.subnet(space.architecture(np.asarray(evaluation.genome)))
        write_net(folder, spec, model, weights=model is not None, onnx=onnx)
        if difference and not onnx and (folder / ONNX_FILE).exists():
            (folder / ONNX_FILE).unlink()  # the replaced network's
        if isinstance(space, ForeignNetFiles) and model is not None:  # e.g. NSGANetV2's net.subnet/.config/.inherited
            space.write_foreign_files(folder, np.asarray(evaluation.genome), model)
        selected.append(Selected(rank, evaluation, score, folder, "replaced" if difference else "written"))
    return selected


def _difference(folder: Path, spec: NetSpec) -> str | None:
    """How the network exported in ``folder`` differs from ``spec``: None when there is none, "" when it is the
    same, else its first differing keys with both values."""
    file = folder / SPEC_FILE
    if not file.exists():
        return None
    try:
        old = json.loads(file.read_text())
    except (OSError, ValueError, RecursionError):
        return "an unreadable net.json"
    if not isinstance(old, dict):
        return "a net.json that describes no network"
    new = json.loads(json.dumps(spec.to_dict()))
    keys = [k for k in [*new, *(k for k in old if k not in new)] if old.get(k) != new.get(k)]

    def short(value: Any) -> str:
        text = json.dumps(value)
        return text if len(text) <= 80 else text[:77] + "..."

    return "; ".join(f"{k} {short(old.get(k))}, not {short(new.get(k))}" for k in keys[:2])


def _write_selection_csv(folder: Path, selected: list[Selected], objectives: list[str], score_name: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "seq", *objectives, score_name, "folder", "arch"])
    for s in selected:
        writer.writerow([s.rank, s.evaluation.seq, *(repr(s.evaluation.objectives[o]) for o in objectives),
                         repr(s.score), s.folder.name, s.evaluation.arch])
    atomic_write(folder / SELECTION_CSV, buffer.getvalue())
