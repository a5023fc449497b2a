"""The study's events and the writers that listen to them.

A :class:`~nsganet.search.study.Study` only asks, evaluates, stores and tells;
everything a user sees is a :class:`Callback`: the CSV files, the
per-generation stats files, the failure reports and the progress bar here,
the plots in :mod:`nsganet.report.search_plots`. A user's own callback (the
Python API's ``callbacks=``) hears the same events, e.g. to log to an
experiment tracker or stop early by raising.

Every file is derived from the store and written atomically; writers also
restore, when the search ends, what a crash kept them from writing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nsganet.errors import NsganetError
from nsganet.search.result import SearchResult
from nsganet.search.rundir import RunDirectory
from nsganet.search.store import Evaluation
from nsganet.spaces.base import SearchSpace
from nsganet.utils.files import atomic_write, csv_text
from nsganet.utils.progress import progress_bar


class Study(Protocol):
    """What callbacks see of the running :class:`~nsganet.search.study.Study`."""

    space: SearchSpace
    strategy: Any
    objectives: list[str]
    budget: int
    seed: int

    def failure_detail(self, seq: int) -> str | None: ...


@dataclass(frozen=True)
class GenerationEnd:
    """A generation finished and is stored: its stats and every finished evaluation so far."""

    generation: int
    stats: dict[str, Any]
    evaluations: list[Evaluation]


class Callback:
    """Hears a study's events; override what you need. Events arrive in the search's own process."""

    def on_search_start(self, study: Study, evaluated: int) -> None:
        """The search starts, or resumes with ``evaluated`` architectures already evaluated."""

    def on_generation_start(self, study: Study, generation: int) -> None:
        """The strategy is asked for generation ``generation``."""

    def on_rung_start(self, study: Study, generation: int, rung: int, epochs: int, candidates: int) -> None:
        """Multi-fidelity runs: rung ``rung`` of the generation starts, ``candidates`` architectures at ``epochs``
        (those a crash left stored are read back, not trained again)."""

    def on_evaluation(self, study: Study, evaluation: Evaluation, detail: str | None, reused: bool) -> None:
        """An evaluation finished (``reused``: read back from the store after a crash, or taken from the run a
        warm start names); ``detail``: traceback.

        In a multi-fidelity run an evaluation finishes with the last rung it reached (``evaluation.epochs``).
        """

    def on_generation_end(self, study: Study, event: GenerationEnd) -> None:
        """A generation is stored: the strategy's state and every evaluation of it."""

    def on_search_end(self, study: Study, result: SearchResult) -> None:
        """The search finished (the budget is spent or the space exhausted)."""

    def on_close(self, study: Study) -> None:
        """The search stops, finished or not (an exception, Ctrl-C): release what was opened."""


def _value(e: Evaluation, name: str) -> str:
    return repr(e.objectives[name]) if e.status == "ok" else ""


def evaluations_csv(evaluations: Sequence[Evaluation], objectives: Sequence[str],
                    violation: Callable[[Evaluation], float] | None = None, measured: Sequence[str] = ()) -> str:
    """``evaluations.csv``: every architecture in evaluation order, its objectives, status and generation.

    A multi-fidelity run's evaluations carry the epochs of their result: an
    ``epochs`` column follows (partial-fidelity errors are higher than full ones).
    A warm-started run that reused earlier results says where each came from
    in a ``reused_from`` column (``RUN#SEQ``; empty: evaluated in this run).
    A constrained run's (``violation`` of an evaluation) end with the
    constrained values that are not objectives (``measured``), ``feasible``
    (1 or 0; empty when failed) and ``violation`` (0 when feasible).
    """
    header: list[str] = ["arch", *objectives, "status", "generation"]
    rows: list[list[Any]] = [[e.arch, *(_value(e, n) for n in objectives), e.status, e.generation]
                             for e in evaluations]
    if any(e.epochs is not None for e in evaluations):
        header.append("epochs")
        for row, e in zip(rows, evaluations):
            row.append("" if e.epochs is None else e.epochs)
    if any(e.reused_from is not None for e in evaluations):
        header.append("reused_from")
        for row, e in zip(rows, evaluations):
            row.append(e.reused_from or "")
    if violation is not None:
        header += [*measured, "feasible", "violation"]
        for row, e in zip(rows, evaluations):
            v = violation(e)
            row += [*(_value(e, n) for n in measured), *(["", ""] if e.status != "ok" else [int(not v > 0), repr(v)])]
    return csv_text(header, rows)


def front_csv(front: Sequence[Evaluation], objectives: Sequence[str]) -> str:
    """``front.csv``: the non-dominated architectures, their objectives and generation."""
    rows = [[e.arch, *(_value(e, n) for n in objectives), e.generation] for e in front]
    return csv_text(["arch", *objectives, "generation"], rows)


