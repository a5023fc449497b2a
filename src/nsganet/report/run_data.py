"""Read everything a report shows from a run directory, finished or still running.

The run's SQLite store is the source of truth (every evaluation with its
genome, generation and status); ``stats/gen_NNNN.json`` adds what only the
search knew (hypervolume bounds, the surrogate's per-iteration quality);
``selected/*/net.json`` are the networks ``nsganet select`` exported. Missing
or corrupt required files are one-line :class:`NsganetError`\\ s; a corrupt
optional file (one stats file, one ``net.json``) is skipped with a note shown
in the report.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.config import SearchConfig
from nsganet.errors import ConfigError, NsganetError
from nsganet.search.outputs import FRONT_CSV, STATS_DIR, front_of
from nsganet.search.store import Evaluation, RunStore
from nsganet.search.study import STORE_FILE, read_run_config
from nsganet.spaces.base import SearchSpace

logger = logging.getLogger("nsganet")

#: Where ``nsganet select`` exports networks by default.
SELECTED_DIR = "selected"


@dataclass
class RunData:
    """A run directory as the report sees it.

    ``evaluations`` are the finished ones (``ok`` or ``failed``) in evaluation
    order; ``running`` counts those still in progress. ``front`` is the
    non-dominated set of the successful evaluations sorted by the first
    objective, exactly what ``front.csv`` holds once the run finishes.
    ``space`` is ``None`` when the run's architectures cannot be decoded by a
    known space (a user-defined space, say). ``exported`` maps architecture
    strings to the folders of exported networks.
    """

    path: Path
    config: SearchConfig
    raw_config: dict[str, Any]
    objectives: list[str]
    evaluations: list[Evaluation]
    running: int
    stats: list[dict[str, Any]]
    front: list[Evaluation]
    space: SearchSpace | None
    exported: dict[str, Path] = field(default_factory=dict)
    finished: bool = False
    custom_evaluator: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.status == "ok"]

    @property
    def n_failed(self) -> int:
        return sum(e.status == "failed" for e in self.evaluations)

    @property
    def generations(self) -> list[int]:
        return sorted({e.generation for e in self.evaluations})

    @property
    def hypervolume(self) -> float | None:
        """The normalised hypervolume after the last generation with stats (None when unknown)."""
        for stats in reversed(self.stats):
            if isinstance(stats.get("hypervolume"), (int, float)):
                return float(stats["hypervolume"])
        return None


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory; not a run directory, or a corrupt config or store, is a one-line error."""
    path = Path(run_dir)
    config, raw, custom = read_run_config(path)
    objectives = list(config.objectives)
    with RunStore(path / STORE_FILE) as store:
        try:
            evaluations = store.evaluations()
            running = len(store.evaluations(finished_only=False)) - len(evaluations)
        except Exception as exc:  # sqlite3 errors, undecodable rows
            raise NsganetError(f"run store {path / STORE_FILE} cannot be read: {exc}") from None
    notes: list[str] = []
    stats = _read_stats(path, notes)
    front = front_of([e for e in evaluations if e.status == "ok"], objectives)
    space = _resolve_space(config, path, evaluations, notes)
    data = RunData(path=path, config=config, raw_config=raw, objectives=objectives, evaluations=evaluations,
                   running=running, stats=stats, front=front, space=space,
                   exported=_exported(path, notes), finished=(path / FRONT_CSV).is_file(),
                   custom_evaluator=custom, notes=notes)
    return data


def _read_stats(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    """The per-generation stats files that parse, in generation order."""
    out = []
    for file in sorted((path / STATS_DIR).glob("gen_*.json")):
        try:
            values = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            notes.append(f"skipped {STATS_DIR}/{file.name}: not readable JSON")
            continue
        if not isinstance(values, dict):
            notes.append(f"skipped {STATS_DIR}/{file.name}: not a mapping")
            continue
        out.append(values)
    return out


def _exported(path: Path, notes: list[str]) -> dict[str, Path]:
    """Architecture string -> folder of each network exported into ``RUN/selected``."""
    out: dict[str, Path] = {}
    for spec in sorted((path / SELECTED_DIR).glob("*/net.json")):
        try:
            arch = json.loads(spec.read_text(encoding="utf-8")).get("arch")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            arch = None
        if not isinstance(arch, str):
            notes.append(f"skipped {SELECTED_DIR}/{spec.parent.name}/net.json: no architecture in it")
            continue
        out.setdefault(arch, spec.parent)
    return out


def _matches(space: SearchSpace, evaluations: list[Evaluation]) -> bool:
    """Whether ``space`` decodes the stored genomes into the stored architecture strings."""
    import numpy as np

    try:
        return all(space.to_string(np.asarray(e.genome, dtype=np.int64)) == e.arch for e in evaluations[:20])
    except NsganetError:
        return False


def _resolve_space(config: SearchConfig, path: Path, evaluations: list[Evaluation],
                   notes: list[str]) -> SearchSpace | None:
    """The space that decodes the run's genomes, or None (operations then fall back to genome values).

    A ``mobilenetv3`` space depends on its supernet's shape: it is read from an
    exported ``net.json`` or, failing that, from the supernet file.
    """
    from nsganet.spaces import get_space

    try:
        space = get_space(config.space)
    except ConfigError:
        notes.append(f"the space \"{config.space}\" is not a registered space: operations are the genome's values "
                     "and cells are not drawn")
        return None
    if _matches(space, evaluations):
        return space
    if config.space == "mobilenetv3":
        for candidate in _mobilenetv3_spaces(config, path):
            if _matches(candidate, evaluations):
                return candidate
    notes.append(f"the run's architectures do not decode in the default {config.space} space (its supernet "
                 "was not found): operations are the genome's values and cells are not drawn")
    return None


def _mobilenetv3_spaces(config: SearchConfig, path: Path) -> list[SearchSpace]:
    """MobileNetV3 spaces of the supernet shapes an exported network or the run's supernet file describe."""
    from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig

    shapes: list[dict[str, Any]] = []
    for spec in sorted((path / SELECTED_DIR).glob("*/net.json")):
        try:
            shape = json.loads(spec.read_text(encoding="utf-8"))["space_options"]["config"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            continue
        shapes.append(shape)
        break
    if not shapes:
        supernet = Path(config.supernet) if config.supernet else path / "supernet" / "supernet.pt"
        if supernet.is_file():
            from nsganet.supernet.training import load_checkpoint

            try:
                state = load_checkpoint(supernet)
                shapes.append(state["config"])
            except (NsganetError, KeyError, TypeError):
                logger.warning("cannot read the supernet shape from %s", supernet)
    spaces = []
    for shape in shapes:
        try:
            spaces.append(MobileNetV3Space(SupernetConfig(**shape)))
        except (TypeError, ValueError):
            continue
    return spaces
