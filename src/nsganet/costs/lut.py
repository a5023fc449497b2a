"""Per-layer latency look-up tables (NSGANetV2's latency objective) for spaces that walk their layers.

A network of a :class:`~nsganet.spaces.base.LayerwiseSpace` (the once-for-all
MobileNetV3 space) is a chain of layers whose settings repeat across
architectures. :func:`build_table` enumerates every distinct setting the space
can produce at the chosen resolutions, builds each as a small module, times it
on this machine (:func:`nsganet.costs.latency.measure_latency`) and stores
median, mean, standard deviation and count per setting, together with the
space and its options (the supernet shape), the device, the back-end and the
batch size, in a JSON file.

A network's predicted latency is the sum of its layers' medians, less the
per-call overhead each layer measurement pays (timing an empty module), plus
a constant ``overhead_ms`` fitted on a few whole networks measured at build
time (the median of measured minus summed latency): input layout conversion,
the gaps between layers, the machine's state when the table was built. (A
scale factor fitted on the same few networks did no better in trials: the
error left is mostly the machine's drift between building and measuring.)
The prediction is deterministic; measurements are not. Build a table on the
machine, back-end, batch size and thread count the networks will run with.

Tables imported from other tools (:mod:`nsganet.costs.lut_import`: OFA's and
NSGANetV2's YAML tables) hold the mean each layer was recorded with
(``statistic`` ``"mean"``), no overheads, and may be partial: ``missing`` maps
each layer setting they lack to the source entries that would be needed, and a
prediction that needs one fails naming them. They are written as version 3
(built tables stay version 2, readable by older nsganet).
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.costs.latency import (
    BACKENDS,
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    LatencyMeasurement,
    measure_latency,
    prepare_run,
    time_calls,
    timing_context,
)
from nsganet.errors import ConfigError, NsganetError
from nsganet.spaces.base import Layer, LayerwiseSpace
from nsganet.utils.device import machine_description
from nsganet.utils.files import atomic_write, read_text
from nsganet.utils.progress import progress_bar

logger = logging.getLogger(__name__)

FORMAT, VERSION = "nsganet-lut", 2
#: The version of imported tables (``imported``, ``missing``, ``statistic`` "mean", unknown run settings).
IMPORTED_VERSION = 3
#: What a table's per-layer figure is: the median of its runs (built here) or a recorded mean (imported).
STATISTICS = ("median", "mean")
#: Version-1 tables predate the ``space`` key: they hold layers of the only layer-wise space of the time.
LEGACY_SPACE = "mobilenetv3"
#: Whole networks measured at build time to fit the constant overhead.
DEFAULT_CALIBRATION = 8
#: Layers are timed in random order, in chunks of this many, each layer's runs split into up to ``ROUNDS``
#: rounds over its chunk, so that a busy spell of a shared machine spreads over many layers instead of
#: inflating a few (or all the layers of one resolution). A chunk's modules (and sessions) are held at once.
CHUNK, ROUNDS = 128, 4


def check_resolutions(space: LayerwiseSpace, resolutions: Sequence[int] | None) -> tuple[int, ...]:
    """``resolutions`` sorted and checked against the space's (default: all of them)."""
    if resolutions is None:
        return tuple(space.resolutions)
    chosen = tuple(sorted({int(r) for r in resolutions}))
    unknown = [r for r in chosen if r not in space.resolutions]
    if not chosen or unknown:
        raise NsganetError(f"resolution {unknown[0] if unknown else '(none)'} is not one of the space's resolutions "
                           f"{', '.join(map(str, space.resolutions))}")
    return chosen


