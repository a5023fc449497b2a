"""``nsganet select``: read a finished (or running) run, pick architectures from its front, export them.

Each selected architecture goes to its own folder (``RUN/selected/arch-NNNNN``,
NNNNN its evaluation number) as written by :func:`nsganet.deploy.netfile.write_net`:
the space and architecture string, the network shape of the run's data, the
input normalisation the search used and, for ``mobilenetv3`` runs, the weights
inherited from the run's supernet (batch norm recalibrated as during search).
``selection.csv`` beside the folders lists what was picked and why.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.config import SearchConfig
from nsganet.deploy.netfile import NetSpec, write_net
from nsganet.errors import NsganetError
from nsganet.moo.selection import parse_preference, select
from nsganet.search.objectives import OBJECTIVES
from nsganet.search.outputs import atomic_write, front_of, objective_matrix
from nsganet.search.store import Evaluation, RunStore
from nsganet.search.study import STORE_FILE, read_run_config

logger = logging.getLogger("nsganet")

SELECTED_DIR = "selected"
SELECTION_CSV = "selection.csv"


@dataclass
class RunRecord:
    """What a run directory holds: its config, objectives and finished evaluations."""

    out: Path
    config: SearchConfig
    objectives: list[str]
    evaluations: list[Evaluation]
    custom_evaluator: str | None = None

    @property
    def front(self) -> list[Evaluation]:
        return front_of(self.evaluations, self.objectives)


def read_run(run_dir: str | Path) -> RunRecord:
    """Read a run directory; anything missing or foreign is a one-line error."""
    out = Path(run_dir)
    config, _, custom = read_run_config(out)
    with RunStore(out / STORE_FILE) as store:
        evaluations = store.evaluations()
    return RunRecord(out, config, list(config.objectives), evaluations, custom)


@dataclass
class Selected:
    """One exported architecture."""

    rank: int
    evaluation: Evaluation
    score: float
    folder: Path


def _network_source(record: RunRecord) -> dict[str, Any]:
    """Space, network shape, normalisation and (mobilenetv3) the weight source of the run's networks."""
    from nsganet.spaces import get_space

    config = record.config
    space = get_space(config.space)
    trains = record.custom_evaluator is None and not config.uses_table
    source: dict[str, Any] = {"space": space, "space_options": {}, "supernet": None, "subnet": None,
                              "build_options": space.proxy_options(config.channels, config.layers,
                                                                   use_defaults=trains)}
    if not trains:
        channels = config.in_channels or 3
        source.update(num_classes=config.num_classes or 10, input_size=config.input_size or 32,
                      in_channels=channels, mean=[0.0] * channels, std=[1.0] * channels, dataset={})
        return source
    from nsganet.api import _search_split
    from nsganet.data import channel_stats

    train_set, search_train, search_valid = _search_split(config)
    source.update(num_classes=train_set.num_classes, input_size=int(train_set.images.shape[-1]),
                  in_channels=train_set.channels,
                  dataset={"name": config.dataset_name, "data": config.data, "image_size": config.image_size})
    if config.space != "mobilenetv3":
        source["mean"], source["std"] = channel_stats(search_train)
        return source
    from nsganet.evaluators.supernet import SupernetEvaluator
    from nsganet.supernet.files import load_supernet

    supernet_file = Path(config.supernet) if config.supernet else record.out / "supernet" / "supernet.pt"
    if not supernet_file.is_file():
        raise NsganetError(f"the run's supernet {supernet_file} is missing; its weights cannot be exported")
    supernet, meta = load_supernet(supernet_file)
    evaluator = SupernetEvaluator(supernet, meta, search_train, search_valid, seed=config.seed)
    source.update(space=evaluator.space, space_options={"config": meta["config"]}, mean=list(meta["mean"]),
                  std=list(meta["std"]), supernet=str(supernet_file.resolve()), subnet=evaluator.subnet,
                  build_options={})
    return source


def export_selection(run_dir: str | Path, n: int = 3, prefer: str | None = None, out: str | Path | None = None,
                     channels: int | None = None, layers: int | None = None, onnx: bool = True) -> list[Selected]:
    """Select ``n`` architectures of a run's front (see :mod:`nsganet.moo.selection`) and export each.

    ``channels``/``layers`` set the width and depth of the exported networks
    (the space's proxy knobs; default: as searched), e.g. to re-train a larger
    network than the search's proxy, as NSGANetV1 did.
    """
    record = read_run(run_dir)
    front = record.front
    if not front:
        raise NsganetError(f"{record.out} has no successful evaluation yet; nothing to select")
    F = objective_matrix(front, record.objectives)
    reference = None
    if prefer is not None:
        values = parse_preference(prefer, record.objectives)
        reference = np.array([values.get(name, F[:, j].min()) for j, name in enumerate(record.objectives)])
    first = OBJECTIVES.get(record.objectives[0])
    if first is None or first.cost:
        logger.info("the first objective %s is taken as accuracy", record.objectives[0])
    indices, scores = select(F, n, reference)
    source = _network_source(record)
    space = source["space"]
    if channels is not None or layers is not None:
        if space.name == "mobilenetv3":
            raise NsganetError("--channels/--layers do not apply to mobilenetv3 networks (their shape is the "
                               "supernet's)")
        source["build_options"].update(space.proxy_options(channels, layers, use_defaults=False))
    folder_root = Path(out) if out is not None else record.out / SELECTED_DIR
    selected = []
    for rank, (index, score) in enumerate(zip(indices, scores), start=1):
        evaluation = front[int(index)]
        spec = NetSpec(space=space.name, arch=evaluation.arch, num_classes=source["num_classes"],
                       input_size=source["input_size"], in_channels=source["in_channels"],
                       mean=[float(v) for v in source["mean"]], std=[float(v) for v in source["std"]],
                       space_options=source["space_options"], build_options=dict(source["build_options"]),
                       dataset=source["dataset"], supernet=source["supernet"],
                       source={"run": str(record.out.resolve()), "seq": evaluation.seq,
                               "generation": evaluation.generation, "objectives": dict(evaluation.objectives)})
        model = None
        if source["subnet"] is not None:
            model = source["subnet"](space.architecture(np.asarray(evaluation.genome)))
        folder = write_net(folder_root / f"arch-{evaluation.seq:05d}", spec, model, weights=model is not None,
                           onnx=onnx)
        selected.append(Selected(rank, evaluation, float(score), folder))
    _write_selection_csv(folder_root, selected, record.objectives, "asf" if prefer is not None else "tradeoff")
    return selected


def _write_selection_csv(folder: Path, selected: list[Selected], objectives: list[str], score_name: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "seq", *objectives, score_name, "folder", "arch"])
    for s in selected:
        writer.writerow([s.rank, s.evaluation.seq, *(repr(s.evaluation.objectives[o]) for o in objectives),
                         repr(s.score), s.folder.name, s.evaluation.arch])
    atomic_write(folder / SELECTION_CSV, buffer.getvalue())
