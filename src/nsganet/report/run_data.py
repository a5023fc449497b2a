"""Read everything a report shows from a run directory, finished or still running.

The run read back (:class:`~nsganet.search.rundir.RunRecord`: config and every
finished evaluation, from the store) is the source of truth;
``stats/gen_NNNN.json`` adds what only the search knew (hypervolume bounds,
the surrogate's per-iteration quality); ``selected/*/net.json`` are the
networks ``nsganet select`` exported; the store's timestamps give the run's wall-clock
time (:class:`RunTime`). Missing or corrupt required files are
one-line :class:`NsganetError`\\ s; a corrupt optional file (one stats file, one
``net.json``) is skipped with a note shown in the report.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.config import SearchConfig
from nsganet.errors import NsganetError
from nsganet.search.rundir import RunDirectory, RunRecord
from nsganet.search.store import Evaluation, RunStore
from nsganet.search.study import HARDWARE_META
from nsganet.spaces import SPACES, SearchSpace, SupernetSpace, get_space

logger = logging.getLogger(__name__)


@dataclass
class RunTime:
    """When a run's evaluations ran: first start and last finish (Unix seconds), and their summed durations.

    ``hardware`` is what the search recorded of its machine (None: nothing recorded).
    """

    started: float | None = None
    finished: float | None = None
    evaluation_seconds: float | None = None
    hardware: dict[str, Any] | None = None

    @property
    def wall_seconds(self) -> float | None:
        """Wall-clock seconds from the first evaluation's start to the last one's end (None when unknown)."""
        if self.started is None or self.finished is None:
            return None
        return max(0.0, self.finished - self.started)


@dataclass
class RunData:
    """A run directory as the report sees it: the run read back, its stats, its space, its exported networks.

    ``space`` is ``None`` when the run's architectures cannot be decoded by a
    known space (a user-defined space that is not registered, say).
    ``exported`` maps architecture strings to the folders of exported networks.
    """

    record: RunRecord
    stats: list[dict[str, Any]]
    space: SearchSpace | None
    exported: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    time: RunTime = field(default_factory=RunTime)

    @property
    def path(self) -> Path:
        return self.record.path

    @property
    def config(self) -> SearchConfig:
        return self.record.config

    @property
    def raw_config(self) -> dict[str, Any]:
        return self.record.raw_config

    @property
    def objectives(self) -> list[str]:
        return self.record.objectives

    @property
    def evaluations(self) -> list[Evaluation]:
        """The finished evaluations (``ok`` or ``failed``) in evaluation order."""
        return self.record.evaluations

    @property
    def running(self) -> int:
        return self.record.running

    @property
    def front(self) -> list[Evaluation]:
        """The non-dominated successful evaluations sorted by the first objective (what ``front.csv`` holds)."""
        return self.record.front

    @property
    def finished(self) -> bool:
        return self.record.finished

    @property
    def custom_evaluator(self) -> str | None:
        return self.record.custom_evaluator

    @property
    def ok(self) -> list[Evaluation]:
        return self.record.ok

    @property
    def scored(self) -> list[Evaluation]:
        """The successful evaluations fronts are made of (of a multi-fidelity run: at full fidelity)."""
        return self.record.scored

    @property
    def n_failed(self) -> int:
        return self.record.n_failed

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
    directory = RunDirectory(run_dir)
    record = directory.read()
    notes: list[str] = []
    stats = _read_stats(directory, notes)
    space = _resolve_space(record, notes)
    return RunData(record, stats, space, _exported(directory, notes), notes, _read_time(directory))


def _read_time(directory: RunDirectory) -> RunTime:
    """The evaluations' first start, last finish and summed seconds, and any recorded hardware, from the store
    (opened read-only; the store was checked when the run was read)."""
    from nsganet.utils.lock import in_use

    try:
        with RunStore.read_only(directory.store_path, live=in_use(directory.path)) as store:
            started, finished, seconds = store.conn.execute(
                "SELECT MIN(started), MAX(finished), SUM(seconds) FROM evaluations WHERE status != 'running'"
            ).fetchone()
            hardware = store.get_meta(HARDWARE_META)
    except Exception as exc:  # sqlite3 errors: the times are left out, the rest of the report stands
        logger.warning("cannot read the run time from %s: %s", directory.store_path, exc)
        return RunTime()
    numbers = [v if isinstance(v, (int, float)) else None for v in (started, finished, seconds)]
    return RunTime(*numbers, hardware=hardware if isinstance(hardware, dict) else None)


def _read_stats(directory: RunDirectory, notes: list[str]) -> list[dict[str, Any]]:
    """The per-generation stats files that parse, in generation order."""
    out = []
    for file in sorted(directory.stats_dir.glob("gen_*.json")):
        label = f"{directory.stats_dir.name}/{file.name}"
        try:
            values = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            notes.append(f"skipped {label}: not readable JSON")
            continue
        if not isinstance(values, dict):
            notes.append(f"skipped {label}: not a mapping")
            continue
        out.append(values)
    return out


def _exported_specs(directory: RunDirectory) -> list[Path]:
    return sorted(directory.selected_dir.glob("*/net.json"))


def _exported(directory: RunDirectory, notes: list[str]) -> dict[str, Path]:
    """Architecture string -> folder of each network exported into ``RUN/selected``."""
    out: dict[str, Path] = {}
    for spec in _exported_specs(directory):
        try:
            arch = json.loads(spec.read_text(encoding="utf-8")).get("arch")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            arch = None
        if not isinstance(arch, str):
            notes.append(f"skipped {directory.selected_dir.name}/{spec.parent.name}/net.json: no architecture in it")
            continue
        out.setdefault(arch, spec.parent)
    return out


def _matches(space: SearchSpace, evaluations: list[Evaluation]) -> bool:
    """Whether ``space`` decodes the stored genomes into the stored architecture strings."""
    try:
        return all(space.to_string(np.asarray(e.genome, dtype=np.int64)) == e.arch for e in evaluations[:20])
    except NsganetError:
        return False


def _resolve_space(record: RunRecord, notes: list[str]) -> SearchSpace | None:
    """The space that decodes the run's genomes, or None (operations then fall back to genome values).

    A weight-sharing space depends on its supernet's shape: it is read from an
    exported ``net.json`` or, failing that, from the run's supernet file.
    """
    name = record.config.space
    if name not in SPACES:
        notes.append(f"the space \"{name}\" is not a registered space: operations are the genome's values "
                     "and cells are not drawn")
        return None
    space = get_space(name)
    if _matches(space, record.evaluations):
        return space
    if isinstance(space, SupernetSpace):
        for candidate in _supernet_spaces(record):
            if _matches(candidate, record.evaluations):
                return candidate
    notes.append(f"the run's architectures do not decode in the default {name} space (its supernet "
                 "was not found): operations are the genome's values and cells are not drawn")
    return None


def _supernet_spaces(record: RunRecord) -> list[SearchSpace]:
    """Spaces of the supernet shape an exported network (or else the run's supernet file) describes."""
    for spec in _exported_specs(record.directory):
        try:
            values = json.loads(spec.read_text(encoding="utf-8"))
            if values["space"] == record.config.space:
                return [get_space(values["space"], **values["space_options"])]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, NsganetError):
            continue
    supernet = record.supernet_file()
    if supernet.is_file():
        from nsganet.supernet.files import read_supernet_space

        try:
            return [read_supernet_space(supernet)]
        except NsganetError:
            logger.warning("cannot read the supernet shape from %s", supernet)
    return []
