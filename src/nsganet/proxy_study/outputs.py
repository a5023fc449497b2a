"""What a proxy study leaves: its result, and the files of its folder derived from it.

The folder holds the store (``study.sqlite``, the record a study continues
from) and, written atomically when the study ends, ``results.csv`` (every
pair), ``study.csv`` and ``study.json`` (the table); ``study.png`` comes from
:mod:`nsganet.report.proxy_study_plots`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsganet.proxy_study.config import StudyConfig
from nsganet.proxy_study.settings import Setting
from nsganet.proxy_study.store import PairResult
from nsganet.proxy_study.table import Analysis, SettingRow, StudyTable, analysed_table
from nsganet.utils.files import atomic_write, csv_text

STORE_FILE = "study.sqlite"
RESULTS_CSV = "results.csv"
STUDY_CSV = "study.csv"
STUDY_JSON = "study.json"
STUDY_PNG = "study.png"


@dataclass
class ProxyStudyResult:
    """What a study leaves: its folder, config, architectures, every result and the table.

    ``trained`` pairs were evaluated by this call, ``reused`` read back from
    the store (an earlier, interrupted call).
    """

    out: Path
    config: StudyConfig
    archs: list[str]
    settings: list[Setting]
    results: list[PairResult]
    table: StudyTable
    supernet_seconds: dict[str, float]
    trained: int = 0
    reused: int = 0

    def retable(self, analysis: Analysis) -> StudyTable:
        """The table read another way (top-k, metric, threshold) without training anything."""
        return analysed_table(self.results, self.settings, self.supernet_seconds, analysis)


def _number(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _plain(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def results_csv(results: Sequence[PairResult]) -> str:
    """``results.csv``: every pair, by setting (reference first) and architecture: error and seconds."""
    return csv_text(["arch_index", "arch", "setting", "status", "error", "seconds"],
                ([r.arch_index, r.arch, r.setting, "ok" if r.ok else "failed", _number(r.error), _number(r.seconds)]
                 for r in results))


def row_record(row: SettingRow, table: StudyTable) -> dict[str, Any]:
    """One setting's row as plain values (``study.csv`` and ``study.json``)."""
    s = row.setting
    return {"setting": s.name, "label": s.label, "kind": s.kind, "channels": s.channels, "layers": s.layers,
            "epochs": s.epochs, "images": s.images, "size": s.size, "replicate": s.replicate,
            "supernet_epochs": s.supernet_epochs,
            "finetune_epochs": s.finetune if s.inherits else None, "n": row.n, "failed": row.failed,
            "rho": _plain(row.rho), "tau": _plain(row.tau), "top_k_overlap": _plain(row.top_k_overlap),
            "seconds_per_arch": _plain(row.seconds), "relative_cost": _plain(row.relative_cost),
            "one_off_seconds": row.one_off_seconds, "reference": row.is_reference,
            "recommended": row is table.recommended}


def study_csv(table: StudyTable) -> str:
    """``study.csv``: one row per setting, cheapest first."""
    records = [row_record(r, table) for r in table.rows]  # the reference's row at least
    return csv_text(list(records[0]), ([("" if v is None else repr(v) if isinstance(v, float) else v)
                                        for v in rec.values()] for rec in records))


def write_study_files(result: ProxyStudyResult) -> None:
    """Write ``results.csv``, ``study.csv`` and ``study.json`` into the study folder (atomically)."""
    out, table = result.out, result.table
    atomic_write(out / RESULTS_CSV, results_csv(result.results))
    atomic_write(out / STUDY_CSV, study_csv(table))
    document = {"config": result.config.to_dict(), "archs": result.archs, "reference": table.reference,
                "top_k": table.top_k, "metric": table.metric, "threshold": table.threshold,
                "recommended": None if table.recommended is None else table.recommended.name,
                "recommendation": table.recommendation_text(), "supernet_seconds": result.supernet_seconds,
                "rows": [row_record(r, table) for r in table.rows]}
    atomic_write(out / STUDY_JSON, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


__all__ = ["RESULTS_CSV", "STORE_FILE", "STUDY_CSV", "STUDY_JSON", "STUDY_PNG", "ProxyStudyResult", "results_csv",
           "row_record", "study_csv", "write_study_files"]
