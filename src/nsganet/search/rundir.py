"""The run directory: its one owner. File names, the recorded config, the store, the data split, a run read back.

A run directory holds ``run.sqlite`` (every evaluation and the strategy's
state; the source of truth), ``config.yaml`` (the configuration), the files
derived from the store (``evaluations.csv``, ``front.csv``,
``stats/gen_NNNN.json``, ``failed/NNNNN.txt``, plots) and what later commands
add (``supernet/``, ``selected/``, ``report/``). Search, select, report and
train find everything through :class:`RunDirectory`; :meth:`RunDirectory.read`
gives one :class:`RunRecord` of a run read back.

One process writes a run at a time: a search holds the run's lock
(:mod:`nsganet.utils.lock`, ``RUN/.lock``) for as long as its store is open, and
a second one is refused naming the holder. Nothing is trusted before it is
checked: a folder that is not a run is never taken over, and a store is
checked row by row (read-only, creating nothing) before a search resumes it or
``select`` and ``report`` read it; a damaged one is refused with nothing written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.config import SearchConfig, default_values, dump_config, load_config
from nsganet.errors import ConfigError, NsganetError
from nsganet.moo.front import front_of
from nsganet.search.constraints import Constraint, feasible_evaluations, parse_constraints
from nsganet.search.store import Evaluation, RunStore, corrupt
from nsganet.utils.lock import LOCK_FILE, FolderLock, in_use

logger = logging.getLogger(__name__)

STORE_FILE = "run.sqlite"
CONFIG_FILE = "config.yaml"
EVALUATIONS_CSV = "evaluations.csv"
FRONT_CSV = "front.csv"
STATS_DIR = "stats"
FAILED_DIR = "failed"
SUPERNET_DIR = "supernet"
SELECTED_DIR = "selected"
REPORT_DIR = "report"
#: The config key under which a run scored by a user's evaluator function records its name.
EVALUATOR_KEY = "evaluator"


def trains(config: SearchConfig, custom_evaluator: object | None = None) -> bool:
    """Whether a run scores architectures by training on a dataset (not a table, not a user's evaluator)."""
    return custom_evaluator is None and not config.uses_table


def search_split(config: SearchConfig) -> tuple[Any, Any, Any]:
    """The configured training data and its (search-train, search-validation) split; the test split is unused."""
    from nsganet.data import search_split as split

    return split(config.dataset_name, config.data, config.image_size, config.valid_fraction, config.vld_size,
                 config.seed, mode=config.data_mode, official_valid=config.official_valid)


def network_options(config: SearchConfig, space: Any, trains: bool) -> dict[str, Any]:
    """The build options of a run's networks: the proxy's width and depth, then the configured ``build_options``."""
    return {**space.proxy_options(config.channels, config.layers, use_defaults=trains),
            **space.check_build_options(config.build_options)}


class RunDirectory:
    """A run's folder: where each of its files lives, its recorded config, its store."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- where things are -------------------------------------------------------------------
    @property
    def store_path(self) -> Path:
        return self.path / STORE_FILE

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def evaluations_csv(self) -> Path:
        return self.path / EVALUATIONS_CSV

    @property
    def front_csv(self) -> Path:
        return self.path / FRONT_CSV

    @property
    def stats_dir(self) -> Path:
        return self.path / STATS_DIR

    def stats_path(self, generation: int) -> Path:
        return self.stats_dir / f"gen_{generation:04d}.json"

    def failed_path(self, seq: int) -> Path:
        return self.path / FAILED_DIR / f"{seq:05d}.txt"

    @property
    def supernet_dir(self) -> Path:
        """Where a search trains the supernet it was not given."""
        return self.path / SUPERNET_DIR

    @property
    def selected_dir(self) -> Path:
        return self.path / SELECTED_DIR

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR

    def supernet_file(self, config: SearchConfig) -> Path:
        """The run's supernet: the configured file searched as it is, or the one the search trained (or
        fine-tuned from the configured file) in :attr:`supernet_dir`."""
        from nsganet.supernet.training import SUPERNET_FILE

        return Path(config.supernet) if config.supernet and not config.supernet_epochs else \
            self.supernet_dir / SUPERNET_FILE

    # -- the run -----------------------------------------------------------------------------
    def lock(self, config: dict[str, Any], resume: bool,
             check_state: Callable[[dict[str, Any]], None] | None = None) -> FolderLock:
        """Take the run's lock for a search, after the checks that refuse it; nothing is written before.

        A non-empty directory that holds no run is refused, and so is an
        existing run without ``resume``, a run whose recorded config differs,
        and a store that fails :meth:`check_store` (``check_state`` loads the
        last saved strategy state). The checks run under the lock, which is
        announced (its file names this process) only once they pass. Re-entrant:
        a command holding the lock for a whole search takes it again through
        :meth:`open_store`.
        """
        self._refuse_foreign()
        lock = FolderLock(self.path, "nsganet search", label="run directory", make=True).acquire()
        try:
            if self.store_path.exists():
                self._check_existing(config, resume, check_state)
            lock.claim()
        except BaseException:
            lock.release()
            raise
        return lock

    def open_store(self, config: dict[str, Any], resume: bool,
                   check_state: Callable[[dict[str, Any]], None] | None = None,
                   meta: dict[str, Any] | None = None) -> RunStore:
        """The store of the run: a new one recording ``config`` (and ``meta``), or the one to resume, checked
        (see :meth:`lock`).

        The run's lock is held until the store closes.
        """
        lock = self.lock(config, resume, check_state)
        try:
            if self.store_path.exists():
                store = RunStore(self.store_path)
                recorded = store.get_meta("config")
            else:
                store = RunStore.create(self.store_path, {"config": config, **(meta or {})})
                recorded = config
            store.hold(lock.release)
        except BaseException:
            lock.release()
            raise
        try:
            if not self.config_path.exists():  # derived from the store: written again if it went missing
                dump_config(recorded, self.config_path)
        except BaseException:
            store.close()
            raise
        return store

    def _refuse_foreign(self) -> None:
        """Refuse a non-empty directory (a symlink to one judged alike) that holds no run: it is the user's."""
        out = self.path
        if not out.is_dir() or self.store_path.exists() or self.store_path.is_symlink():
            return
        try:
            names = [n for n in os.listdir(out) if n != LOCK_FILE and not n.startswith(f".{STORE_FILE}")]
        except OSError as exc:
            raise NsganetError(f"cannot write to run directory {out}: {exc.strerror or exc}") from None
        if names:
            raise NsganetError(f"--out {out} is a non-empty directory that holds no nsganet run; choose an empty "
                               "or new directory")

    def _check_existing(self, config: dict[str, Any], resume: bool,
                        check_state: Callable[[dict[str, Any]], None] | None) -> None:
        """An existing run may be resumed only with ``resume``, the same config and a sound store."""
        out = self.path
        if not resume:
            raise NsganetError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        with RunStore.read_only(self.store_path, live=False) as opened, opened.snapshot() as store:
            recorded = self._checked_config(store)[1]
            last = store.last_generation()
        recorded = {**{k: v for k, v in default_values().items() if k in config}, **recorded}
        if recorded != config:  # keys added to the config since the run was recorded keep their defaults
            changed = sorted(k for k in set(recorded) | set(config) if recorded.get(k) != config.get(k))
            raise NsganetError(f"cannot resume {out}: the config differs in "
                               f"{', '.join(changed)} (recorded in {self.config_path})")
        if check_state is not None and last is not None:
            try:
                check_state(last[1])
            except Exception as exc:  # the strategy's own reading of a state that parses but does not fit
                raise corrupt(self.store_path, f"the strategy state of generation {last[0]} does not load "
                                               f"({type(exc).__name__}: {exc})") from None

    def _checked_config(self, store: RunStore) -> tuple[SearchConfig, dict[str, Any]]:
        """Check ``store`` (every row, ok rows against the recorded objectives); its config, parsed and raw."""
        recorded = store.get_meta("config")
        if not isinstance(recorded, dict):
            raise corrupt(self.store_path, "it records no config")
        values = {k: v for k, v in recorded.items() if k != EVALUATOR_KEY}
        try:
            config = SearchConfig.from_dict(values)
        except (NsganetError, TypeError, ValueError) as exc:
            raise corrupt(self.store_path, f"the recorded config does not parse ({exc})") from None
        store.check(config.objectives)
        return config, recorded

    def check_store(self) -> None:
        """Check the run's store without writing anything (see :meth:`RunStore.check`)."""
        self._require_run()
        with self._read_only() as opened, opened.snapshot() as store:
            self._checked_config(store)

    def _read_only(self) -> RunStore:
        """The store opened read-only: in place while a search writes it, else as an untouched snapshot."""
        return RunStore.read_only(self.store_path, live=in_use(self.path))

    def _require_run(self) -> None:
        """Refuse, in one line, what is not a run directory before any file in it is opened."""
        out = self.path
        if not out.is_dir():
            raise NsganetError(f"{out} is not a directory")
        if not self.store_path.exists():
            raise NsganetError(f"{out} is not a run directory (it needs {STORE_FILE} and {CONFIG_FILE}, "
                               "which 'nsganet search --out DIR' writes)")

    def _config_of(self, recorded: dict[str, Any]) -> tuple[SearchConfig, dict[str, Any], str | None]:
        """The config of ``config.yaml`` where it is a file, else the store's ``recorded`` one it was written from."""
        if self.config_path.is_file():
            raw, where = load_config(self.config_path), self.config_path
        else:
            logger.warning("%s is not a file: using the config recorded in %s", self.config_path, self.store_path)
            raw, where = recorded, self.store_path
        values = dict(raw)
        custom = values.pop(EVALUATOR_KEY, None)
        try:
            config = SearchConfig.from_dict(values)
        except (ConfigError, TypeError) as exc:
            raise NsganetError(f"{where}: {exc}") from None
        return config, raw, None if custom is None else str(custom)

    def read_config(self) -> tuple[SearchConfig, dict[str, Any], str | None]:
        """The recorded config: validated, as written, and the name of the user's evaluator (if any).

        ``config.yaml`` is read where it is a file; where it is gone the
        store's record stands in for it. Anything that is not a run directory,
        a damaged store, or a config that does not validate, is a one-line
        :class:`NsganetError`.
        """
        record = self.read()
        return record.config, record.raw_config, record.custom_evaluator

    def read(self) -> RunRecord:
        """The run read back: its config and every finished evaluation (a run still going is read as it stands).

        The store is checked first and opened read-only, creating nothing: a
        run still being written, a finished one, or one on a read-only disk.
        """
        self._require_run()
        with self._read_only() as opened, opened.snapshot() as store:
            recorded = self._checked_config(store)[1]
            config, raw, custom = self._config_of(recorded)
            try:
                evaluations = store.evaluations()
                running = store.count_running()
                bounds = store.get_meta("hv_bounds")
            except Exception as exc:  # sqlite3 errors, undecodable rows
                raise NsganetError(f"run store {self.store_path} cannot be read: {exc}") from None
        return RunRecord(self, config, raw, list(config.objectives), evaluations, running, custom,
                         bounds if isinstance(bounds, dict) else None)


