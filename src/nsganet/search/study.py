"""The search loop: ask the strategy, evaluate what is new, store it, tell the strategy, announce it.

A :class:`Study` owns one run directory. Every finished evaluation is committed
to the store at once and the strategy's state after every generation, so a run
killed at any moment resumes from its last generation: the strategy proposes
the same batch again, evaluations that already finished are read back instead
of recomputed, and the run ends with exactly the results of an uninterrupted
run with the same seed. The loop writes nothing else: it emits events
(:mod:`nsganet.search.callbacks`) and its callbacks write the CSV and stats
files, the failure reports and the plots, and draw the progress bar.

With a :class:`~nsganet.search.fidelity.Fidelity` the new architectures of
each generation are trained in rungs of growing epochs (successive halving):
every rung's result is committed, the best of a rung go on to the next, and
an architecture's result is that of the last rung it reached. A run killed
between rungs resumes with the rungs already stored and trains none twice.

A warm-started run (:mod:`nsganet.search.warmstart`) binds its seeds as the
strategy's initial genomes; a seed whose earlier result can be reused is
stored with that result, marked reused, instead of being evaluated.

With constraints (:mod:`nsganet.search.constraints`) every evaluation's
violation is derived from its stored values and handed to the strategy with
its objectives; the front, hypervolume and stats hold feasible architectures only.

With the ``async`` schedule (:mod:`nsganet.search.schedule`) there are no
batches: every free slot of the executor (an
:class:`~nsganet.executors.AsyncExecutor`) gets a new architecture at once.
Each step (an evaluation completes, the strategy hears it and proposes for the
freed slots) is committed in one transaction with the strategy's state, so a
killed run resumes exactly: finished evaluations are read back, those that were
running are started again (same number, same architecture), and the strategy
continues from its saved state. Every ``pop_size`` completions close a
generation (stats, events, hypervolume) as a batch does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.errors import ConfigError, NsganetError
from nsganet.executors import AsyncExecutor, EvaluationFn, Executor, ExecutorSettings, make_executor
from nsganet.moo.front import front_of, objective_matrix
from nsganet.moo.indicators import normalized_hypervolume
from nsganet.search.callbacks import Callback, GenerationEnd
from nsganet.search.constraints import evaluation_violation, feasible_evaluations
from nsganet.search.fidelity import Fidelity, full_fidelity, rung_counts
from nsganet.search.objectives import get_objective
from nsganet.search.problem import Problem
from nsganet.search.result import SearchResult
from nsganet.search.rundir import RunDirectory
from nsganet.search.schedule import ASYNC, GENERATIONAL, SCHEDULES
from nsganet.search.store import Evaluation, Rung, RunStore
from nsganet.search.warmstart import WARM_START_META, Seed, recorded_seeds, resolve, seeds_meta, wants_warm_start
from nsganet.spaces.base import DescribedSpace
from nsganet.strategies.archive import Archive
from nsganet.strategies.base import ProblemContext, Strategy
from nsganet.utils.device import machine_description

logger = logging.getLogger(__name__)
#: Store metadata: the machine of the run's latest start and how its evaluations were spread (shown by the report).
HARDWARE_META = "hardware"


def check_schedule(schedule: str, strategy: Strategy, fidelity: Fidelity | None = None) -> None:
    """Refuse, in one line, a schedule the strategy (or multi-fidelity evaluation) cannot run."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if schedule == ASYNC and not strategy.supports_async:
        raise ConfigError(f"strategy {strategy.name} cannot run the async schedule; use --schedule generational")
    if schedule == ASYNC and fidelity is not None:
        raise ConfigError("multi-fidelity evaluation (--fidelity-eta) is not supported with --schedule async")


