"""Tabular evaluation: look an architecture's accuracy up in a benchmark file.

Format: CSV with a header; column ``arch`` holds the space's canonical string
and the metric column an accuracy in percent. The ``error`` objective is
``100 - metric``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from nsganet.errors import InvalidArchitecture, NsganetError
from nsganet.evaluators.base import EVALUATORS, EvaluatorRequest
from nsganet.spaces.base import Architecture, SearchSpace


class TableEvaluator:
    """Accuracy from a tabular benchmark, validated against the space when loaded."""

    provides = frozenset({"error"})

    def __init__(self, path: str | Path, metric: str, space: SearchSpace) -> None:
        self.path, self.metric = Path(path), metric
        self.accuracy = _read_table(self.path, metric, space)
        self.network_shape = {"num_classes": 10, "input_size": 32, "in_channels": 3}

    def __call__(self, arch: Architecture) -> dict[str, float]:
        try:
            accuracy = self.accuracy[arch.genome]
        except KeyError:
            raise NsganetError(
                f"architecture {arch} is not in table {self.path} ({len(self.accuracy)} rows); "
                "the table must cover the search space") from None
        return {"error": round(100.0 - accuracy, 10)}  # no 5.819999999999993 for 94.18

    def __repr__(self) -> str:
        return f"TableEvaluator({str(self.path)!r}, metric={self.metric!r})"


@EVALUATORS.register("table")
def table_evaluator(request: EvaluatorRequest) -> TableEvaluator:
    """The configured table (``table``, ``metric``); costs are measured on networks of the configured shape."""
    config = request.config
    evaluator = TableEvaluator(config.table, config.metric, request.space)
    evaluator.network_shape = config.network_shape()
    return evaluator


def _read_table(path: Path, metric: str, space: SearchSpace) -> dict[tuple[int, ...], float]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise NsganetError(f"cannot read table {path}: {exc.strerror or exc}") from None
    table: dict[tuple[int, ...], float] = {}
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise NsganetError(f"table {path} is empty")
            if "arch" not in header:
                raise NsganetError(f"table {path} has no 'arch' column; columns: {', '.join(header)}")
            if metric not in header:
                raise NsganetError(f"table {path} has no column {metric!r}; columns: {', '.join(header)}")
            arch_col, metric_col = header.index("arch"), header.index(metric)
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise NsganetError(
                        f"table {path} line {line}: {len(row)} fields, the header has {len(header)}")
                try:
                    genome = tuple(int(v) for v in space.from_string(row[arch_col]))
                except InvalidArchitecture as exc:
                    raise NsganetError(f"table {path} line {line}: {exc}") from None
                try:
                    value = float(row[metric_col])
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise NsganetError(
                        f"table {path} line {line}: {metric} value {row[metric_col]!r} is not a finite number")
                if genome in table:
                    raise NsganetError(f"table {path} line {line}: architecture {row[arch_col]} appears twice")
                table[genome] = value
        except (csv.Error, UnicodeDecodeError) as exc:
            raise NsganetError(f"table {path} is not a readable CSV file: {exc}") from None
    if not table:
        raise NsganetError(f"table {path} has a header but no rows")
    return table
