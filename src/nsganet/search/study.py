"""The search loop: ask the strategy, evaluate what is new, store it, tell the strategy.

A :class:`Study` owns one run directory. Every finished evaluation is committed
to the store at once and the strategy's state after every generation, so a run
killed at any moment resumes from its last generation: the strategy proposes
the same batch again, evaluations that already finished are read back instead
of recomputed, and the run ends with exactly the results of an uninterrupted
run with the same seed.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from nsganet.config import SearchConfig, dump_config, load_config
from nsganet.errors import ConfigError, NsganetError
from nsganet.executors.base import Executor, ExecutorSettings, make_executor
from nsganet.moo.indicators import normalized_hypervolume
from nsganet.report.plots import plot_front, plot_hypervolume
from nsganet.search import outputs
from nsganet.search.objectives import OBJECTIVES
from nsganet.search.problem import Problem
from nsganet.search.store import Evaluation, RunStore
from nsganet.strategies.archive import Archive
from nsganet.strategies.base import ProblemContext, Strategy

logger = logging.getLogger("nsganet")

STORE_FILE = "run.sqlite"
CONFIG_FILE = "config.yaml"


@dataclass
class SearchResult:
    """What a search leaves behind: its run directory, evaluations and non-dominated front."""

    out: Path
    objectives: list[str]
    evaluations: list[Evaluation]
    front: list[Evaluation]
    hypervolume: float
    generations: int
    stats: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return sum(e.status == "failed" for e in self.evaluations)

    def front_table(self) -> str:
        """The front as an aligned text table."""
        header = ["#", *self.objectives, "arch"]
        rows = [[str(i), *(f"{e.objectives[n]:.4g}" for n in self.objectives), e.arch]
                for i, e in enumerate(self.front)]
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header) - 1)]
        lines = ["  ".join(cell.rjust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1]
                 for row in [header, *rows]]
        return "\n".join(lines)


def read_run_config(out: Path) -> tuple[SearchConfig, dict[str, Any], str | None]:
    """The config a run directory recorded: validated, as written, and the custom evaluator's name (if any).

    Anything that is not a run directory, or a config that does not validate,
    is a one-line :class:`NsganetError`.
    """
    if not out.is_dir():
        raise NsganetError(f"{out} is not a directory")
    if not (out / STORE_FILE).is_file() or not (out / CONFIG_FILE).is_file():
        raise NsganetError(f"{out} is not a run directory (it needs {STORE_FILE} and {CONFIG_FILE}, "
                           "which 'nsganet search --out DIR' writes)")
    raw = load_config(out / CONFIG_FILE)
    values = dict(raw)
    custom = values.pop("evaluator", None)
    try:
        config = SearchConfig.from_dict(values)
    except (ConfigError, TypeError) as exc:
        raise NsganetError(f"{out / CONFIG_FILE}: {exc}") from None
    return config, raw, None if custom is None else str(custom)


def open_run_store(out: Path, config: dict[str, Any], resume: bool) -> RunStore:
    """The store of the run in ``out``: a new one recording ``config``, or the one to resume.

    Refuses to overwrite an existing run without ``resume`` and to resume a run
    whose recorded config differs.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise NsganetError(f"cannot write to run directory {out}: {exc.strerror or exc}") from None
    store = RunStore(out / STORE_FILE)
    recorded = store.get_meta("config")
    if recorded is None:
        store.set_meta("config", config)
        dump_config(config, out / CONFIG_FILE)
    elif not resume:
        store.close()
        raise NsganetError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    elif recorded != config:
        store.close()
        changed = sorted(k for k in set(recorded) | set(config) if recorded.get(k) != config.get(k))
        raise NsganetError(f"cannot resume {out}: the config differs in "
                           f"{', '.join(changed)} (recorded in {out / CONFIG_FILE})")
    return store