def _differences(mine: Any, theirs: Any, name: str = "") -> list[str]:
    """Where two plain values differ, as ``"key table-value (table) vs value"`` for each differing leaf."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return [d for key in [*mine, *(k for k in theirs if k not in mine)]
                for d in _differences(mine.get(key), theirs.get(key), key)]
    return [] if mine == theirs else [f"{name} {mine} (table) vs {theirs}"]


def device_description(threads: int) -> dict[str, Any]:
    """Where a table was measured: the machine (:func:`~nsganet.utils.device.machine_description`), the ONNX
    Runtime version, threads and system load."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        ort_version = None
    return {**machine_description(), "onnxruntime": ort_version, "threads": threads,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


@dataclass
class LatencyTable:
    """Per-layer latencies of a space (its options: a supernet shape) on one machine, and what they predict.

    ``entries`` maps each layer setting's key to the setting's fields plus
    ``count``, ``median_ms``, ``mean_ms`` and ``std_ms``. ``call_overhead_ms``
    is the median time of an empty call measured the same way (paid once per
    layer measurement, once per network); ``overhead_ms`` the constant fitted
    on the ``calibration`` networks (each with ``measured_ms`` and
    ``layer_sum_ms``, its prediction before ``overhead_ms``). Build with
    :func:`build_table`, read with :meth:`load`.

    An imported table (:func:`nsganet.costs.lut_import.import_table`) predicts
    with each entry's ``mean_ms`` (``statistic``), records where it came from
    in ``imported`` (its ``threads``, ``warmup`` and ``repeats`` are unknown:
    None) and maps each layer setting it lacks to the source entries needed
    in ``missing``.
    """

    space: LayerwiseSpace
    num_classes: int
    in_channels: int
    backend: str
    batch_size: int
    threads: int | None
    warmup: int | None
    repeats: int | None
    resolutions: tuple[int, ...]
    entries: dict[str, dict[str, Any]]
    call_overhead_ms: float = 0.0
    overhead_ms: float = 0.0
    calibration: list[dict[str, Any]] = field(default_factory=list)
    device: dict[str, Any] = field(default_factory=dict)
    source: str = "(in memory)"
    statistic: str = "median"
    imported: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)

    # -- prediction ------------------------------------------------------------------------
    def layers(self, genome: np.ndarray) -> list[Layer]:
        """The layers of an architecture of the table's space."""
        genome = np.asarray(genome, dtype=np.int64)
        resolution = self.space.input_resolution(genome, 0)
        if resolution not in self.resolutions:
            raise NsganetError(f"look-up table {self.source} covers resolutions "
                               f"{', '.join(map(str, self.resolutions))}, not {resolution}: build it for "
                               "all resolutions (nsganet lut build without --resolutions)")
        return self.space.layers(genome, self.num_classes, self.in_channels)

    def layer_latencies(self, genome: np.ndarray) -> list[tuple[str, float]]:
        """``(key, milliseconds)`` of each layer: its median (or imported mean) less the per-call overhead.

        An architecture with layers the table lacks is refused in one line naming them (the first two) and,
        for an imported table, the source entries that would be needed.
        """
        layers = self.layers(genome)
        absent = [layer.key for layer in layers if layer.key not in self.entries]
        if absent:
            raise NsganetError(self.absent_message(list(dict.fromkeys(absent)), "this architecture"))
        return [(layer.key, self.entry_ms(self.entries[layer.key]) - self.call_overhead_ms) for layer in layers]

    def entry_ms(self, entry: dict[str, Any]) -> float:
        """An entry's figure: its median (built tables) or its recorded mean (imported ones), milliseconds."""
        return float(entry[f"{self.statistic}_ms"])

    def absent_message(self, keys: list[str], what: str) -> str:
        """One line naming layer settings the table lacks and, when imported, the source entries they need."""
        named = []
        for key in keys[:2]:
            needed = self.missing.get(key)
            named.append(f"{key!r}" + (f" (needs {', '.join(map(repr, needed[:3]))})" if needed else ""))
        more = f" and {len(keys) - 2} more" if len(keys) > 2 else ""
        files = self.imported_files()
        origin = f" ({', '.join(files)} {'lack' if len(files) > 1 else 'lacks'} the entries)" if self.imported else ""
        return (f"look-up table {self.source} has no entry for {len(keys)} layer setting(s) of {what}: "
                f"{'; '.join(named)}{more}{origin}")

    def imported_files(self) -> list[str]:
        """The files an imported table was read from (none for a built table)."""
        return [str(f.get("path", "?")) for f in self.imported.get("files", [])]

    def complete_resolutions(self) -> tuple[int, ...]:
        """The resolutions at which the table has every layer setting of its space."""
        return tuple(r for r in self.resolutions
                     if all(s.key in self.entries
                            for s in self.space.layer_settings((r,), self.num_classes, self.in_channels)))

    def layer_sum(self, genome: np.ndarray) -> float:
        """Sum of an architecture's layer latencies, milliseconds (the prediction without the overheads)."""
        return float(sum(ms for _, ms in self.layer_latencies(genome)))

    def predict(self, genome: np.ndarray) -> float:
        """Predicted latency of one batch, milliseconds: layer sum + one call + the fitted constant."""
        return self.layer_sum(genome) + self.call_overhead_ms + self.overhead_ms

    # -- compatibility ---------------------------------------------------------------------
    def check(self, space: Any, num_classes: int, in_channels: int) -> None:
        """Refuse (one line) a space or network shape the table cannot predict; adopt a covered one.

        A built table serves the space (options) it was built for. A space of
        other options whose every layer setting the table holds (say another
        resolution list of the same supernet widths) is served too: the table
        adopts it, so that its genomes decode as that space's. An imported
        table must hold every layer setting of the space: a search would
        otherwise stop at the first network needing a missing one.
        """
        if not isinstance(space, LayerwiseSpace) or space.name != self.space.name:
            raise NsganetError(f"look-up table {self.source} predicts {self.space.name} latency; the space is "
                               f"{getattr(space, 'name', space)!r} (drop --lut to measure latency instead)")
        differences = _differences(self.space.options, space.options)
        if num_classes != self.num_classes:
            differences.append(f"num_classes {self.num_classes} (table) vs {num_classes}")
        if in_channels != self.in_channels:
            differences.append(f"in_channels {self.in_channels} (table) vs {in_channels}")
        if not differences and not self.imported:
            return
        if num_classes == self.num_classes and in_channels == self.in_channels:
            settings = space.layer_settings(tuple(space.resolutions), num_classes, in_channels)
            absent = [s.key for s in settings if s.key not in self.entries]
            if not absent:
                self.space, self.resolutions = space, tuple(space.resolutions)
                return
            if not differences or all(key in self.missing for key in absent):  # a partial table of this shape
                raise NsganetError(f"{self.absent_message(absent, 'the space searched')}: a search would stop at "
                                   "the first network needing one (import a table that covers the space)")
        if self.imported:
            raise NsganetError(f"look-up table {self.source} was imported for another supernet or network shape: "
                               f"{'; '.join(differences[:3])}; import the table for this one with "
                               "'nsganet lut import FILE.yaml --supernet FILE' (or --width-mult, --num-classes)")
        raise NsganetError(f"look-up table {self.source} was built for another supernet or network shape: "
                           f"{'; '.join(differences[:3])}; build a table for this one with "
                           "'nsganet lut build --supernet FILE'")

    # -- files -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        values = {"format": FORMAT, "version": IMPORTED_VERSION if self.imported else VERSION,
                  "space": self.space.name, "space_options": self.space.options,
                  "num_classes": self.num_classes, "in_channels": self.in_channels, "backend": self.backend,
                  "batch_size": self.batch_size, "threads": self.threads, "warmup": self.warmup,
                  "repeats": self.repeats, "resolutions": list(self.resolutions), "statistic": self.statistic,
                  "call_overhead_ms": self.call_overhead_ms, "overhead_ms": self.overhead_ms,
                  "calibration": self.calibration, "device": self.device}
        if self.imported:
            values.update(imported=self.imported, missing=self.missing)
        return {**values, "entries": self.entries}

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON."""
        path = Path(path)
        try:
            if path.parent != Path():
                path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(self.to_dict(), indent=1) + "\n")
        except OSError as exc:
            raise NsganetError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.source = str(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read a table written by :meth:`save`; unreadable or malformed files are one-line errors."""
        path = Path(path)
        text = read_text(path, "look-up table")
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NsganetError(f"look-up table {path} is not valid JSON (line {exc.lineno}); rebuild it with "
                               "'nsganet lut build'") from None
        return cls.from_dict(values, source=str(path))

    @classmethod
    def from_dict(cls, values: Any, source: str = "(in memory)") -> LatencyTable:
        """Validate a mapping read from a table file."""
        if not isinstance(values, dict) or values.get("format") != FORMAT:
            raise NsganetError(f"{source} is not an nsganet latency look-up table (build one with 'nsganet lut "
                               "build')")
        if values.get("version") == 1 and "config" in values:  # the legacy space's shape at the top level
            values = {**values, "space": LEGACY_SPACE, "space_options": {"config": values["config"]}}
        elif values.get("version") not in (VERSION, IMPORTED_VERSION):
            raise NsganetError(f"look-up table {source} has version {values.get('version')!r}; this nsganet "
                               f"reads {IMPORTED_VERSION}, {VERSION} and 1")
        imported = values.get("version") == IMPORTED_VERSION
        unknown_ok = _optional_int if imported else _int  # run settings an imported table may not know
        try:
            space = _table_space(values["space"], values["space_options"], source)
            table = cls(space=space, num_classes=_int(values["num_classes"]),
                        in_channels=_int(values["in_channels"]), backend=str(values["backend"]),
                        batch_size=_int(values["batch_size"]), threads=unknown_ok(values["threads"]),
                        warmup=None if imported and values["warmup"] is None else int(values["warmup"]),
                        repeats=unknown_ok(values["repeats"]),
                        resolutions=tuple(int(r) for r in values["resolutions"]),
                        entries=dict(values["entries"]), call_overhead_ms=_ms(values["call_overhead_ms"]),
                        overhead_ms=float(values["overhead_ms"]), calibration=list(values.get("calibration", [])),
                        device=dict(values.get("device", {})), source=source,
                        statistic=str(values.get("statistic", "median")),
                        imported=dict(values["imported"]) if imported else {},
                        missing=_missing(values["missing"]) if imported else {})
        except KeyError as exc:
            raise NsganetError(f"look-up table {source} lacks key {exc.args[0]!r}") from None
        except ConfigError as exc:
            raise NsganetError(f"look-up table {source} is malformed: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise NsganetError(f"look-up table {source} is malformed: {str(exc).splitlines()[0][:200]}") from None
        if table.backend not in BACKENDS:
            raise NsganetError(f"look-up table {source} names unknown back-end {table.backend!r}")
        if table.statistic not in STATISTICS or (table.statistic == "mean") != imported:
            raise NsganetError(f"look-up table {source} names statistic {table.statistic!r}; a built table holds "
                               "medians, an imported one means")
        check_resolutions(space, table.resolutions)
        required = ("mean_ms",) if imported else ("median_ms", "mean_ms", "std_ms")
        wanted = "mean_ms (and std_ms, when given)" if imported else "median_ms, mean_ms and std_ms"
        for key, entry in table.entries.items():
            if not isinstance(entry, dict) or not all(_is_ms(entry.get(k)) for k in required) \
                    or (imported and "std_ms" in entry and not _is_ms(entry["std_ms"])):
                raise NsganetError(f"look-up table {source}: entry {str(key)[:60]!r} lacks non-negative {wanted}")
        known = table.entries.keys() | table.missing.keys() if imported else table.entries.keys()
        missing = [s.key for s in space.layer_settings(table.resolutions, table.num_classes, table.in_channels)
                   if s.key not in known]
        if missing:
            remedy = "re-import it with 'nsganet lut import'" if imported else "rebuild it with 'nsganet lut build'"
            raise NsganetError(f"look-up table {source} lacks {len(missing)} layer setting(s), e.g. {missing[0]!r}; "
                               f"{remedy}")
        return table


def _is_ms(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _ms(value: Any) -> float:
    if not _is_ms(value):
        raise ValueError(f"{value!r} is not a non-negative number of milliseconds")
    return float(value)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{value!r} is not a positive integer")
    return value


def _optional_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _missing(value: Any) -> dict[str, list[str]]:
    """An imported table's ``missing``: layer setting key -> the source entries it would need."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, list)
                                              and all(isinstance(x, str) for x in v) for k, v in value.items()):
        raise ValueError("missing is not a mapping of layer settings to lists of entry names")
    return dict(value)


def _empty_call_ms(backend: str, batch_size: int, warmup: int, repeats: int, threads: int) -> float:
    """Median time of a call that computes (almost) nothing: the fixed cost every timed call pays."""
    from torch import nn

    class Empty(nn.Module):  # a single cheap op (an ONNX graph needs one)
        def forward(self, x: Any) -> Any:
            return x + 0.0

    return measure_latency(Empty(), (1, 1, 1), backend, batch_size, warmup, repeats, threads).median_ms


def _table_space(name: Any, options: Any, source: str) -> LayerwiseSpace:
    """The space a table file names, made with its options."""
    from nsganet.spaces import get_space

    if not isinstance(options, dict):
        raise ValueError(f"space_options {options!r} is not a mapping")
    space = get_space(str(name), **options)
    if not isinstance(space, LayerwiseSpace):
        raise NsganetError(f"look-up table {source} names the {space.name} space, which has no per-layer latency")
    return space


def build_table(space: LayerwiseSpace, num_classes: int = 10, in_channels: int = 3, backend: str = "torch",
                batch_size: int = 1, repeats: int = DEFAULT_REPEATS, warmup: int = DEFAULT_WARMUP, threads: int = 1,
                resolutions: Sequence[int] | None = None, calibration: int = DEFAULT_CALIBRATION, seed: int = 0,
                progress: bool = False) -> LatencyTable:
    """Time every layer setting of ``space`` at ``resolutions`` on this machine, then fit the overhead.

    Each setting is built (randomly initialised, eval mode) and timed like a
    network (:func:`~nsganet.costs.latency.measure_latency` with ``backend``,
    ``batch_size``, ``warmup``, ``repeats``, ``threads``), in random order,
    its runs split into rounds interleaved with other layers (:data:`CHUNK`);
    the torch back-end feeds each layer the memory layout it gets inside the
    network (:meth:`LayerwiseSpace.channels_last`). Then ``calibration`` whole
    networks (the smallest, the largest, random ones; ``seed``) are measured
    and the overhead is the median of measured minus summed latency.
    """
    import torch

    chosen = check_resolutions(space, resolutions)
    if calibration < 0:
        raise NsganetError(f"calibration networks must be 0 or more, got {calibration}")
    settings = space.layer_settings(chosen, num_classes, in_channels)
    # timed in a random order: a slow spell of the machine then hits layers of many networks a little,
    # rather than every layer of one resolution (or stage) a lot
    order = np.random.default_rng(seed).permutation(len(settings))
    timed = [settings[i] for i in order]
    torch.manual_seed(seed)
    call = _empty_call_ms(backend, batch_size, warmup, repeats, threads)
    channels_last = space.channels_last(in_channels, batch_size)
    rounds = min(ROUNDS, repeats)
    per_round = [repeats // rounds + (1 if r < repeats % rounds else 0) for r in range(rounds)]
    entries: dict[str, dict[str, Any]] = {}
    bar = progress_bar(len(settings) * (1 + rounds), desc="layers", unit="step", enabled=progress)
    with bar:
        for first in range(0, len(timed), CHUNK):
            chunk = timed[first:first + CHUNK]
            runs = []
            for setting in chunk:
                runs.append(prepare_run(setting.build(), setting.input_shape, backend, batch_size, threads,
                                        channels_last=channels_last or setting.takes_input))
                bar.update()
            samples: list[list[float]] = [[] for _ in chunk]
            with timing_context(threads):
                for r, count in enumerate(per_round):  # spread each layer's runs over the chunk's timing
                    for i, run in enumerate(runs):
                        samples[i] += time_calls(run, warmup if r == 0 else 0, count)
                        bar.update()
            for setting, times in zip(chunk, samples):
                timing = LatencyMeasurement.from_samples(times, backend, batch_size, threads)
                entries[setting.key] = {**setting.to_dict(), "count": len(times), "median_ms": timing.median_ms,
                                        "mean_ms": timing.mean_ms, "std_ms": timing.std_ms}
    entries = {s.key: entries[s.key] for s in settings}  # network order in the file
    table = LatencyTable(space, num_classes, in_channels, backend, batch_size, threads, warmup, repeats, chosen,
                         entries, call_overhead_ms=call, device=device_description(threads))
    table.device["channels_last"] = channels_last
    rng = np.random.default_rng(seed)
    genomes = []
    for i in range(calibration):
        genome = space.smallest() if i == 0 else space.largest() if i == 1 else space.sample(rng, 1)[0]
        resolution = chosen[0] if i == 0 else chosen[-1] if i == 1 else chosen[int(rng.integers(len(chosen)))]
        genomes.append(space.encoding.canonical(space.with_resolution(genome, resolution)))
    residuals = []
    for genome in genomes:
        model = space.build(genome, num_classes=num_classes, in_channels=in_channels)
        resolution = space.input_resolution(genome, 0)
        measured = measure_latency(model, (in_channels, resolution, resolution), backend, batch_size, warmup,
                                   repeats, threads).median_ms
        summed = table.layer_sum(genome) + call
        residuals.append(measured - summed)
        table.calibration.append({"arch": space.to_string(genome), "measured_ms": measured, "layer_sum_ms": summed})
    table.overhead_ms = float(statistics.median(residuals)) if residuals else 0.0
    logger.info("latency table: %d layer settings, call overhead %.4f ms, fitted overhead %.4f ms",
                len(entries), call, table.overhead_ms)
    return table