def failure_text(evaluation: Evaluation, detail: str | None) -> str:
    """A failure report: architecture, reason and traceback."""
    text = (f"evaluation {evaluation.seq} (generation {evaluation.generation})\n"
            f"arch: {evaluation.arch}\nreason: {evaluation.reason}\n")
    return text + (f"\n{detail}" if detail else "")


def _write_in(path: Path, text: str) -> None:
    """Write a derived file atomically, making its folder first; failures (a full disk) are one line."""
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as exc:
        raise NsganetError(f"cannot write {path}: {exc.strerror or exc}") from None
    atomic_write(path, text)


def _holds(path: Path, text: str) -> bool:
    """Whether ``path`` is a file holding exactly ``text``."""
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


class CsvWriter(Callback):
    """``evaluations.csv`` after every generation; with ``front.csv`` when the search ends."""

    def __init__(self, run: RunDirectory) -> None:
        self.run = run

    def on_generation_end(self, study: Study, event: GenerationEnd) -> None:
        atomic_write(self.run.evaluations_csv, evaluations_csv(event.evaluations, study.objectives,
                                                               *_feasibility(study)))

    def on_search_end(self, study: Study, result: SearchResult) -> None:
        atomic_write(self.run.evaluations_csv, evaluations_csv(result.evaluations, result.objectives,
                                                               *_feasibility(study)))
        atomic_write(self.run.front_csv, front_csv(result.front, result.objectives))


def _feasibility(study: Study) -> tuple[Callable[[Evaluation], float] | None, list[str]]:
    """A constrained study's violation of an evaluation, and the constrained values that are not objectives."""
    constraints = getattr(study, "constraints", None)
    if not constraints:
        return None, []
    extra = [name for name in dict.fromkeys(c.name for c in constraints) if name not in study.objectives]
    return study.violation, extra  # type: ignore[attr-defined]


class StatsWriter(Callback):
    """``stats/gen_NNNN.json`` after every generation; at the end, each that a crash left unwritten or that
    was damaged since is written again from the store."""

    def __init__(self, run: RunDirectory) -> None:
        self.run = run

    def _write(self, generation: int, stats: dict[str, Any]) -> None:
        _write_in(self.run.stats_path(generation), _stats_text(stats))

    def on_generation_end(self, study: Study, event: GenerationEnd) -> None:
        self._write(event.generation, event.stats)

    def on_search_end(self, study: Study, result: SearchResult) -> None:
        for stats in result.stats:
            if not _holds(self.run.stats_path(stats["generation"]), _stats_text(stats)):
                self._write(stats["generation"], stats)


def _stats_text(stats: dict[str, Any]) -> str:
    """A stats file's text: what the writer writes and what a rebuilt file must equal."""
    return json.dumps(stats, indent=1) + "\n"


class FailureWriter(Callback):
    """``failed/NNNNN.txt`` for every failed evaluation (and those a crash left unwritten, at the end)."""

    def __init__(self, run: RunDirectory) -> None:
        self.run = run

    def _write(self, evaluation: Evaluation, detail: str | None) -> None:
        _write_in(self.run.failed_path(evaluation.seq), failure_text(evaluation, detail))

    def on_evaluation(self, study: Study, evaluation: Evaluation, detail: str | None, reused: bool) -> None:
        if evaluation.status == "failed" and not reused:
            self._write(evaluation, detail)

    def on_search_end(self, study: Study, result: SearchResult) -> None:
        for e in result.evaluations:
            if e.status == "failed" and not self.run.failed_path(e.seq).exists():
                self._write(e, study.failure_detail(e.seq))


class ProgressBar(Callback):
    """A progress bar over the budget: the generation, the front's size and the hypervolume."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_search_start(self, study: Study, evaluated: int) -> None:
        self.bar = progress_bar(study.budget, min(evaluated, study.budget), unit="arch")

    def on_generation_start(self, study: Study, generation: int) -> None:
        self.bar.set_description(f"gen {generation}")

    def on_rung_start(self, study: Study, generation: int, rung: int, epochs: int, candidates: int) -> None:
        self.bar.set_description(f"gen {generation} rung {rung} ({candidates} x {epochs} ep)")

    def on_evaluation(self, study: Study, evaluation: Evaluation, detail: str | None, reused: bool) -> None:
        self.bar.update(1)

    def on_generation_end(self, study: Study, event: GenerationEnd) -> None:
        self.bar.set_postfix(front=len(event.stats["front"]), hv=f"{event.stats['hypervolume'] or 0:.4f}")

    def on_close(self, study: Study) -> None:
        if self.bar is not None:
            self.bar.close()


def run_writers(run: RunDirectory, progress: bool = True) -> list[Callback]:
    """The writers every search directory gets: CSVs, stats, failure reports (and the progress bar)."""
    return [CsvWriter(run), StatsWriter(run), FailureWriter(run), *([ProgressBar()] if progress else [])]


__all__ = ["Callback", "CsvWriter", "FailureWriter", "GenerationEnd", "ProgressBar", "StatsWriter",
           "evaluations_csv", "failure_text", "front_csv", "run_writers"]