class Study:
    """One search run in one directory."""

    def __init__(self, problem: Problem, strategy: Strategy, budget: int, seed: int, out: str | Path,
                 config: dict[str, Any], resume: bool = False, progress: bool = True,
                 plots: bool = True, executor: ExecutorSettings | None = None) -> None:
        if budget < 1:
            raise ConfigError(f"budget must be at least 1, got {budget}")
        self.problem, self.strategy = problem, strategy
        self.space, self.objectives = problem.space, problem.objectives
        self.budget, self.seed, self.config = budget, seed, config
        self.out, self.resume, self.progress, self.plots = Path(out), resume, progress, plots
        self.executor = executor or ExecutorSettings()

    # -- set-up ----------------------------------------------------------------------------
    def _open_store(self) -> RunStore:
        return open_run_store(self.out, self.config, self.resume)

    def _bounds(self, store: RunStore) -> tuple[np.ndarray, np.ndarray] | None:
        """Ideal and worst value per objective for the normalised hypervolume (NSGANetV1 suppl. H).

        Known objectives use 0 and their worst value (100 % error, the largest
        network's cost); others run from min(0, lowest value) to the highest
        value seen in the first generation.
        """
        saved = store.get_meta("hv_bounds")
        if saved is not None:
            return np.asarray(saved["lower"]), np.asarray(saved["upper"])
        F = outputs.objective_matrix(store.evaluations(max_generation=0), self.objectives)
        F = F[~np.isnan(F).any(axis=1)]
        lower, upper = [], []
        for j, name in enumerate(self.objectives):
            objective = OBJECTIVES.get(name)
            if objective is not None and objective.worst is not None:
                lower.append(0.0)
                upper.append(objective.worst)
            elif objective is not None and objective.cost:
                lower.append(0.0)
                upper.append(self.problem.cost_model.bounds()[name][1])
            elif len(F):
                low, high = min(0.0, float(F[:, j].min())), float(F[:, j].max())
                lower.append(low)
                upper.append(high if high > low else low + 1.0)
            else:
                return None
        store.set_meta("hv_bounds", {"lower": lower, "upper": upper})
        return np.asarray(lower), np.asarray(upper)

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> SearchResult:
        store = self._open_store()
        executor = make_executor(self.problem.evaluate, self.executor)
        try:
            return self._run(store, executor)
        finally:
            executor.close()
            store.close()

    def _run(self, store: RunStore, executor: Executor) -> SearchResult:
        n_obj = len(self.objectives)
        self.strategy.bind(ProblemContext(smallest=self.space.smallest(), largest=self.space.largest(),
                                          cost_columns=self.problem.cost_columns, costs=self.problem.costs))
        self.strategy.setup(self.space.encoding, n_obj, self.budget, self.seed)
        store.discard_running()
        last = store.last_generation()
        done_generation = -1
        if last is not None:
            done_generation, state = last
            self.strategy.load_state_dict(state)
        archive = Archive(self.space.encoding.n_var, n_obj)
        for e in store.evaluations(max_generation=done_generation):
            archive.add(np.asarray(e.genome), self._row(e))
        if last is not None:
            logger.info("resuming %s after generation %d (%d evaluated)", self.out, done_generation, len(archive))

        bar = tqdm(total=self.budget, initial=min(len(archive), self.budget), unit="arch",
                   disable=not self.progress, file=sys.stderr, dynamic_ncols=True,
                   mininterval=0.1 if sys.stderr.isatty() else 5.0)
        try:
            while len(archive) < self.budget:
                generation = done_generation + 1
                bar.set_description(f"gen {generation}")
                X, F = self._evaluate_generation(store, executor, archive, generation, bar)
                if len(X) == 0:
                    logger.warning("the strategy has nothing new to propose: the space looks exhausted")
                    break
                self.strategy.tell(X, F)
                info = self.strategy.info()
                store.save_generation(generation, len(archive), self.strategy.state_dict(), info)
                evaluations = store.evaluations()
                stats = self._generation_stats(store, evaluations, generation, info)
                outputs.write_stats(self.out, generation, stats)
                outputs.write_evaluations_csv(self.out, evaluations, self.objectives)
                bar.set_postfix(front=len(stats["front"]), hv=f"{stats['hypervolume'] or 0:.4f}")
                done_generation = generation
        finally:
            bar.close()
        return self._finish(store, done_generation)

    def _row(self, e: Evaluation) -> np.ndarray | None:
        return np.array([e.objectives[n] for n in self.objectives]) if e.status == "ok" else None

    def _evaluate_generation(self, store: RunStore, executor: Executor, archive: Archive, generation: int,
                             bar: tqdm) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate the strategy's next batch within the budget; reuse results a crash left."""
        batch = self.strategy.ask(archive)
        genomes: list[np.ndarray] = []
        keys: set[bytes] = set()
        results: dict[int, Evaluation] = {}
        pending: list[tuple[int, np.ndarray, str]] = []
        for genome in batch:
            if len(archive) + len(genomes) >= self.budget:
                break
            if genome in archive or genome.tobytes() in keys:
                continue
            keys.add(genome.tobytes())
            seq = len(archive) + len(genomes)
            arch = self.space.to_string(genome)
            previous = store.finished(arch)
            if previous is not None:
                if previous.seq != seq or previous.generation != generation:
                    raise NsganetError(
                        f"cannot resume {self.out}: the stored run diverges at evaluation {seq}; "
                        "was it produced by another version of nsganet?")
                results[seq] = previous
                bar.update(1)
            else:
                pending.append((seq, genome, arch))
            genomes.append(genome)

        for seq, genome, arch in pending:
            store.start(seq, arch, tuple(int(v) for v in genome), generation)
        for outcome in executor.map_unordered([g for _, g, _ in pending]):
            seq, genome, arch = pending[outcome.index]
            store.finish(seq, outcome.objectives, outcome.reason, outcome.seconds, outcome.detail)
            results[seq] = Evaluation(seq, arch, tuple(int(v) for v in genome), generation,
                                      "ok" if outcome.reason is None else "failed", outcome.reason,
                                      outcome.objectives or {}, outcome.seconds)
            if outcome.reason is not None:
                logger.warning("evaluation %d failed: %s: %s", seq, arch, outcome.reason)
                outputs.write_failure(self.out, results[seq], outcome.detail)
            bar.update(1)

        first = len(archive)
        F = np.full((len(genomes), len(self.objectives)), np.nan)
        for offset, genome in enumerate(genomes):
            row = self._row(results[first + offset])
            if row is not None:
                F[offset] = row
            archive.add(genome, row)
        return np.asarray(genomes, dtype=np.int64).reshape(len(genomes), self.space.encoding.n_var), F

    def _generation_stats(self, store: RunStore, evaluations: list[Evaluation], generation: int,
                          info: dict[str, Any]) -> dict[str, Any]:
        """The stats file of a generation, derived from the store alone."""
        evaluations = [e for e in evaluations if e.generation <= generation]
        front = outputs.front_of(evaluations, self.objectives)
        bounds = self._bounds(store)
        F = outputs.objective_matrix(front, self.objectives)
        hv = normalized_hypervolume(F, *bounds) if bounds is not None else None
        return {
            "generation": generation,
            "n_evaluated": len(evaluations),
            "archive_size": sum(e.status == "ok" for e in evaluations),
            "n_failed": sum(e.status == "failed" for e in evaluations),
            "hypervolume": hv,
            "hv_bounds": None if bounds is None else {"lower": bounds[0].tolist(), "upper": bounds[1].tolist()},
            "front": [{"arch": e.arch, **e.objectives} for e in front],
            "candidates": [{"arch": e.arch, "status": e.status, **e.objectives}
                           for e in evaluations if e.generation == generation],
            "archive": [{"arch": e.arch, **e.objectives} for e in evaluations if e.status == "ok"],
            "strategy": info,
        }

    def _finish(self, store: RunStore, generations: int) -> SearchResult:
        evaluations = store.evaluations()
        front = outputs.front_of(evaluations, self.objectives)
        outputs.write_evaluations_csv(self.out, evaluations, self.objectives)
        outputs.write_front_csv(self.out, front, self.objectives)
        for e in evaluations:  # failure reports a crash left unwritten
            if e.status == "failed" and not outputs.failed_path(self.out, e.seq).exists():
                outputs.write_failure(self.out, e, store.failure_detail(e.seq))
        for saved in store.generation_info():  # stats a crash left unwritten
            generation = saved.pop("generation")
            saved.pop("n_evaluated")
            if not outputs.stats_path(self.out, generation).exists():
                outputs.write_stats(self.out, generation,
                                    self._generation_stats(store, evaluations, generation, saved))
        stats = outputs.read_stats(self.out)
        if self.plots and front:
            F = outputs.objective_matrix(evaluations, self.objectives)
            ok = ~np.isnan(F).any(axis=1)
            title = f"{self.space.name} / {self.strategy.name} / seed {self.seed}"
            plot_front(F[ok], outputs.objective_matrix(front, self.objectives), self.objectives,
                       self.out / "front.png", title=title)
            curve = [(s["n_evaluated"], s["hypervolume"]) for s in stats if s["hypervolume"] is not None]
            if curve:
                plot_hypervolume(*zip(*curve), self.out / "hypervolume.png", title=title)
        hv = stats[-1]["hypervolume"] if stats and stats[-1]["hypervolume"] is not None else float("nan")
        return SearchResult(self.out, list(self.objectives), evaluations, front, hv, generations + 1, stats)
