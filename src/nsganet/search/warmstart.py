"""Warm starts: a search whose first generation starts with the front of an earlier run and given architectures.

NSGANetV1 seeds its search with past successful architectures; here a run
config names them: ``init_from`` (an earlier run directory: its front, read
from its store) and ``init_archs`` (a file with one canonical architecture
string a line, ``#`` comments and blank lines allowed, or a CSV with an
``arch`` column; a config file or the Python API may list the strings
instead). Both together give their union, the front first, each architecture
once. The strategy's first batch (nsganetv2: its design of experiments)
starts with them and its usual sampling fills it up; when there are more of
them than the batch holds, the first batch holds all of them.

A result of the earlier run is reused (the new run records where it came
from, :attr:`~nsganet.search.store.Evaluation.reused_from`) when it was
scored the same way: both runs have the same :func:`evaluation_fingerprint`
and it holds every objective of the new run. Otherwise it is evaluated again,
and so is every ``init_archs`` entry. A reused result counts against the
budget like any other.

The seeds are resolved once, when the run starts, and recorded in its store
(meta ``warm_start``): a resumed run takes them from there, so it continues
exactly even if the files have changed or gone since.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.config import FIELDS, SearchConfig
from nsganet.errors import ConfigError, InvalidArchitecture, NsganetError
from nsganet.search.rundir import EVALUATOR_KEY, RunDirectory, trains
from nsganet.search.store import RunStore, corrupt
from nsganet.spaces.base import SearchSpace, SupernetSpace
from nsganet.utils.files import read_text

logger = logging.getLogger(__name__)

#: The store's meta key holding the resolved seeds of a warm-started run.
WARM_START_META = "warm_start"
#: The config keys that ask for a warm start.
WARM_START_KEYS = ("init_from", "init_archs")


@dataclass(frozen=True)
class Seed:
    """One architecture a run starts with; ``objectives`` (with their source) when its result is reused."""

    arch: str
    objectives: dict[str, float] | None = None
    run: str | None = None
    source_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "objectives": self.objectives, "run": self.run, "source_seq": self.source_seq}


def wants_warm_start(recorded: Mapping[str, Any]) -> bool:
    """Whether a recorded run config asks for a warm start."""
    return any(recorded.get(key) for key in WARM_START_KEYS)


# -- the fingerprint of how a run scores architectures ------------------------------------------
def evaluation_fingerprint(recorded: Mapping[str, Any], run: str | Path, space: SearchSpace) -> dict[str, Any]:
    """The settings of a recorded run config that change an architecture's objective values.

    Every config key except those marked ``scores=False`` (strategy, budget,
    objectives, ...) and the runtime ones (where evaluations run), plus the
    name of a user's evaluator function. The seed counts only where the run
    trains (it draws the data split and the initial weights), and a supernet
    the run trained or fine-tuned itself is its own (``run``'s), so such
    results are never taken over by another run.
    """
    values = {k: v for k, v in recorded.items() if k != EVALUATOR_KEY}
    try:
        config = SearchConfig.from_dict(values)  # defaults for keys the run predates, paths resolved
    except (NsganetError, TypeError) as exc:
        raise NsganetError(f"the config of run {run} does not parse ({exc})") from None
    custom = recorded.get(EVALUATOR_KEY)
    fingerprint = {k: v for k, v in config.to_dict(include_runtime=False).items() if FIELDS[k].metadata["scores"]}
    fingerprint[EVALUATOR_KEY] = None if custom is None else str(custom)
    if not trains(config, custom):
        fingerprint.pop("seed")
    elif isinstance(space, SupernetSpace) and not (config.supernet and not config.supernet_epochs):
        fingerprint["supernet"] = str(Path(run).resolve())
    return fingerprint


# -- reading what a run is seeded with -----------------------------------------------------------
def arch_entries(source: str | Sequence[str]) -> list[tuple[str, str]]:
    """``(where, text)`` of every architecture ``init_archs`` lists: a file's line, or a list's item."""
    if not isinstance(source, str):
        return [(f"init_archs item {i}", str(text).strip()) for i, text in enumerate(source, start=1)]
    path = Path(source)
    if path.suffix.lower() == ".csv":
        entries = _csv_entries(path)
    else:
        text = read_text(path, "architecture file", ConfigError)
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            body = line.split("#", 1)[0].strip()
            if body:
                entries.append((f"{path} line {number}", body))
    if not entries:
        raise ConfigError(f"architecture file {path} lists no architecture")
    return entries


def _csv_entries(path: Path) -> list[tuple[str, str]]:
    """The ``arch`` column of a CSV file (e.g. another run's front.csv), with each row's line."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read architecture file {path}: {exc.strerror or exc}") from None
    entries = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None or "arch" not in header:
                raise ConfigError(f"architecture file {path} line 1: a CSV needs an 'arch' column")
            column = header.index("arch")
            for row in reader:
                if not row:
                    continue
                where = f"{path} line {reader.line_num}"
                if len(row) <= column or not row[column].strip():
                    raise ConfigError(f"{where}: no architecture in the 'arch' column")
                entries.append((where, row[column].strip()))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"architecture file {path} is not a readable CSV file: {exc}") from None
    return entries