@dataclass
class RunRecord:
    """A run read back from its directory: config, objectives, finished evaluations, front.

    ``running`` counts evaluations still in progress (or left so by a crash);
    ``custom_evaluator`` names the user's evaluator function of a Python-API run;
    ``hv_bounds`` (``{"lower": [...], "upper": [...]}``) are the objective bounds of its hypervolume.
    """

    directory: RunDirectory
    config: SearchConfig
    raw_config: dict[str, Any]
    objectives: list[str]
    evaluations: list[Evaluation]
    running: int = 0
    custom_evaluator: str | None = None
    hv_bounds: dict[str, Any] | None = None
    _front: list[Evaluation] | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return self.directory.path

    @property
    def front(self) -> list[Evaluation]:
        """The non-dominated successful evaluations, sorted by the first objective (what ``front.csv`` holds);
        of a multi-fidelity run, among those evaluated at full fidelity; of a constrained run, among the feasible."""
        if self._front is None:
            self._front = front_of(self.feasible, self.objectives)
        return self._front

    @property
    def constraints(self) -> list[Constraint]:
        """The run's hard constraints (none: every successful evaluation is feasible)."""
        return parse_constraints(self.config.constraints)

    @property
    def feasible(self) -> list[Evaluation]:
        """The :attr:`scored` evaluations that meet every constraint: what fronts and hypervolumes are made of."""
        return feasible_evaluations(self.constraints, self.scored)

    @property
    def scored(self) -> list[Evaluation]:
        """The successful evaluations fronts and hypervolumes are made of: of a multi-fidelity run, those
        evaluated at full fidelity (partial errors are higher and not comparable)."""
        from nsganet.search.fidelity import full_fidelity

        return full_fidelity(self.ok, self.config.epochs if self.config.fidelity_eta is not None else None)

    @property
    def ok(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.status == "ok"]

    @property
    def n_failed(self) -> int:
        return sum(e.status == "failed" for e in self.evaluations)

    @property
    def trains(self) -> bool:
        """Whether the run trained on a dataset (so its data and split can be read again)."""
        return trains(self.config, self.custom_evaluator)

    @property
    def finished(self) -> bool:
        """Whether the search ended (it writes ``front.csv`` last)."""
        return self.directory.front_csv.is_file()

    def search_split(self) -> tuple[Any, Any, Any]:
        """The run's training data and search split, as the search drew them."""
        return search_split(self.config)

    def supernet_file(self) -> Path:
        return self.directory.supernet_file(self.config)