class Study:
    """One search run in one directory: the loop, and the events its ``callbacks`` hear."""

    def __init__(self, problem: Problem, strategy: Strategy, budget: int, seed: int, out: str | Path,
                 config: dict[str, Any], resume: bool = False, executor: ExecutorSettings | None = None,
                 callbacks: Iterable[Callback] = (), fidelity: Fidelity | None = None,
                 executor_factory: Callable[[EvaluationFn], Executor] | None = None,
                 schedule: str = GENERATIONAL) -> None:
        if budget < 1:
            raise ConfigError(f"budget must be at least 1, got {budget}")
        check_schedule(schedule, strategy, fidelity)
        self.schedule = schedule
        if fidelity is not None and not problem.trains_at_epochs:
            raise ConfigError(f"multi-fidelity evaluation needs an evaluator that trains for a given number of "
                              f"epochs (a with_epochs method); {problem.evaluator!r} has none")
        self.fidelity = fidelity
        self.problem, self.strategy = problem, strategy
        self.space, self.objectives = problem.space, problem.objectives
        self.constraints = problem.constraints
        self.budget, self.seed, self.config = budget, seed, config
        self.run_dir = RunDirectory(out)
        self.out, self.resume = self.run_dir.path, resume
        self.executor = executor or ExecutorSettings()
        self.executor_factory = executor_factory  # makes the executor instead of ``executor`` (a simulated cluster)
        self.callbacks = list(callbacks)
        self.store: RunStore | None = None
        self._reusable: dict[str, Seed] = {}  # a warm start's seeds whose earlier results are reused, by arch
        self._stats: dict[int, dict[str, Any]] = {}

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            hear = getattr(callback, event, None)  # a callback of an older interface may lack a newer event
            if hear is not None:
                hear(self, *args)

    def failure_detail(self, seq: int) -> str | None:
        """The traceback stored with failed evaluation ``seq``."""
        assert self.store is not None, "the study is not running"
        return self.store.failure_detail(seq)

    # -- set-up ----------------------------------------------------------------------------
    def _bounds(self, store: RunStore) -> tuple[np.ndarray, np.ndarray] | None:
        """Ideal and worst value per objective for the normalised hypervolume (NSGANetV1 suppl. H).

        Known objectives use 0 and their worst value (100 % error, the largest
        network's cost); others run from min(0, lowest value) to the highest
        value seen in the first generation.
        """
        saved = store.get_meta("hv_bounds")
        if saved is not None:
            return np.asarray(saved["lower"]), np.asarray(saved["upper"])
        F = objective_matrix(store.evaluations(max_generation=0), self.objectives)
        F = F[~np.isnan(F).any(axis=1)]
        lower, upper = [], []
        for j, name in enumerate(self.objectives):
            objective = get_objective(name)
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

    def _hardware(self) -> dict[str, Any]:
        """What the report shows of where the run ran: this machine and how evaluations are spread."""
        settings = self.executor
        spread = {"executor": settings.kind, "workers": settings.workers}
        if settings.kind == "ray":
            spread.update(ray_address=settings.ray_address, gpus_per_eval=settings.gpus_per_eval)
        return {**machine_description(), **spread}

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> SearchResult:
        seeds = self._warm_start()  # before the store opens: a bad architecture file or run refuses the search
        self._setup_strategy(seeds)  # before the store opens: a stored state that does not load refuses the resume
        warm = None if seeds is None else {WARM_START_META: seeds_meta(seeds)}
        self.store = store = self.run_dir.open_store(self.config, self.resume,
                                                     check_state=self.strategy.load_state_dict, meta=warm)
        try:
            if warm is not None and store.get_meta(WARM_START_META) is None:  # a store made before the search
                store.set_meta(WARM_START_META, warm[WARM_START_META])
            store.set_meta(HARDWARE_META, self._hardware())  # of the latest start: a resumed run may move
            fn = self.problem.evaluate if self.fidelity is None else self.problem.evaluate_at
            executor = make_executor(fn, self.executor) if self.executor_factory is None else self.executor_factory(fn)
        except BaseException:
            store.close()
            self.store = None
            raise
        try:
            if self.schedule == ASYNC:
                return self._run_async(store, executor)
            return self._run(store, executor)
        finally:
            try:
                self._emit("on_close")
            finally:
                executor.close()
                store.close()
                self.store = None

    def _warm_start(self) -> list[Seed] | None:
        """A warm-started run's seeds: those its store records (a resume), else resolved from its config."""
        if not wants_warm_start(self.config):
            return None
        if self.resume and self.run_dir.store_path.exists():
            recorded = recorded_seeds(self.run_dir.store_path)
            if recorded is not None:
                return recorded
        return resolve(self.config, self.space, self.problem.measured, self.out)

    def _setup_strategy(self, seeds: list[Seed] | None = None) -> None:
        """Bind and set up the strategy for a fresh run (a resume then loads its saved state)."""
        initial = None if not seeds else np.array([self.space.from_string(s.arch) for s in seeds], dtype=np.int64)
        self._reusable = {s.arch: s for s in seeds or () if s.objectives is not None}
        descriptors = self.space.descriptors if isinstance(self.space, DescribedSpace) else None
        self.strategy.bind(ProblemContext(smallest=self.space.smallest(), largest=self.space.largest(),
                                          cost_columns=self.problem.cost_columns, costs=self.problem.costs,
                                          descriptors=descriptors, initial=initial,
                                          violation=self.problem.violation if self.constraints else None))
        self.strategy.setup(self.space.encoding, len(self.objectives), self.budget, self.seed)

    def _run(self, store: RunStore, executor: Executor) -> SearchResult:
        n_obj = len(self.objectives)
        if store.is_async:
            raise NsganetError(f"cannot resume {self.out} with --schedule generational: it ran asynchronously")
        last = store.last_generation()
        done_generation = -1
        if last is not None:
            done_generation, state = last
            self.strategy.load_state_dict(state)
        store.discard_running()
        archive = Archive(self.space.encoding.n_var, n_obj)
        for e in store.evaluations(max_generation=done_generation):
            archive.add(np.asarray(e.genome), self._row(e), self.violation(e))
        if last is not None:
            logger.info("resuming %s after generation %d (%d evaluated)", self.out, done_generation, len(archive))

        self._emit("on_search_start", len(archive))
        while len(archive) < self.budget:
            generation = done_generation + 1
            self._emit("on_generation_start", generation)
            X, F, V = self._evaluate_generation(store, executor, archive, generation)
            if len(X) == 0:
                logger.warning("the strategy has nothing new to propose: the space looks exhausted")
                break
            if self.constraints:
                self.strategy.tell(X, F, V)
            else:
                self.strategy.tell(X, F)
            info = self.strategy.info()
            store.save_generation(generation, len(archive), self.strategy.state_dict(), info)
            evaluations = store.evaluations()
            stats = self._generation_stats(store, evaluations, generation, info)
            self._stats[generation] = json.loads(json.dumps(stats))  # as a stats file reads back
            self._emit("on_generation_end", GenerationEnd(generation, stats, evaluations))
            done_generation = generation
        result = self._result(store, done_generation)
        self._emit("on_search_end", result)
        return result

    # -- the asynchronous loop ---------------------------------------------------------------
    def _run_async(self, store: RunStore, executor: Executor) -> SearchResult:
        """Keep every slot of the executor busy; commit each step with the strategy's state."""
        if not isinstance(executor, AsyncExecutor):
            raise ConfigError(f"the {self.executor.kind} executor cannot run the async schedule")
        if store.is_async is False and store.last_generation() is not None:
            raise NsganetError(f"cannot resume {self.out} with --schedule async: it ran generationally")
        pop, n_var = self.strategy.pop_size, self.space.encoding.n_var
        archive = Archive(n_var, len(self.objectives))
        saved = store.async_state()
        stored = {e.seq: e for e in store.evaluations(finished_only=False)}
        order = store.completion_order()
        if saved is not None:
            self.strategy.load_state_dict(saved[1])
            logger.info("resuming %s after %d completions (%d running)", self.out, len(order), len(stored) - len(order))
        for seq in order:
            archive.add(np.asarray(stored[seq].genome), self._row(stored[seq]), self.violation(stored[seq]))
        generation = len(store.generation_info())  # the generation in flight
        pending: dict[int, tuple[np.ndarray, str]] = {}
        self._emit("on_search_start", len(archive))
        for e in stored.values():
            if e.status == "running":  # started before a crash: started again, the strategy is not asked
                pending[e.seq] = (np.asarray(e.genome, dtype=np.int64), e.arch)
                executor.submit(e.seq, pending[e.seq][0])
        next_seq = len(stored)
        if saved is None:  # a fresh run: the first proposals, step 0
            started = self._propose(executor, archive, pending, next_seq)
            with store.transaction():
                self._record_starts(store, started, generation)
                store.save_async_state(0, self.strategy.state_dict())
            self._submit(executor, pending, started)
            next_seq += len(started)
        if pending:
            self._emit("on_generation_start", generation)
        while pending:
            outcome = executor.next_outcome()
            genome, arch = pending.pop(outcome.index)
            position = len(order)
            e = Evaluation(outcome.index, arch, tuple(int(v) for v in genome), position // pop,
                           "ok" if outcome.reason is None else "failed", outcome.reason, outcome.objectives or {},
                           outcome.seconds)
            order.append(e.seq)
            row, v = self._row(e), self.violation(e)
            archive.add(genome, row, v)
            self.strategy.tell_async(genome, np.full(len(self.objectives), np.nan) if row is None else row,
                                     v if self.constraints else None)
            started = self._propose(executor, archive, pending, next_seq)
            closes = len(order) % pop == 0 or not (pending or started)
            info = self.strategy.info() if closes else {}
            with store.transaction():
                store.finish(e.seq, outcome.objectives, outcome.reason, outcome.seconds, outcome.detail)
                store.complete(e.seq, position, e.generation)
                self._record_starts(store, started, len(order) // pop)
                if closes:
                    store.save_generation(generation, len(order), self.strategy.state_dict(), info)
                    store.advance_running(generation + 1)
                store.save_async_state(len(order), self.strategy.state_dict())
            self._submit(executor, pending, started)
            next_seq += len(started)
            if outcome.reason is not None:
                logger.warning("evaluation %d failed: %s: %s", e.seq, arch, outcome.reason)
            self._emit("on_evaluation", e, outcome.detail, False)
            if closes:
                evaluations = store.evaluations()
                stats = self._generation_stats(store, evaluations, generation, info)
                self._stats[generation] = json.loads(json.dumps(stats))
                self._emit("on_generation_end", GenerationEnd(generation, stats, evaluations))
                generation += 1
                if pending:
                    self._emit("on_generation_start", generation)
        if len(archive) < self.budget:
            logger.warning("the strategy has nothing new to propose: the space looks exhausted")
        result = self._result(store, generation - 1)
        self._emit("on_search_end", result)
        return result

    def _propose(self, executor: AsyncExecutor, archive: Archive, pending: dict[int, tuple[np.ndarray, str]],
                 seq: int) -> list[tuple[int, np.ndarray, str]]:
        """Ask the strategy for the free slots (within the budget): new genomes numbered from ``seq``."""
        n = min(executor.slots - len(pending), self.budget - seq)
        if n <= 0:
            return []
        n_var = self.space.encoding.n_var
        taken = np.array([g for g, _ in pending.values()], dtype=np.int64).reshape(len(pending), n_var)
        proposed = self.strategy.ask_async(archive, n, taken)
        keys = {g.tobytes() for g, _ in pending.values()}
        started = []
        for genome in np.asarray(proposed, dtype=np.int64).reshape(-1, n_var)[:n]:
            if genome in archive or genome.tobytes() in keys:
                continue
            keys.add(genome.tobytes())
            started.append((seq, genome, self.space.to_string(genome)))
            seq += 1
        return started

    @staticmethod
    def _record_starts(store: RunStore, started: list[tuple[int, np.ndarray, str]], generation: int) -> None:
        for seq, genome, arch in started:
            store.start(seq, arch, tuple(int(v) for v in genome), generation)

    @staticmethod
    def _submit(executor: AsyncExecutor, pending: dict[int, tuple[np.ndarray, str]],
                started: list[tuple[int, np.ndarray, str]]) -> None:
        """Hand committed proposals to the executor."""
        for seq, genome, arch in started:
            pending[seq] = (genome, arch)
            executor.submit(seq, genome)

    def _row(self, e: Evaluation) -> np.ndarray | None:
        return np.array([e.objectives[n] for n in self.objectives]) if e.status == "ok" else None

    def violation(self, e: Evaluation) -> float:
        """Total constraint violation of an evaluation (0: feasible, as every one of an unconstrained run;
        NaN: failed)."""
        return evaluation_violation(self.constraints, e.status, e.objectives)

    def _evaluate_generation(self, store: RunStore, executor: Executor, archive: Archive,
                             generation: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evaluate the strategy's next batch within the budget; reuse results a crash left."""
        batch = self.strategy.ask(archive)
        genomes: list[np.ndarray] = []
        keys: set[bytes] = set()
        results: dict[int, Evaluation] = {}
        pending: list[tuple[int, np.ndarray, str]] = []
        candidates: list[tuple[int, np.ndarray, str]] = []
        for genome in batch:
            if len(archive) + len(genomes) >= self.budget:
                break
            if genome in archive or genome.tobytes() in keys:
                continue
            keys.add(genome.tobytes())
            seq = len(archive) + len(genomes)
            arch = self.space.to_string(genome)
            previous = store.finished(arch)
            seed = self._reusable.get(arch) if previous is None else None
            if previous is not None:
                if previous.seq != seq or previous.generation != generation:
                    raise self._diverges(seq)
                results[seq] = previous
                self._emit("on_evaluation", previous, None, True)
            elif seed is not None:  # a warm start's earlier result: stored as reused, not evaluated
                assert seed.objectives is not None and seed.run is not None and seed.source_seq is not None
                results[seq] = store.reuse(seq, arch, tuple(int(v) for v in genome), generation,
                                           {n: seed.objectives[n] for n in self.problem.measured}, seed.run,
                                           seed.source_seq)
                self._emit("on_evaluation", results[seq], None, True)
            else:
                pending.append((seq, genome, arch))
            if seq not in results or results[seq].reused_from is None:  # reused results train no rung
                candidates.append((seq, genome, arch))
            genomes.append(genome)

        for seq, genome, arch in pending:
            store.start(seq, arch, tuple(int(v) for v in genome), generation)
        if self.fidelity is None:
            for outcome in executor.map_unordered([g for _, g, _ in pending]):
                seq, genome, arch = pending[outcome.index]
                store.finish(seq, outcome.objectives, outcome.reason, outcome.seconds, outcome.detail)
                results[seq] = Evaluation(seq, arch, tuple(int(v) for v in genome), generation,
                                          "ok" if outcome.reason is None else "failed", outcome.reason,
                                          outcome.objectives or {}, outcome.seconds)
                if outcome.reason is not None:
                    logger.warning("evaluation %d failed: %s: %s", seq, arch, outcome.reason)
                self._emit("on_evaluation", results[seq], outcome.detail, False)
        else:
            self._successive_halving(store, executor, candidates, results, generation)

        first = len(archive)
        F = np.full((len(genomes), len(self.objectives)), np.nan)
        V = np.full(len(genomes), np.nan)
        for offset, genome in enumerate(genomes):
            row = self._row(results[first + offset])
            V[offset] = self.violation(results[first + offset])
            if row is not None:
                F[offset] = row
            archive.add(genome, row, V[offset])
        return np.asarray(genomes, dtype=np.int64).reshape(len(genomes), self.space.encoding.n_var), F, V

    def _diverges(self, seq: int) -> NsganetError:
        return NsganetError(f"cannot resume {self.out}: the stored run diverges at evaluation {seq}; "
                            "was it produced by another version of nsganet?")

    def _successive_halving(self, store: RunStore, executor: Executor,
                            candidates: list[tuple[int, np.ndarray, str]], results: dict[int, Evaluation],
                            generation: int) -> None:
        """Train a generation's new architectures in rungs; finish each with its last rung's result.

        Every rung of every candidate is decided again from the stored rungs
        (a resumed generation repeats the same promotions) and only the rungs
        not stored yet are trained; ``results`` holds the candidates a crash
        left finished, and receives the others.
        """
        assert self.fidelity is not None
        if not candidates:
            return
        archs = {seq: arch for seq, _, arch in candidates}
        stored: dict[tuple[int, int], Rung] = {}
        for record in store.rungs(min_seq=min(archs)):
            if archs.get(record.seq) != record.arch:  # a rung of another architecture, or of no candidate
                raise self._diverges(record.seq)
            stored[record.seq, record.rung] = record
        details: dict[tuple[int, int], str | None] = {}
        alive = candidates
        schedule = self.fidelity.rungs
        for r, epochs in enumerate(schedule):
            todo = [c for c in alive if (c[0], r) not in stored]
            if any(seq in results for seq, _, _ in todo):  # finished, yet its rung is not stored
                raise self._diverges(min(seq for seq, _, _ in todo if seq in results))
            self._emit("on_rung_start", generation, r, epochs, len(alive))
            for outcome in executor.map_unordered([(genome, epochs) for _, genome, _ in todo]):
                seq, _, arch = todo[outcome.index]
                record = Rung(seq, r, arch, epochs, "ok" if outcome.reason is None else "failed", outcome.reason,
                              outcome.objectives or {}, outcome.seconds)
                store.add_rung(record, outcome.detail)
                stored[seq, r], details[seq, r] = record, outcome.detail
                if outcome.reason is not None:
                    logger.warning("evaluation %d failed in rung %d (%d epochs): %s: %s", seq, r, epochs, arch,
                                   outcome.reason)
            F = np.array([[stored[seq, r].objectives.get(n, np.nan) if stored[seq, r].status == "ok" else np.nan
                           for n in self.objectives] for seq, _, _ in alive], dtype=float)
            V = None
            if self.constraints:  # infeasible architectures go on only after every feasible one
                V = np.array([evaluation_violation(self.constraints, stored[seq, r].status, stored[seq, r].objectives)
                              for seq, _, _ in alive], dtype=float)
            promoted = set() if r == len(schedule) - 1 else set(self.fidelity.promote(F, V))
            for i, (seq, genome, arch) in enumerate(alive):
                if i in promoted:
                    continue
                if (seq, r + 1) in stored:  # stored as promoted: the run decided otherwise before
                    raise self._diverges(seq)
                if seq in results:
                    continue
                record = stored[seq, r]
                detail = details[seq, r] if (seq, r) in details else store.rung_detail(seq, r)
                seconds = sum(stored[seq, k].seconds or 0.0 for k in range(r + 1))
                objectives = record.objectives if record.status == "ok" else None
                store.finish(seq, objectives, record.reason, seconds, detail)
                results[seq] = Evaluation(seq, arch, tuple(int(v) for v in genome), generation, record.status,
                                          record.reason, record.objectives, seconds, epochs)
                self._emit("on_evaluation", results[seq], detail, False)
            alive = [c for i, c in enumerate(alive) if i in promoted]
            if not alive:
                break

    def _front(self, evaluations: list[Evaluation]) -> list[Evaluation]:
        """The non-dominated feasible evaluations; of a multi-fidelity run, among those evaluated at full fidelity
        (partial-fidelity errors are higher, so they would not compare fairly)."""
        scored = full_fidelity(evaluations, None if self.fidelity is None else self.fidelity.epochs)
        return front_of(feasible_evaluations(self.constraints, scored), self.objectives)

    def _entry(self, e: Evaluation, *keys: str) -> dict[str, Any]:
        """An evaluation as a stats file lists it (with its epochs in a multi-fidelity run)."""
        entry: dict[str, Any] = {"arch": e.arch}
        if "status" in keys:
            entry["status"] = e.status
        entry.update(e.objectives)
        if self.fidelity is not None:
            entry["epochs"] = e.epochs
        if self.constraints and e.status == "ok":
            entry["violation"] = self.violation(e)
        return entry

    def _generation_stats(self, store: RunStore, evaluations: list[Evaluation], generation: int,
                          info: dict[str, Any]) -> dict[str, Any]:
        """The stats of a generation, derived from the store alone."""
        evaluations = [e for e in evaluations if e.generation <= generation]
        front = self._front(evaluations)
        bounds = self._bounds(store)
        F = objective_matrix(front, self.objectives)
        hv = normalized_hypervolume(F, *bounds) if bounds is not None else None
        stats: dict[str, Any] = {
            "generation": generation,
            "n_evaluated": len(evaluations),
            "archive_size": sum(e.status == "ok" for e in evaluations),
            "n_failed": sum(e.status == "failed" for e in evaluations),
            "hypervolume": hv,
            "hv_bounds": None if bounds is None else {"lower": bounds[0].tolist(), "upper": bounds[1].tolist()},
            "front": [self._entry(e) for e in front],
            "candidates": [self._entry(e, "status") for e in evaluations if e.generation == generation],
            "archive": [self._entry(e) for e in evaluations if e.status == "ok"],
            "strategy": info,
        }
        if self.constraints:
            stats["constraints"] = [str(c) for c in self.constraints]
            stats["n_feasible"] = len(feasible_evaluations(self.constraints, evaluations))
        if self.fidelity is not None:
            seqs = {e.seq for e in evaluations if e.generation == generation}
            stats["rungs"] = rung_counts(store.rungs(min_seq=min(seqs, default=0)), seqs, self.fidelity.rungs)
        return stats

    def _result(self, store: RunStore, generations: int) -> SearchResult:
        """Everything the run holds: every evaluation, the front, each generation's stats (from the store)."""
        evaluations = store.evaluations()
        front = self._front(evaluations)
        stats = []
        for saved in store.generation_info():
            generation = saved.pop("generation")
            saved.pop("n_evaluated")
            if generation not in self._stats:  # a generation of an earlier process
                self._stats[generation] = self._generation_stats(store, evaluations, generation, saved)
            stats.append(self._stats[generation])
        hv = stats[-1]["hypervolume"] if stats and stats[-1]["hypervolume"] is not None else float("nan")
        return SearchResult(self.out, list(self.objectives), evaluations, front, hv, generations + 1, stats,
                            store.rungs(), list(self.constraints))
