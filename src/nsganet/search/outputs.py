"""Files of a run directory derived from its store: CSVs, per-generation stats, plots."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.moo.indicators import pareto_front_mask
from nsganet.search.store import Evaluation

EVALUATIONS_CSV = "evaluations.csv"
FRONT_CSV = "front.csv"
STATS_DIR = "stats"
FAILED_DIR = "failed"
#: Longest name :func:`safe_name` returns (file systems allow 255 bytes).
MAX_NAME = 200
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(text: object, fallback: str = "unnamed") -> str:
    """``text`` as a single file or folder name that cannot leave the folder it is joined to.

    Names built from user data (a custom space's or strategy's name, a
    dataset name) become parts of paths. Every character outside
    ``[A-Za-z0-9._-]`` (separators, NUL, spaces, non-ASCII) becomes ``-`` and
    leading dots become ``-`` too, so the result is never ``.``, ``..``, a
    hidden file nor an absolute path; an empty name becomes ``fallback``.
    """
    name = _UNSAFE_CHARS.sub("-", str(text))[:MAX_NAME]
    stripped = name.lstrip(".")
    name = "-" * (len(name) - len(stripped)) + stripped
    return name or fallback


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` so that readers see either the old or the new file, never a partial one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def objective_matrix(evaluations: Sequence[Evaluation], objectives: Sequence[str]) -> np.ndarray:
    """Objective values as rows (NaN for failed evaluations)."""
    return np.array([[e.objectives.get(name, np.nan) if e.status == "ok" else np.nan for name in objectives]
                     for e in evaluations], dtype=float).reshape(len(evaluations), len(objectives))


def front_of(evaluations: Sequence[Evaluation], objectives: Sequence[str]) -> list[Evaluation]:
    """The non-dominated successful evaluations, sorted by the first objective."""
    F = objective_matrix(evaluations, objectives)
    front = [e for e, keep in zip(evaluations, pareto_front_mask(F)) if keep]
    return sorted(front, key=lambda e: tuple(e.objectives[n] for n in objectives))


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _value(e: Evaluation, name: str) -> str:
    return repr(e.objectives[name]) if e.status == "ok" else ""


def write_evaluations_csv(run_dir: Path, evaluations: Sequence[Evaluation], objectives: Sequence[str]) -> None:
    rows = [[e.arch, *(_value(e, n) for n in objectives), e.status, e.generation] for e in evaluations]
    atomic_write(run_dir / EVALUATIONS_CSV, _csv(["arch", *objectives, "status", "generation"], rows))


def write_front_csv(run_dir: Path, front: Sequence[Evaluation], objectives: Sequence[str]) -> None:
    rows = [[e.arch, *(_value(e, n) for n in objectives), e.generation] for e in front]
    atomic_write(run_dir / FRONT_CSV, _csv(["arch", *objectives, "generation"], rows))


def stats_path(run_dir: Path, generation: int) -> Path:
    return run_dir / STATS_DIR / f"gen_{generation:04d}.json"


def write_stats(run_dir: Path, generation: int, stats: dict[str, Any]) -> None:
    path = stats_path(run_dir, generation)
    path.parent.mkdir(exist_ok=True)
    atomic_write(path, json.dumps(stats, indent=1) + "\n")


def read_stats(run_dir: Path) -> list[dict[str, Any]]:
    folder = run_dir / STATS_DIR
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("gen_*.json"))]


def failed_path(run_dir: Path, seq: int) -> Path:
    return run_dir / FAILED_DIR / f"{seq:05d}.txt"


def write_failure(run_dir: Path, evaluation: Evaluation, detail: str | None) -> None:
    """One file per failed evaluation: architecture, reason and traceback."""
    path = failed_path(run_dir, evaluation.seq)
    path.parent.mkdir(exist_ok=True)
    text = (f"evaluation {evaluation.seq} (generation {evaluation.generation})\n"
            f"arch: {evaluation.arch}\nreason: {evaluation.reason}\n")
    atomic_write(path, text + (f"\n{detail}" if detail else ""))
