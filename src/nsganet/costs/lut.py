"""Per-layer latency look-up tables for the ``mobilenetv3`` space (NSGANetV2's latency objective).

A network of the once-for-all MobileNetV3 space is a chain of layers whose
settings repeat across architectures: the stem, the fixed first block, each
MBConv layer (input and output width, kernel, expansion, stride, input
resolution, activation, squeeze-excitation), the final 1x1 expansion and the
head (pooling, feature mix, classifier). :func:`build_table` enumerates every
distinct setting a :class:`~nsganet.spaces.mobilenetv3.SupernetConfig` can
produce at the chosen resolutions, builds each as a small module, times it on
this machine (:func:`nsganet.costs.latency.measure_latency`) and stores median, mean,
standard deviation and count per setting, together with the supernet shape,
the device, the back-end and the batch size, in a JSON file.

A network's predicted latency is the sum of its layers' medians, less the
per-call overhead each layer measurement pays (timing an empty module), plus
a constant ``overhead_ms`` fitted on a few whole networks measured at build
time (the median of measured minus summed latency): input layout conversion,
the gaps between layers, the machine's state when the table was built. (A
scale factor fitted on the same few networks did no better in trials: the
error left is mostly the machine's drift between building and measuring.)
The prediction is deterministic; measurements are not. Build a table on the
machine, back-end, batch size and thread count the networks will run with.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import statistics
import sys
from collections.abc import Mapping, Sequence
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
from nsganet.errors import NsganetError
from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig

logger = logging.getLogger("nsganet")

FORMAT, VERSION = "nsganet-lut", 1
#: Layer kinds of a MobileNetV3 network, in network order.
KINDS = ("stem", "mbconv", "final_expand", "head")
#: Whole networks measured at build time to fit the constant overhead.
DEFAULT_CALIBRATION = 8
#: Layers are timed in random order, in chunks of this many, each layer's runs split into up to ``ROUNDS``
#: rounds over its chunk, so that a busy spell of a shared machine spreads over many layers instead of
#: inflating a few (or all the layers of one resolution). A chunk's modules (and sessions) are held at once.
CHUNK, ROUNDS = 128, 4


@dataclass(frozen=True)
class LayerSetting:
    """One layer of a MobileNetV3 network as the table sees it: its kind, widths, kernel, stride, input size.

    ``mbconv`` layers also carry the expanded width (``mid_channels``), the
    activation, squeeze-excitation and whether there is a 1x1 expansion (the
    fixed first block has none); the ``head`` has ``out_channels`` feature-mix
    units and ``classes`` outputs.
    """

    kind: str
    in_channels: int
    out_channels: int
    size: int
    kernel: int = 1
    stride: int = 1
    mid_channels: int = 0
    act: str = ""
    se: bool = False
    expand: bool = False
    classes: int = 0

    @property
    def key(self) -> str:
        """A unique, readable name of the setting (the table's key)."""
        base = f"{self.kind} {self.in_channels}>{self.out_channels} r{self.size}"
        if self.kind == "mbconv":
            return (f"{base} m{self.mid_channels} k{self.kernel} s{self.stride} {self.act}"
                    f"{' se' if self.se else ''}{'' if self.expand else ' noexpand'}")
        if self.kind == "stem":
            return f"{base} k{self.kernel} s{self.stride}"
        if self.kind == "head":
            return f"{base} c{self.classes}"
        return base

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.size, self.size)

    def build(self) -> Any:
        """The layer as a module, built as :class:`~nsganet.nn.mobilenetv3.MobileNetV3` builds it."""
        from nsganet.nn.mobilenetv3 import ConvBNAct, LayerSpec, MBConv

        if self.kind == "stem":
            return ConvBNAct(self.in_channels, self.out_channels, self.kernel, self.stride, "h_swish")
        if self.kind == "mbconv":
            return MBConv(LayerSpec(self.in_channels, self.out_channels, self.kernel, self.stride, self.mid_channels,
                                    self.act, self.se, expand=self.expand))
        if self.kind == "final_expand":
            return ConvBNAct(self.in_channels, self.out_channels, 1, act="h_swish")
        return _head(self.in_channels, self.out_channels, self.classes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _head(in_channels: int, mix_channels: int, classes: int) -> Any:
    """Global pooling, feature mix (1x1, h-swish, no BN), dropout and classifier, as in the network."""
    import torch
    from torch import nn

    from nsganet.nn.mobilenetv3 import ConvBNAct
    from nsganet.supernet.elastic import global_pool

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.feature_mix = ConvBNAct(in_channels, mix_channels, 1, act="h_swish", bn=False)
            self.dropout = nn.Dropout(0.0)
            self.classifier = nn.Linear(mix_channels, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.dropout(torch.flatten(self.feature_mix(global_pool(x)), 1)))

    return Head()


def network_layers(config: SupernetConfig, arch: Mapping[str, Any], num_classes: int,
                   in_channels: int) -> list[LayerSetting]:
    """The layers of the network ``arch`` (:meth:`MobileNetV3Space.to_config`) of the supernet ``config``.

    Feature maps shrink as in ``analytic_costs``: a stride-2 layer with "same"
    padding maps ``n`` pixels to ``ceil(n / 2)``.
    """
    resolution = int(arch["resolution"])
    layers = [LayerSetting("stem", in_channels, config.stem_width, resolution, kernel=3, stride=config.stem_stride)]
    size = math.ceil(resolution / config.stem_stride)
    layers.append(LayerSetting("mbconv", config.stem_width, config.first_block_width, size, kernel=3, stride=1,
                               mid_channels=config.stem_width, act="relu", se=False, expand=False))
    for cin, cout, k, stride, mid, act, se in zip(arch["in_channels"], arch["out_channels"], arch["kernel_sizes"],
                                                   arch["strides"], arch["mid_channels"], arch["acts"], arch["se"]):
        layers.append(LayerSetting("mbconv", int(cin), int(cout), size, kernel=int(k), stride=int(stride),
                                   mid_channels=int(mid), act=str(act), se=bool(se), expand=True))
        size = math.ceil(size / stride)
    last = int(arch["out_channels"][-1]) if arch["out_channels"] else config.first_block_width
    layers.append(LayerSetting("final_expand", last, config.final_expand_width, size))
    layers.append(LayerSetting("head", config.final_expand_width, config.feature_mix_width, size,
                               classes=num_classes))
    return layers


def layer_settings(config: SupernetConfig, resolutions: Sequence[int] | None = None, num_classes: int = 10,
                   in_channels: int = 3) -> list[LayerSetting]:
    """Every distinct layer setting of the space's networks at ``resolutions`` (default: all), in network order.

    Every kernel size and expansion ratio is tried at every position of every
    stage at its largest depth (a shallower stage uses a prefix of those positions).
    """
    space = MobileNetV3Space(config)
    lay = space.layout
    seen: dict[str, LayerSetting] = {}
    for resolution in _check_resolutions(config, resolutions):
        for ki in range(len(config.kernel_sizes)):
            for ei in range(len(config.expand_ratios)):
                genome = space.largest()
                for s in range(config.num_stages):
                    genome[list(lay.kernel_vars[s])] = ki
                    genome[list(lay.expand_vars[s])] = ei
                genome[lay.resolution_var] = config.resolutions.index(resolution)
                for layer in network_layers(config, space.to_config(genome), num_classes, in_channels):
                    seen.setdefault(layer.key, layer)
    return list(seen.values())


def _check_resolutions(config: SupernetConfig, resolutions: Sequence[int] | None) -> tuple[int, ...]:
    if resolutions is None:
        return tuple(config.resolutions)
    chosen = tuple(sorted({int(r) for r in resolutions}))
    unknown = [r for r in chosen if r not in config.resolutions]
    if not chosen or unknown:
        raise NsganetError(f"resolution {unknown[0] if unknown else '(none)'} is not one of the space's resolutions "
                           f"{', '.join(map(str, config.resolutions))}")
    return chosen


def device_description(threads: int) -> dict[str, Any]:
    """Where a table was measured: platform, CPU model, core count, library versions, threads, system load."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        ort_version = None
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "torch": torch.__version__,
            "onnxruntime": ort_version, "threads": threads,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def _describe_config(config: SupernetConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


@dataclass
class LatencyTable:
    """Per-layer latencies of a supernet shape on one machine, and the network latencies they predict.

    ``entries`` maps :attr:`LayerSetting.key` to the setting's fields plus
    ``count``, ``median_ms``, ``mean_ms`` and ``std_ms``. ``call_overhead_ms``
    is the median time of an empty call measured the same way (paid once per
    layer measurement, once per network); ``overhead_ms`` the constant fitted
    on the ``calibration`` networks (each with ``measured_ms`` and
    ``layer_sum_ms``, its prediction before ``overhead_ms``). Build with
    :func:`build_table`, read with :meth:`load`.
    """

    config: SupernetConfig
    num_classes: int
    in_channels: int
    backend: str
    batch_size: int
    threads: int
    warmup: int
    repeats: int
    resolutions: tuple[int, ...]
    entries: dict[str, dict[str, Any]]
    call_overhead_ms: float = 0.0
    overhead_ms: float = 0.0
    calibration: list[dict[str, Any]] = field(default_factory=list)
    device: dict[str, Any] = field(default_factory=dict)
    source: str = "(in memory)"

    def __post_init__(self) -> None:
        self.space = MobileNetV3Space(self.config)

    # -- prediction ------------------------------------------------------------------------
    def layers(self, arch: np.ndarray | Mapping[str, Any]) -> list[LayerSetting]:
        """The layers of an architecture: a genome of the table's space, or its ``to_config`` mapping."""
        if not isinstance(arch, Mapping):
            arch = self.space.to_config(np.asarray(arch, dtype=np.int64))
        if int(arch["resolution"]) not in self.resolutions:
            raise NsganetError(f"look-up table {self.source} covers resolutions "
                               f"{', '.join(map(str, self.resolutions))}, not {arch['resolution']}: build it for "
                               "all resolutions (nsganet lut build without --resolutions)")
        return network_layers(self.config, arch, self.num_classes, self.in_channels)

    def layer_latencies(self, arch: np.ndarray | Mapping[str, Any]) -> list[tuple[str, float]]:
        """``(key, milliseconds)`` of each layer: its median less the per-call overhead."""
        out = []
        for layer in self.layers(arch):
            entry = self.entries.get(layer.key)
            if entry is None:
                raise NsganetError(f"look-up table {self.source} has no entry for layer {layer.key!r}")
            out.append((layer.key, float(entry["median_ms"]) - self.call_overhead_ms))
        return out

    def layer_sum(self, arch: np.ndarray | Mapping[str, Any]) -> float:
        """Sum of an architecture's layer latencies, milliseconds (the prediction without the overheads)."""
        return float(sum(ms for _, ms in self.layer_latencies(arch)))

    def predict(self, arch: np.ndarray | Mapping[str, Any]) -> float:
        """Predicted latency of one batch, milliseconds: layer sum + one call + the fitted constant."""
        return self.layer_sum(arch) + self.call_overhead_ms + self.overhead_ms

    # -- compatibility ---------------------------------------------------------------------
    def check(self, space: Any, num_classes: int, in_channels: int) -> None:
        """Refuse (one line) a space or network shape other than the one the table was built for."""
        config = getattr(space, "config", None)
        if getattr(space, "name", None) != "mobilenetv3" or not isinstance(config, SupernetConfig):
            raise NsganetError(f"look-up table {self.source} predicts mobilenetv3 latency; the space is "
                               f"{getattr(space, 'name', space)!r} (drop --lut to measure latency instead)")
        mine, theirs = _describe_config(self.config), _describe_config(config)
        differences = [f"{k} {mine[k]} (table) vs {theirs[k]}" for k in mine if mine[k] != theirs[k]]
        if num_classes != self.num_classes:
            differences.append(f"num_classes {self.num_classes} (table) vs {num_classes}")
        if in_channels != self.in_channels:
            differences.append(f"in_channels {self.in_channels} (table) vs {in_channels}")
        if differences:
            raise NsganetError(f"look-up table {self.source} was built for another supernet or network shape: "
                               f"{'; '.join(differences[:3])}; build a table for this one with "
                               "'nsganet lut build --supernet FILE'")

    # -- files -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "config": _describe_config(self.config),
                "num_classes": self.num_classes, "in_channels": self.in_channels, "backend": self.backend,
                "batch_size": self.batch_size, "threads": self.threads, "warmup": self.warmup,
                "repeats": self.repeats, "resolutions": list(self.resolutions), "statistic": "median",
                "call_overhead_ms": self.call_overhead_ms, "overhead_ms": self.overhead_ms,
                "calibration": self.calibration, "device": self.device, "entries": self.entries}

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON."""
        path = Path(path)
        try:
            if path.parent != Path():
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise NsganetError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.source = str(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read a table written by :meth:`save`; unreadable or malformed files are one-line errors."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
            raise NsganetError(f"cannot read look-up table {path}: {reason}") from None
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
        if values.get("version") != VERSION:
            raise NsganetError(f"look-up table {source} has version {values.get('version')!r}; this nsganet "
                               f"reads {VERSION}")
        try:
            config = SupernetConfig(**values["config"])
            table = cls(config=config, num_classes=_int(values["num_classes"]),
                        in_channels=_int(values["in_channels"]), backend=str(values["backend"]),
                        batch_size=_int(values["batch_size"]), threads=_int(values["threads"]),
                        warmup=int(values["warmup"]), repeats=_int(values["repeats"]),
                        resolutions=tuple(int(r) for r in values["resolutions"]),
                        entries=dict(values["entries"]), call_overhead_ms=_ms(values["call_overhead_ms"]),
                        overhead_ms=float(values["overhead_ms"]), calibration=list(values.get("calibration", [])),
                        device=dict(values.get("device", {})), source=source)
        except KeyError as exc:
            raise NsganetError(f"look-up table {source} lacks key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise NsganetError(f"look-up table {source} is malformed: {str(exc).splitlines()[0][:200]}") from None
        if table.backend not in BACKENDS:
            raise NsganetError(f"look-up table {source} names unknown back-end {table.backend!r}")
        _check_resolutions(config, table.resolutions)
        for key, entry in table.entries.items():
            if not isinstance(entry, dict) or not all(_is_ms(entry.get(k)) for k in ("median_ms", "mean_ms", "std_ms")):
                raise NsganetError(f"look-up table {source}: entry {str(key)[:60]!r} lacks non-negative "
                                   "median_ms, mean_ms and std_ms")
        missing = [s.key for s in layer_settings(config, table.resolutions, table.num_classes, table.in_channels)
                   if s.key not in table.entries]
        if missing:
            raise NsganetError(f"look-up table {source} lacks {len(missing)} layer setting(s), e.g. {missing[0]!r}; "
                               "rebuild it with 'nsganet lut build'")
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


def _empty_call_ms(backend: str, batch_size: int, warmup: int, repeats: int, threads: int) -> float:
    """Median time of a call that computes (almost) nothing: the fixed cost every timed call pays."""
    from torch import nn

    class Empty(nn.Module):  # a single cheap op (an ONNX graph needs one)
        def forward(self, x: Any) -> Any:
            return x + 0.0

    return measure_latency(Empty(), (1, 1, 1), backend, batch_size, warmup, repeats, threads).median_ms


def runs_channels_last(config: SupernetConfig, in_channels: int, batch_size: int = 1) -> bool:
    """Whether the network's layers after the stem see channels-last tensors (the torch back-end).

    The network converts its input to channels-last; a convolution keeps that
    layout unless the input is ambiguous (one channel: both layouts have the
    same strides), when PyTorch picks the contiguous one for everything after.
    """
    import torch

    stem = LayerSetting("stem", in_channels, config.stem_width, config.resolutions[0], kernel=3,
                        stride=config.stem_stride).build().eval()
    x = torch.zeros(batch_size, in_channels, config.resolutions[0], config.resolutions[0])
    with torch.inference_mode():
        y = stem(x.contiguous(memory_format=torch.channels_last))
    return bool(y.is_contiguous(memory_format=torch.channels_last))


def build_table(config: SupernetConfig, num_classes: int = 10, in_channels: int = 3, backend: str = "torch",
                batch_size: int = 1, repeats: int = DEFAULT_REPEATS, warmup: int = DEFAULT_WARMUP, threads: int = 1,
                resolutions: Sequence[int] | None = None, calibration: int = DEFAULT_CALIBRATION, seed: int = 0,
                progress: bool = False) -> LatencyTable:
    """Time every layer setting of ``config`` at ``resolutions`` on this machine, then fit the overhead.

    Each setting is built (randomly initialised, eval mode) and timed like a
    network (:func:`~nsganet.costs.latency.measure_latency` with ``backend``,
    ``batch_size``, ``warmup``, ``repeats``, ``threads``), in random order,
    its runs split into rounds interleaved with other layers (:data:`CHUNK`);
    the torch back-end feeds each layer the memory layout it gets inside the
    network (:func:`runs_channels_last`). Then ``calibration`` whole networks
    (the smallest, the largest, random ones; ``seed``) are measured and the
    overhead is the median of measured minus summed latency.
    """
    import torch
    from tqdm import tqdm

    from nsganet.nn.mobilenetv3 import MobileNetV3

    chosen = _check_resolutions(config, resolutions)
    if calibration < 0:
        raise NsganetError(f"calibration networks must be 0 or more, got {calibration}")
    settings = layer_settings(config, chosen, num_classes, in_channels)
    # timed in a random order: a slow spell of the machine then hits layers of many networks a little,
    # rather than every layer of one resolution (or stage) a lot
    order = np.random.default_rng(seed).permutation(len(settings))
    timed = [settings[i] for i in order]
    torch.manual_seed(seed)
    call = _empty_call_ms(backend, batch_size, warmup, repeats, threads)
    channels_last = runs_channels_last(config, in_channels, batch_size)
    rounds = min(ROUNDS, repeats)
    per_round = [repeats // rounds + (1 if r < repeats % rounds else 0) for r in range(rounds)]
    entries: dict[str, dict[str, Any]] = {}
    with tqdm(total=len(settings) * (1 + rounds), desc="layers", unit="step", disable=not progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for first in range(0, len(timed), CHUNK):
            chunk = timed[first:first + CHUNK]
            runs = []
            for setting in chunk:
                runs.append(prepare_run(setting.build(), setting.input_shape, backend, batch_size, threads,
                                        channels_last=channels_last or setting.kind == "stem"))
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
    table = LatencyTable(config, num_classes, in_channels, backend, batch_size, threads, warmup, repeats, chosen,
                         entries, call_overhead_ms=call, device=device_description(threads))
    table.device["channels_last"] = channels_last
    space = table.space
    rng = np.random.default_rng(seed)
    genomes = []
    for i in range(calibration):
        genome = space.smallest() if i == 0 else space.largest() if i == 1 else space.sample(rng, 1)[0]
        genome[space.layout.resolution_var] = config.resolutions.index(chosen[0] if i == 0 else chosen[-1] if i == 1
                                                                         else chosen[int(rng.integers(len(chosen)))])
        genomes.append(space.encoding.canonical(genome))
    residuals = []
    for genome in genomes:
        arch = space.to_config(genome)
        model = MobileNetV3.from_config(config, arch, num_classes=num_classes, in_channels=in_channels)
        measured = measure_latency(model, (in_channels, arch["resolution"], arch["resolution"]), backend, batch_size,
                                   warmup, repeats, threads).median_ms
        summed = table.layer_sum(arch) + call
        residuals.append(measured - summed)
        table.calibration.append({"arch": space.to_string(genome), "measured_ms": measured, "layer_sum_ms": summed})
    table.overhead_ms = float(statistics.median(residuals)) if residuals else 0.0
    logger.info("latency table: %d layer settings, call overhead %.4f ms, fitted overhead %.4f ms",
                len(entries), call, table.overhead_ms)
    return table