def init_strings(space: SearchSpace, init: Sequence[str | Sequence[int]]) -> list[str]:
    """The Python API's ``init`` as ``init_archs`` records it: genomes as their canonical strings, strings as given
    (they are checked against the space the run searches, when it starts)."""
    if isinstance(init, (str, bytes)):
        raise ConfigError("init must be a list of architecture strings or genomes, not one string")
    strings = []
    for i, item in enumerate(init, start=1):
        if isinstance(item, str):
            strings.append(item)
            continue
        try:
            strings.append(space.to_string(space.check(np.asarray(item))))
        except (InvalidArchitecture, TypeError, ValueError) as exc:
            raise ConfigError(f"init item {i}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
                from None
    return strings


def _genome(space: SearchSpace, text: str, where: str) -> np.ndarray:
    try:
        return space.check(space.from_string(text))
    except InvalidArchitecture as exc:
        raise ConfigError(f"{where}: {exc}") from None


def front_seeds(source: str | Path, recorded: Mapping[str, Any], space: SearchSpace, objectives: Sequence[str],
                out: str | Path) -> list[tuple[np.ndarray, Seed]]:
    """The front of run ``source``, its results kept where they can be reused by the run ``recorded`` in ``out``."""
    run = RunDirectory(source)
    if run.path.resolve() == Path(out).resolve():
        raise ConfigError(f"--init-from {source} is this run's own directory; give an earlier run")
    record = run.read()
    if record.config.space != recorded.get("space", space.name):
        raise ConfigError(f"--init-from {source} is a run of the {record.config.space} space; this search is of "
                          f"the {recorded.get('space', space.name)} space")
    same = evaluation_fingerprint(record.raw_config, run.path, space) == evaluation_fingerprint(recorded, out, space)
    seeds = []
    for e in record.front:
        genome = _genome(space, e.arch, f"--init-from {source} evaluation {e.seq}")
        values = {name: e.objectives.get(name, math.nan) for name in objectives}
        if same and all(math.isfinite(v) for v in values.values()):
            seeds.append((genome, Seed(space.to_string(genome), values, str(run.path.resolve()), e.seq)))
        else:
            seeds.append((genome, Seed(space.to_string(genome))))
    if not seeds:
        logger.warning("--init-from %s has no successful evaluation: it seeds nothing", source)
    return seeds


def resolve(recorded: Mapping[str, Any], space: SearchSpace, objectives: Sequence[str],
            out: str | Path) -> list[Seed]:
    """The seeds the recorded config asks for: the ``init_from`` front first, then ``init_archs``, each once."""
    found: list[tuple[np.ndarray, Seed]] = []
    if recorded.get("init_from"):
        found += front_seeds(recorded["init_from"], recorded, space, objectives, out)
    if recorded.get("init_archs"):
        for where, text in arch_entries(recorded["init_archs"]):
            genome = _genome(space, text, where)
            found.append((genome, Seed(space.to_string(genome))))
    seeds, seen = [], set()
    for genome, seed in found:
        key = tuple(int(v) for v in genome)
        if key not in seen:
            seen.add(key)
            seeds.append(seed)
    reused = sum(s.objectives is not None for s in seeds)
    logger.info("warm start: %d architectures first (%d results reused from %s)", len(seeds), reused,
                recorded.get("init_from") or "no run")
    return seeds


# -- the seeds a run recorded --------------------------------------------------------------------
def seeds_meta(seeds: Sequence[Seed]) -> list[dict[str, Any]]:
    """What the store records of the seeds."""
    return [seed.to_dict() for seed in seeds]


def seeds_from_meta(value: Any, path: str | Path) -> list[Seed]:
    """The seeds recorded in store ``path`` (a value that is not what :func:`seeds_meta` writes is damage)."""
    if not isinstance(value, list):
        raise corrupt(path, f"the recorded {WARM_START_META} is not a list")
    seeds = []
    for i, item in enumerate(value):
        try:
            objectives = item["objectives"]
            seed = Seed(str(item["arch"]), None if objectives is None else
                        {str(k): float(v) for k, v in objectives.items()},
                        None if item["run"] is None else str(item["run"]),
                        None if item["source_seq"] is None else int(item["source_seq"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise corrupt(path, f"seed {i} of the recorded {WARM_START_META} is malformed") from None
        seeds.append(seed)
    return seeds


def recorded_seeds(store_path: str | Path) -> list[Seed] | None:
    """The seeds an existing run recorded (None: it records none), read without writing anything."""
    with RunStore.read_only(store_path, live=False) as opened, opened.snapshot() as store:
        value = store.get_meta(WARM_START_META)
    return None if value is None else seeds_from_meta(value, store_path)


__all__ = ["WARM_START_KEYS", "WARM_START_META", "Seed", "arch_entries", "evaluation_fingerprint", "front_seeds",
           "init_strings", "recorded_seeds", "resolve", "seeds_from_meta", "seeds_meta", "wants_warm_start"]
