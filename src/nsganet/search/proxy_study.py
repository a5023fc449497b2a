"""Proxy-fidelity study (NSGANetV1 Sec. V-C, Fig. 12): how well does a cheap proxy rank architectures?

A search scores thousands of architectures by a cheap proxy: a down-scaled
network trained a few epochs on part of the data, or weights inherited from a
supernet. It needs the proxy to *rank* architectures as a faithful training
would, not to match its accuracy. This study samples ``archs`` architectures
of a space (the same ones for the same seed), scores each at a *reference*
setting and at cheaper ones, and reports per setting the Spearman ρ and
Kendall τ of its validation errors against the reference's, the overlap of
the best ``top_k`` architectures, and the cost per architecture; it
recommends the cheapest setting whose ρ (or τ) reaches a threshold.

Settings are written in one compact grammar (:func:`parse_setting`):
``c<channels>-l<layers>-e<epochs>[-i<images>][-r<px>]`` trains from scratch (width,
cells per stage, epochs, a subset of the search-train images, the image
size), ``inherit[-s<epochs>][-f<epochs>]`` inherits weights from a supernet
trained for ``s`` epochs in the study folder (or the given ``--supernet`` as
it is), recalibrates batch norm and, with ``f``, fine-tunes first.

Every finished (architecture, setting) pair is committed at once to the
study's store (:mod:`nsganet.search.proxy_study_store`); a study stopped at
any moment continues where it stopped and ends with the results an
uninterrupted one has, since every training is seeded from (seed, setting,
architecture) alone, whatever the workers. The study only computes, stores
and announces events; callbacks draw progress and write the files
(``results.csv``, ``study.csv``, ``study.json``; ``study.png`` comes from
:mod:`nsganet.report.proxy_study_plots`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.errors import ConfigError, NsganetError
from nsganet.executors import ExecutorSettings, make_executor
from nsganet.search.proxy_study_store import PairResult, StudyStore, corrupt
from nsganet.spaces import SPACES, SearchSpace, SupernetSpace, get_space
from nsganet.train.checkpoint import TrainingListener
from nsganet.utils.checks import CHANNELS, IMAGE_SIZE, LAYERS, NONNEGATIVE_INT, OPEN_UNIT, POSITIVE_INT, Bound
from nsganet.utils.files import atomic_write, safe_name
from nsganet.utils.lock import LOCK_FILE, FolderLock
from nsganet.utils.progress import progress_bar
from nsganet.utils.seeds import derived_seed

logger = logging.getLogger(__name__)

STORE_FILE = "study.sqlite"
RESULTS_CSV = "results.csv"
STUDY_CSV = "study.csv"
STUDY_JSON = "study.json"
STUDY_PNG = "study.png"
#: Architectures a study samples by default (V1's study used 100 on GPUs).
DEFAULT_ARCHS = 20
#: Rank-correlation threshold a recommended setting must reach by default.
DEFAULT_THRESHOLD = 0.7
#: CPU threads of every evaluation (see :class:`StudyTask`); use workers to use more cores.
EVAL_THREADS = 1
METRICS = ("rho", "tau")
SYMBOLS = {"rho": "ρ", "tau": "τ"}

# -- settings grammar -------------------------------------------------------------------------------------------

#: The one grammar of a setting, as error messages and help state it.
GRAMMAR = ("c<channels>-l<layers>-e<epochs>[-i<images>][-r<px>] (each part optional), or "
           "inherit[-s<supernet epochs>][-f<fine-tune epochs>]")
_TRAIN_PARTS: dict[str, tuple[str, Bound]] = {
    "c": ("channels", CHANNELS), "l": ("layers", LAYERS), "e": ("epochs", POSITIVE_INT),
    "i": ("images", POSITIVE_INT), "r": ("size", IMAGE_SIZE)}
_INHERIT_PARTS: dict[str, tuple[str, Bound]] = {"s": ("supernet_epochs", POSITIVE_INT),
                                                 "f": ("finetune", NONNEGATIVE_INT)}
_PART = re.compile(r"([a-z])([0-9]{1,9})")
INHERIT = "inherit"


@dataclass(frozen=True)
class Setting:
    """How each architecture is scored: trained from scratch (``train``) or by weight inheritance (``inherit``).

    ``train``: ``channels`` and ``layers`` size the network (the space's
    width and depth knobs; None: the full network's), ``epochs`` of training
    on ``images`` search-train images (None: all) at ``size`` px (None: the
    study's image size). ``inherit``: weights from a supernet trained
    ``supernet_epochs`` in the study folder (None: the given supernet file as
    it is), batch norm recalibrated, fine-tuned ``finetune`` epochs first.
    """

    kind: str = "train"
    channels: int | None = None
    layers: int | None = None
    epochs: int | None = None
    images: int | None = None
    size: int | None = None
    supernet_epochs: int | None = None
    finetune: int = 0

    @property
    def inherits(self) -> bool:
        return self.kind == INHERIT

    @property
    def name(self) -> str:
        """The canonical text of the setting, in the grammar :func:`parse_setting` reads."""
        if self.inherits:
            parts = [INHERIT, *([f"s{self.supernet_epochs}"] if self.supernet_epochs else []),
                     *([f"f{self.finetune}"] if self.finetune else [])]
        else:
            parts = [f"{letter}{getattr(self, name)}" for letter, (name, _) in _TRAIN_PARTS.items()
                     if getattr(self, name) is not None]
        return "-".join(parts)

    @property
    def label(self) -> str:
        """The setting in words for tables: its name, or what an inheritance setting does."""
        if not self.inherits:
            return self.name
        source = f"supernet {self.supernet_epochs} ep" if self.supernet_epochs else "given supernet"
        return f"inherit ({source})" + (f" + finetune {self.finetune} ep" if self.finetune else "")

    def resolved(self, space: SearchSpace, default_epochs: int) -> Setting:
        """This setting for ``space``: missing width and depth are the space's proxy defaults, missing epochs
        ``default_epochs``; a knob the space lacks, or inheritance in a space without a supernet, is an error."""
        if self.inherits:
            if not isinstance(space, SupernetSpace):
                raise ConfigError(f"setting {self.name}: the {space.name} space has no supernet to inherit "
                                  "weights from")
            return self
        values: dict[str, Any] = {}
        for name, knob, default in zip(("channels", "layers"), space.proxy_knobs, space.proxy_defaults):
            given = getattr(self, name)
            if knob is None and given is not None:
                what = "width" if name == "channels" else "depth"
                raise ConfigError(f"setting {self.name}: {space.name} networks have no {what} knob; leave out "
                                  f"{name[0]}{given}")
            values[name] = given if given is not None else default if knob is not None else None
        return dataclasses.replace(self, epochs=self.epochs or default_epochs, **values)


def parse_setting(text: str) -> Setting:
    """A setting from its text (see :data:`GRAMMAR`): ``c8-l1-e5``, ``e2-i300``, ``c16-l2-e10-r14``,
    ``inherit-s2``, ``inherit-s6-f1``. Numbers are checked against the bounds of
    :mod:`nsganet.utils.checks`; anything else is a one-line :class:`ConfigError`."""
    raw = str(text).strip().lower()
    parts = raw.split("-")
    if not raw or not all(parts):
        raise ConfigError(f"setting {text!r} has an empty part; write {GRAMMAR}")
    inherit = parts[0] == INHERIT
    table = _INHERIT_PARTS if inherit else _TRAIN_PARTS
    values: dict[str, int] = {}
    for part in parts[1:] if inherit else parts:
        match = _PART.fullmatch(part)
        if match is None or match.group(1) not in table:
            raise ConfigError(f"setting {text!r}: {part!r} is not a part of {GRAMMAR}")
        name, bound = table[match.group(1)]
        if name in values:
            raise ConfigError(f"setting {text!r} gives the {name} twice")
        value = int(match.group(2))
        bound.check(f"setting {text!r}: {name}", value)
        values[name] = value
    return Setting(kind=INHERIT if inherit else "train", **values)


def search_defaults() -> dict[str, Any]:
    """The search's defaults a study starts from: proxy ``epochs``, ``batch_size``, ``lr``, ``valid_fraction``."""
    from nsganet.config import default_values

    values = default_values()
    return {key: values[key] for key in ("epochs", "batch_size", "lr", "valid_fraction")}


def default_reference(space: SearchSpace, epochs: int | None = None) -> Setting:
    """The default reference: V1's search proxy (Table I: Chinit 32, N = 4 cells, 36 epochs, on 32-px
    CIFAR) scaled to what the embedded 8-px digits afford on a CPU: twice the search default's width, depth
    and epochs (``c16-l2-e10`` for micro and nb201, ``c32-e10`` for macro, ``e10`` without knobs)."""
    epochs = epochs or search_defaults()["epochs"]
    width, depth = (2 * d if knob is not None and d is not None else None
                    for knob, d in zip(space.proxy_knobs, space.proxy_defaults))
    return Setting(channels=width, layers=depth, epochs=2 * epochs)


def default_settings(space: SearchSpace, train_images: int, epochs: int | None = None) -> list[Setting]:
    """The cheaper settings studied by default: the search's own proxy, then fewer epochs, a quarter of the
    images and half the channels (a supernet space: the search's proxy alone, besides its inheritance rows)."""
    epochs = epochs or search_defaults()["epochs"]
    width, depth = (d if knob is not None else None for knob, d in zip(space.proxy_knobs, space.proxy_defaults))
    search = Setting(channels=width, layers=depth, epochs=epochs)
    if isinstance(space, SupernetSpace):
        return [search]
    settings = [search, dataclasses.replace(search, epochs=max(1, epochs // 2)),
                dataclasses.replace(search, images=max(1, train_images // 4))]
    if width is not None and width >= 2:
        settings.append(dataclasses.replace(search, channels=width // 2))
    return settings


# -- the table ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SettingRow:
    """One setting's line of the study: agreement with the reference and cost.

    ``n`` architectures have a result at both this setting and the reference
    (``failed`` of this setting's did not finish); ``rho``, ``tau`` and
    ``top_k_overlap`` compare their errors (NaN when they cannot be computed,
    e.g. fewer than two architectures or constant errors). ``seconds`` is the
    mean time of one evaluation (training and validation, or extraction,
    calibration, fine-tuning and validation); ``one_off_seconds`` what the
    setting costs once (training its supernet).
    """

    setting: Setting
    n: int
    failed: int
    rho: float
    tau: float
    top_k_overlap: float
    seconds: float
    relative_cost: float
    one_off_seconds: float = 0.0
    is_reference: bool = False

    @property
    def name(self) -> str:
        return self.setting.name

    def metric(self, name: str) -> float:
        return self.rho if name == "rho" else self.tau


@dataclass(frozen=True)
class StudyTable:
    """Every setting's row, cheapest first, and the recommendation: the cheapest setting other than the
    reference whose ``metric`` (``rho`` or ``tau``) is at least ``threshold`` (None when none is)."""

    rows: list[SettingRow]
    reference: str
    top_k: int
    metric: str
    threshold: float
    recommended: SettingRow | None

    def row(self, name: str) -> SettingRow:
        return next(r for r in self.rows if r.name == name)

    def recommendation_text(self) -> str:
        """``recommended: c8-l1-e3 (ρ 0.82 ≥ 0.7 at 0.31× the reference's cost)``, or why there is none."""
        symbol = SYMBOLS[self.metric]
        best = self.recommended
        if best is not None:
            once = f", plus {best.one_off_seconds:.0f} s once for its supernet" if best.one_off_seconds else ""
            return (f"recommended: {best.name} ({symbol} {best.metric(self.metric):.2f} ≥ {self.threshold:g} at "
                    f"{best.relative_cost:.2f}× the reference's cost{once})")
        others = [r for r in self.rows if not r.is_reference and math.isfinite(r.metric(self.metric))]
        if not others:
            return f"recommended: none (no setting has a {symbol} to compare with {self.threshold:g})"
        closest = max(others, key=lambda r: r.metric(self.metric))
        return (f"recommended: none (no setting reaches {symbol} ≥ {self.threshold:g}; the closest is "
                f"{closest.name} with {symbol} {closest.metric(self.metric):.2f})")

    def text(self) -> str:
        """The rows as an aligned text table, cheapest first."""
        once = any(r.one_off_seconds for r in self.rows)
        header = ["setting", "ρ", "τ", f"top-{self.top_k}", "s/arch", "cost", "n", *(["once s"] if once else [])]
        lines = [header]
        for r in self.rows:
            label = r.setting.label if r.setting.inherits else r.name
            label += " (reference)" if r.is_reference else " *" if r is self.recommended else ""
            lines.append([label, _fmt(r.rho, 3), _fmt(r.tau, 3), _fmt(r.top_k_overlap, 2), _fmt(r.seconds, 2),
                          f"{_fmt(r.relative_cost, 2)}×", f"{r.n}" + (f" ({r.failed} failed)" if r.failed else ""),
                          *([_fmt(r.one_off_seconds, 0) if r.one_off_seconds else ""] if once else [])])
        widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
        return "\n".join("  ".join(cell.ljust(widths[0]) if c == 0 else cell.rjust(widths[c])
                                   for c, cell in enumerate(line)).rstrip() for line in lines)


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def rank_correlations(reference: Sequence[float], other: Sequence[float]) -> tuple[float, float]:
    """Spearman ρ and Kendall τ (τ-b, ties accounted) of two error lists; NaN for fewer than two pairs or a
    constant list."""
    if len(reference) < 2:
        return math.nan, math.nan
    from scipy import stats

    with warnings.catch_warnings():  # a constant list: scipy warns and returns NaN, which the table shows as "-"
        warnings.simplefilter("ignore")
        rho = float(stats.spearmanr(reference, other)[0])
        tau = float(stats.kendalltau(reference, other)[0])
    return rho, tau


def top_k_overlap(indices: Sequence[int], reference: Sequence[float], other: Sequence[float], k: int) -> float:
    """The share of the reference's best ``k`` architectures (lowest errors) that are among the other's best
    ``k``; NaN without architectures.

    Validation errors are discrete, so ties are common: an architecture tied
    at the ``k``-th error counts fractionally, as the expected overlap when
    ties are broken at random (constant errors give ``k / n``, the overlap of
    a random pick).
    """
    k = min(k, len(indices))
    if k < 1:
        return math.nan
    a, b = _inclusion(reference, k), _inclusion(other, k)
    return float(sum(x * y for x, y in zip(a, b)) / k)


def _inclusion(errors: Sequence[float], k: int) -> list[float]:
    """Each architecture's chance to be among the best ``k`` when ties are broken at random."""
    kth = sorted(errors)[k - 1]
    better = sum(e < kth for e in errors)
    tied = sum(e == kth for e in errors)
    return [1.0 if e < kth else (k - better) / tied if e == kth else 0.0 for e in errors]


def study_table(results: Iterable[PairResult], settings: Sequence[Setting], reference: Setting, *,
                top_k: int | None = None, metric: str = "rho", threshold: float = DEFAULT_THRESHOLD,
                one_off_seconds: Mapping[str, float] | None = None) -> StudyTable:
    """The study's table from its results alone (no training): one row per setting and the recommendation.

    ``settings`` may include the reference; results of other settings are
    ignored. ``top_k`` defaults to a quarter of the architectures the
    reference scored (at least 1). ``one_off_seconds`` by setting name is what
    a setting costs once (its supernet's training).
    """
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    Bound(-1.0, high=1.0).check(f"the {SYMBOLS[metric]} threshold", threshold)
    by_setting: dict[str, dict[int, PairResult]] = {}
    for r in results:
        by_setting.setdefault(r.setting, {})[r.arch_index] = r
    ordered = [reference, *(s for s in settings if s.name != reference.name)]
    ref = by_setting.get(reference.name, {})
    if top_k is None:
        top_k = max(1, len(ref) // 4)
    POSITIVE_INT.check("top_k", top_k)
    top_k = min(top_k, max(1, len(ref)))  # no more than the architectures there are
    one_off = dict(one_off_seconds or {})
    ref_seconds = _mean([r.seconds for r in ref.values()])
    rows: list[SettingRow] = []
    seen: set[str] = set()
    for setting in ordered:
        if setting.name in seen:
            continue
        seen.add(setting.name)
        mine = by_setting.get(setting.name, {})
        common = sorted(i for i, r in mine.items() if r.ok and i in ref and ref[i].ok)
        x = [ref[i].error for i in common]
        y = [mine[i].error for i in common]
        rho, tau = rank_correlations(x, y)  # type: ignore[arg-type]
        seconds = _mean([r.seconds for r in mine.values()])
        relative = seconds / ref_seconds if math.isfinite(seconds) and ref_seconds > 0 else math.nan
        rows.append(SettingRow(setting, len(common), sum(not r.ok for r in mine.values()), rho, tau,
                               top_k_overlap(common, x, y, top_k), seconds, relative,  # type: ignore[arg-type]
                               float(one_off.get(setting.name, 0.0)), setting.name == reference.name))
    rows.sort(key=lambda r: (not math.isfinite(r.seconds), r.seconds if math.isfinite(r.seconds) else 0.0))
    qualified = [r for r in rows if not r.is_reference and math.isfinite(r.seconds)
                 and math.isfinite(r.metric(metric)) and r.metric(metric) >= threshold]
    return StudyTable(rows, reference.name, top_k, metric, float(threshold), qualified[0] if qualified else None)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan


# -- what a study is -------------------------------------------------------------------------------------------

@dataclass
class StudyConfig:
    """Everything that determines a study's results, recorded in its store; a study continues only under the
    same config. ``settings`` excludes ``reference``; both are canonical setting names."""

    space: str
    space_options: dict[str, Any]
    dataset: str
    data: str | None
    image_size: int | None
    valid_fraction: float
    vld_size: int | None
    seed: int
    archs: int
    reference: str
    settings: list[str]
    batch_size: int
    lr: float
    supernet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (as the store records them)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: Any, where: str | Path = "") -> StudyConfig:
        """The config a store recorded; anything else is a one-line error naming ``where``."""
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(values, dict) or set(values) != set(names):
            raise corrupt(where, "its recorded config is not a study config")
        try:
            config = cls(**values)
            for setting in [config.reference, *config.settings]:
                parse_setting(setting)
        except (TypeError, NsganetError) as exc:
            raise corrupt(where, f"its recorded config does not parse ({exc})") from None
        return config

    @property
    def names(self) -> list[str]:
        """Every setting's name, the reference first: the order pairs are evaluated in."""
        return [self.reference, *self.settings]


@dataclass(frozen=True)
class StudyRuntime:
    """How a study runs, which may change when it continues: executor, device, precision, data loading."""

    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    device: str = "auto"
    amp: str = "auto"
    data_mode: str = "auto"
    data_workers: int | None = None
    progress: bool = True


@dataclass(frozen=True)
class Analysis:
    """How the table is read: top-k size (None: a quarter of the architectures), the metric and its threshold."""

    top_k: int | None = None
    metric: str = "rho"
    threshold: float = DEFAULT_THRESHOLD


def sample_architectures(space: SearchSpace, n: int, seed: int) -> list[np.ndarray]:
    """``n`` distinct architectures of ``space``, the same ones for the same seed (canonical genomes)."""
    POSITIVE_INT.check("archs", n)
    rng = np.random.default_rng(derived_seed(seed, "proxy-study", "archs"))
    genomes: list[np.ndarray] = []
    seen: set[str] = set()
    for _ in range(100):
        for genome in space.sample(rng, n - len(genomes)):
            text = space.to_string(genome)
            if text not in seen:
                seen.add(text)
                genomes.append(space.check(genome))
        if len(genomes) == n:
            return genomes
    raise ConfigError(f"the {space.name} space yields fewer than {n} distinct architectures; lower --archs")


def load_search_split(config: StudyConfig, size: int | None, data_mode: str = "auto") -> tuple[Any, Any, Any]:
    """The study's data at ``size`` px: all training images, and their search-train / search-validation parts
    (the same images at every size: the split depends on the seed alone)."""
    from nsganet.data import search_split

    return search_split(config.dataset, config.data, size, config.valid_fraction, config.vld_size, config.seed,
                        mode=data_mode)


class StudyTask:
    """The evaluation function every executor worker gets: ``(arch index, genome, setting name) -> error``.

    Each worker loads the data (at each setting's image size) and the
    supernets on first use and keeps them; evaluators are built once per
    setting. Training is seeded from (seed, setting) and the architecture,
    and computes on :data:`EVAL_THREADS` CPU threads whatever the worker has
    (CPU kernels give other low bits on other thread counts, and training
    amplifies them): results do not depend on the workers nor on the
    machine's core count. Parallelism comes from the workers.
    """

    def __init__(self, space: SearchSpace, config: StudyConfig, settings: Mapping[str, Setting],
                 supernets: Mapping[str, str], runtime: StudyRuntime) -> None:
        self.space, self.config, self.settings = space, config, dict(settings)
        self.supernets = dict(supernets)
        self.device, self.amp = runtime.device, runtime.amp
        self.data_mode, self.data_workers = runtime.data_mode, runtime.data_workers
        self._splits: dict[int | None, tuple[Any, Any, Any]] = {}
        self._evaluators: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_splits"], state["_evaluators"] = {}, {}  # each worker loads its own
        return state

    def preload(self, size: int | None, split: tuple[Any, Any, Any]) -> None:
        """Use ``split`` for images of ``size`` (the caller has it loaded already)."""
        self._splits[size] = split

    def split(self, size: int | None) -> tuple[Any, Any, Any]:
        if size not in self._splits:
            self._splits[size] = load_search_split(self.config, size, self.data_mode)
        return self._splits[size]

    def evaluator(self, name: str) -> Any:
        """The evaluator of setting ``name``, built on first use."""
        if name not in self._evaluators:
            self._evaluators[name] = self._build(self.settings[name], derived_seed(self.config.seed, "proxy-study",
                                                                                   name))
        return self._evaluators[name]

    def _build(self, setting: Setting, seed: int) -> Any:
        from nsganet.train.loop import TrainSettings

        config = self.config
        if setting.inherits:
            from nsganet.evaluators.supernet import SupernetEvalSettings, SupernetEvaluator
            from nsganet.supernet.files import load_supernet

            _, train_set, valid_set = self.split(config.image_size)
            finetune = TrainSettings(epochs=setting.finetune, lr=config.lr * 0.1, amp=self.amp) \
                if setting.finetune else None
            settings = SupernetEvalSettings(finetune=finetune, batch_size=config.batch_size, device=self.device,
                                            amp=self.amp, data_workers=self.data_workers)
            supernet = load_supernet(self.supernets[supernet_key(setting)])
            return SupernetEvaluator(supernet, train_set, valid_set, settings, seed=seed)
        from nsganet.evaluators.proxy import ProxyEvaluator, ProxySettings

        _, train_set, valid_set = self.split(setting.size or config.image_size)
        settings = ProxySettings(train=TrainSettings(epochs=setting.epochs or 1, lr=config.lr, amp=self.amp),
                                 batch_size=config.batch_size, train_images=setting.images,
                                 build_options=build_options(self.space, setting), device=self.device,
                                 data_workers=self.data_workers)
        return ProxyEvaluator(train_set, valid_set, settings, seed=seed)

    def __call__(self, item: tuple[int, tuple[int, ...], str]) -> dict[str, float]:
        """The pair's validation error and the seconds its evaluation took: training (or extraction, calibration
        and fine-tuning) and validation, without loading the data or a supernet, which a worker does once."""
        import torch

        _, genome, name = item
        threads = torch.get_num_threads()
        torch.set_num_threads(EVAL_THREADS)  # CPU kernels sum in another order on another thread count
        try:
            evaluator = self.evaluator(name)
            arch = self.space.architecture(np.asarray(genome, dtype=np.int64))
            started = time.perf_counter()
            values = evaluator(arch)
            seconds = time.perf_counter() - started
        finally:
            torch.set_num_threads(threads)
        error = float(values["error"] if isinstance(values, Mapping) else values)
        if not math.isfinite(error):
            raise ValueError(f"the validation error is {error}")
        return {"error": error, "seconds": seconds}


def build_options(space: SearchSpace, setting: Setting) -> dict[str, Any]:
    """The build options of a from-scratch setting's networks: its width and depth on the space's knobs."""
    return space.proxy_options(setting.channels, setting.layers, use_defaults=False)


def supernet_key(setting: Setting) -> str:
    """Which supernet an inheritance setting uses: ``s<epochs>`` (trained in the study folder) or ``given``."""
    return f"s{setting.supernet_epochs}" if setting.supernet_epochs else "given"


# -- events ------------------------------------------------------------------------------------------------------

class StudyCallback:
    """Hears a study's events (in the study's own process); override what you need."""

    def on_study_start(self, study: ProxyStudy, total: int, done: int) -> None:
        """The study starts with ``done`` of its ``total`` pairs stored already."""

    def on_setting_start(self, study: ProxyStudy, setting: Setting, pending: int) -> None:
        """``pending`` architectures are evaluated at ``setting`` next."""

    def on_result(self, study: ProxyStudy, result: PairResult) -> None:
        """A pair finished and is committed to the store."""

    def on_study_end(self, study: ProxyStudy, result: ProxyStudyResult) -> None:
        """Every pair is stored; ``result`` holds the table."""

    def on_close(self, study: ProxyStudy) -> None:
        """The study stops, finished or not: release what was opened."""


class ProgressBar(StudyCallback):
    """A progress bar over the study's pairs, named by the setting being evaluated."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_study_start(self, study: ProxyStudy, total: int, done: int) -> None:
        self.bar = progress_bar(total, done, desc="proxy study", unit="pair")

    def on_setting_start(self, study: ProxyStudy, setting: Setting, pending: int) -> None:
        self.bar.set_description(setting.name)

    def on_result(self, study: ProxyStudy, result: PairResult) -> None:
        self.bar.update(1)

    def on_close(self, study: ProxyStudy) -> None:
        if self.bar is not None:
            self.bar.close()


class StudyFiles(StudyCallback):
    """``results.csv``, ``study.csv`` and ``study.json`` when the study ends (derived from the store)."""

    def on_study_end(self, study: ProxyStudy, result: ProxyStudyResult) -> None:
        write_study_files(result)


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _plain(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def results_csv(results: Sequence[PairResult]) -> str:
    """``results.csv``: every pair, by setting (reference first) and architecture: error and seconds."""
    return _csv(["arch_index", "arch", "setting", "status", "error", "seconds"],
                ([r.arch_index, r.arch, r.setting, "ok" if r.ok else "failed", _number(r.error), _number(r.seconds)]
                 for r in results))


def row_record(row: SettingRow, table: StudyTable) -> dict[str, Any]:
    """One setting's row as plain values (``study.csv`` and ``study.json``)."""
    s = row.setting
    return {"setting": s.name, "label": s.label, "kind": s.kind, "channels": s.channels, "layers": s.layers,
            "epochs": s.epochs, "images": s.images, "size": s.size, "supernet_epochs": s.supernet_epochs,
            "finetune_epochs": s.finetune if s.inherits else None, "n": row.n, "failed": row.failed,
            "rho": _plain(row.rho), "tau": _plain(row.tau), "top_k_overlap": _plain(row.top_k_overlap),
            "seconds_per_arch": _plain(row.seconds), "relative_cost": _plain(row.relative_cost),
            "one_off_seconds": row.one_off_seconds, "reference": row.is_reference,
            "recommended": row is table.recommended}


def study_csv(table: StudyTable) -> str:
    """``study.csv``: one row per setting, cheapest first."""
    records = [row_record(r, table) for r in table.rows]  # the reference's row at least
    return _csv(list(records[0]), ([("" if v is None else repr(v) if isinstance(v, float) else v) for v in rec.values()]
                         for rec in records))


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


# -- the study -------------------------------------------------------------------------------------------------

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
        return _table(self.results, self.settings, self.supernet_seconds, analysis)


def _table(results: Sequence[PairResult], settings: Sequence[Setting], supernet_seconds: Mapping[str, float],
           analysis: Analysis) -> StudyTable:
    one_off = {s.name: supernet_seconds.get(supernet_key(s), 0.0) for s in settings if s.inherits}
    return study_table(results, settings, settings[0], top_k=analysis.top_k, metric=analysis.metric,
                       threshold=analysis.threshold, one_off_seconds=one_off)


@dataclass
class StudyPlan:
    """A study ready to run: its config, the space (shaped for the data), the settings (reference first), and
    the data split already loaded (None: load it when needed)."""

    config: StudyConfig
    space: SearchSpace
    settings: list[Setting]
    split: tuple[Any, Any, Any] | None = None


class _SupernetSeconds(TrainingListener):
    """Keeps the total seconds of a supernet's training epochs (those of an earlier, interrupted run too)."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    def on_end(self, run: Any, history: Mapping[str, list[float]]) -> None:
        self.seconds = float(sum(history.get("seconds", [])))


class ProxyStudy:
    """One study in one folder: sample, score every pending pair, commit each, then the table.

    The folder is locked for the study's life (one process per folder); a
    folder holding a study of another config is refused in one line.
    """

    def __init__(self, plan: StudyPlan, out: str | Path, runtime: StudyRuntime | None = None,
                 analysis: Analysis | None = None, callbacks: Iterable[StudyCallback] = ()) -> None:
        self.plan, self.config, self.space = plan, plan.config, plan.space
        self.settings = {s.name: s for s in plan.settings}
        self.out = Path(out)
        self.runtime = runtime or StudyRuntime()
        self.analysis = analysis or Analysis()
        self.callbacks: list[StudyCallback] = [StudyFiles(), *([ProgressBar()] if self.runtime.progress else []),
                                               *callbacks]
        self.store_path = self.out / STORE_FILE
        self.archs: list[str] = []

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)

    def supernet_dir(self, setting: Setting) -> Path:
        """Where the supernet of an inheritance setting is trained (``supernet-s<epochs>``)."""
        return self.out / f"supernet-{supernet_key(setting)}"

    def supernet_file(self, setting: Setting) -> Path:
        from nsganet.supernet.training import SUPERNET_FILE

        if setting.supernet_epochs is None:
            assert self.config.supernet is not None, "an inheritance setting without a supernet"
            return Path(self.config.supernet)
        return self.supernet_dir(setting) / SUPERNET_FILE

    # -- the folder ------------------------------------------------------------------------------
    def _refuse_foreign(self) -> None:
        if not self.out.is_dir() or self.store_path.exists():
            return
        try:
            names = [n for n in self.out.iterdir() if n.name != LOCK_FILE and not n.name.startswith(f".{STORE_FILE}")]
        except OSError as exc:
            raise NsganetError(f"cannot write to study folder {self.out}: {exc.strerror or exc}") from None
        if names:
            raise NsganetError(f"--out {self.out} is a non-empty directory that holds no proxy study; choose an "
                               "empty or new directory")

    def _open_store(self) -> StudyStore:
        config = self.config.to_dict()
        if not self.store_path.exists():
            return StudyStore.create(self.store_path, {"config": config, "archs": self.archs})
        store = StudyStore(self.store_path)
        try:
            recorded = store.get_meta("config")
            if not isinstance(recorded, dict):
                raise corrupt(self.store_path, "it records no config")
            if recorded != config:
                changed = sorted(k for k in set(recorded) | set(config) if recorded.get(k) != config.get(k))
                raise NsganetError(f"{self.out} holds a study whose config differs in {', '.join(changed)}; "
                                   f"continue it with 'nsganet proxy-study --out {self.out} --resume', or choose "
                                   "another --out")
            if store.get_meta("archs") != self.archs:
                raise NsganetError(f"cannot continue the study in {self.out}: seed {self.config.seed} samples other "
                                   "architectures than it holds; was it made by another version of nsganet?")
            store.check(self.archs, self.config.names)
        except BaseException:
            store.close()
            raise
        return store

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> ProxyStudyResult:
        """Score every pair not stored yet, then compute the table and announce the end."""
        genomes = sample_architectures(self.space, self.config.archs, self.config.seed)
        self.archs = [self.space.to_string(g) for g in genomes]
        self._refuse_foreign()
        lock = FolderLock(self.out, "nsganet proxy-study", label="study folder", make=True).acquire()
        try:
            store = self._open_store()
            lock.claim()
        except BaseException:
            lock.release()
            raise
        try:
            return self._run(store, genomes)
        finally:
            try:
                self._emit("on_close")
            finally:
                store.close()
                lock.release()

    def _run(self, store: StudyStore, genomes: list[np.ndarray]) -> ProxyStudyResult:
        config = self.config
        results = {(r.arch_index, r.setting): r for r in store.results()}
        reused = len(results)
        supernet_seconds = store.get_meta("supernet_seconds") or {}
        if not isinstance(supernet_seconds, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in supernet_seconds.values()):
            raise corrupt(self.store_path, "its supernet_seconds are not a mapping of numbers")
        supernets = {supernet_key(s): str(self.supernet_file(s)) for s in self.settings.values() if s.inherits}
        task = StudyTask(self.space, config, self.settings, supernets, self._task_runtime())
        if self.plan.split is not None:
            task.preload(config.image_size, self.plan.split)
        self._emit("on_study_start", len(config.names) * len(genomes), reused)
        executor = None
        trained = 0
        try:
            for name in config.names:
                setting = self.settings[name]
                pending = [(i, tuple(int(v) for v in g), name) for i, g in enumerate(genomes)
                           if (i, name) not in results]
                if not pending:
                    continue
                if setting.inherits:
                    self._prepare_supernet(setting, store, supernet_seconds)
                if executor is None:
                    executor = make_executor(task, self.runtime.executor)
                self._emit("on_setting_start", setting, len(pending))
                for outcome in executor.map_unordered(pending):
                    index = pending[outcome.index][0]
                    values = outcome.objectives if outcome.reason is None and outcome.objectives else {}
                    pair = PairResult(index, self.archs[index], name, values.get("error"),
                                      values.get("seconds", outcome.seconds), outcome.reason)
                    store.add(pair, outcome.detail)
                    results[(index, name)] = pair
                    trained += 1
                    if outcome.reason is not None:
                        logger.warning("%s at %s failed: %s", pair.arch, name, outcome.reason)
                    self._emit("on_result", pair)
        finally:
            if executor is not None:
                executor.close()
        ordered = [results[(i, name)] for name in config.names for i in range(len(genomes)) if (i, name) in results]
        settings = [self.settings[n] for n in config.names]
        table = _table(ordered, settings, supernet_seconds, self.analysis)
        result = ProxyStudyResult(self.out, config, list(self.archs), settings, ordered, table, supernet_seconds,
                                  trained, reused)
        self._emit("on_study_end", result)
        return result

    def _task_runtime(self) -> StudyRuntime:
        """The runtime evaluations see: a local pool's worker sees only its own GPU, so ``cuda:N`` is ``cuda``."""
        runtime, executor = self.runtime, self.runtime.executor
        if executor.kind == "local" and executor.workers > 1 and runtime.device.startswith("cuda:"):
            return dataclasses.replace(runtime, device="cuda")
        return runtime

    def _base_split(self) -> tuple[Any, Any, Any]:
        if self.plan.split is None:
            self.plan.split = load_search_split(self.config, self.config.image_size, self.runtime.data_mode)
        return self.plan.split

    def _prepare_supernet(self, setting: Setting, store: StudyStore, seconds: dict[str, float]) -> None:
        """Train the setting's supernet into the study folder (resumably) unless it is there; check a given one."""
        from nsganet.supernet.files import fit_supernet, load_supernet
        from nsganet.supernet.settings import SupernetTrainSettings

        key = supernet_key(setting)
        path = self.supernet_file(setting)
        _, train_set, _ = self._base_split()
        if setting.supernet_epochs is None:
            supernet = load_supernet(path)
            if supernet.num_classes != train_set.num_classes or supernet.in_channels != train_set.channels:
                raise ConfigError(f"supernet {path} is for {supernet.num_classes} classes of {supernet.in_channels}"
                                  f"-channel images, the data has {train_set.num_classes} classes of "
                                  f"{train_set.channels}-channel images: fine-tune it first (inherit-s<epochs>)")
            return
        if key in seconds and path.is_file():
            return
        assert isinstance(self.space, SupernetSpace)
        listener = _SupernetSeconds()
        train = SupernetTrainSettings(epochs=setting.supernet_epochs, batch_size=max(self.config.batch_size, 64),
                                      amp=self.runtime.amp)
        fit_supernet(train_set, self.supernet_dir(setting), train, self.space, init=self.config.supernet,
                     seed=self.config.seed, resume=True, progress=self.runtime.progress,
                     listeners=[listener],
                     device=self.runtime.device, data_workers=self.runtime.data_workers)
        seconds[key] = listener.seconds or 0.0
        store.set_meta("supernet_seconds", seconds)


# -- planning ----------------------------------------------------------------------------------------------------

def plan_study(space: str | SearchSpace = "micro", settings: Sequence[str | Setting] | None = None,
               reference: str | Setting | None = None, *, dataset: str | None = None,
               data: str | Path | None = None, image_size: int | None = None, archs: int = DEFAULT_ARCHS,
               seed: int = 0, batch_size: int | None = None, lr: float | None = None, vld_size: int | None = None,
               valid_fraction: float | None = None, supernet: str | Path | None = None,
               supernet_epochs: Sequence[int] | None = None, finetune_epochs: int | None = None,
               width_mult: float | None = None, data_mode: str = "auto") -> StudyPlan:
    """Resolve a study's options into a :class:`StudyPlan`: the data is opened (its size and image count shape
    the defaults), the space shaped for it, every setting parsed, completed and checked.

    Without ``settings`` the defaults are studied (:func:`default_settings`);
    without ``reference`` :func:`default_reference`. In a supernet space
    ``supernet_epochs`` add ``inherit-s<N>`` rows (by default, with no
    settings given, the search's supernet epochs), a given ``supernet`` file
    an ``inherit`` row, and ``finetune_epochs`` an ``inherit…-f<N>`` row for
    the longest supernet.
    """
    from nsganet.config import DEFAULT_SUPERNET_EPOCHS
    from nsganet.data.formats import DEFAULT_DATASET

    defaults = search_defaults()
    batch_size = defaults["batch_size"] if batch_size is None else batch_size
    lr = defaults["lr"] if lr is None else lr
    valid_fraction = defaults["valid_fraction"] if valid_fraction is None else valid_fraction
    for name, value, bound in (("archs", archs, POSITIVE_INT), ("seed", seed, NONNEGATIVE_INT),
                               ("batch_size", batch_size, POSITIVE_INT), ("lr", lr, Bound(0, low_open=True)),
                               ("vld_size", vld_size, POSITIVE_INT), ("valid_fraction", valid_fraction, OPEN_UNIT),
                               ("image_size", image_size, IMAGE_SIZE), ("finetune_epochs", finetune_epochs,
                                                                        POSITIVE_INT),
                               ("width_mult", width_mult, Bound(0, low_open=True))):
        bound.check(name, value)
    for value in supernet_epochs or ():
        POSITIVE_INT.check("supernet_epochs", value)
    config = StudyConfig(space="", space_options={}, dataset=dataset or DEFAULT_DATASET,
                         data=None if data is None else str(Path(data).expanduser().resolve()),
                         image_size=image_size, valid_fraction=float(valid_fraction), vld_size=vld_size, seed=seed,
                         archs=archs, reference="", settings=[], batch_size=batch_size, lr=float(lr),
                         supernet=None if supernet is None else str(Path(supernet).expanduser().resolve()))
    split = load_search_split(config, image_size, data_mode)
    _, train_set, _ = split
    space_obj = _study_space(space, config.supernet, width_mult, train_set.image_size)
    inherits = isinstance(space_obj, SupernetSpace)
    if not inherits:
        for option, value in (("--supernet", supernet), ("--supernet-epochs", supernet_epochs),
                              ("--finetune-epochs", finetune_epochs)):
            if value is not None:
                raise ConfigError(f"{option} applies to weight inheritance, in a supernet space "
                                  f"({', '.join(supernet_spaces())}); the {space_obj.name} space has none")

    parsed = [parse_setting(s) if isinstance(s, str) else s for s in settings or ()]
    if not parsed:
        parsed = default_settings(space_obj, len(train_set), defaults["epochs"])
        if inherits and supernet_epochs is None and config.supernet is None:
            supernet_epochs = [DEFAULT_SUPERNET_EPOCHS]
    if inherits:
        rows = [Setting(kind=INHERIT, supernet_epochs=n) for n in sorted(set(supernet_epochs or ()))]
        if config.supernet is not None:
            rows.insert(0, Setting(kind=INHERIT))
        if finetune_epochs:
            longest = max(supernet_epochs) if supernet_epochs else None
            rows.append(Setting(kind=INHERIT, supernet_epochs=longest, finetune=finetune_epochs))
        parsed += rows
    ref = parse_setting(reference) if isinstance(reference, str) else reference or default_reference(space_obj)
    if ref.inherits:
        raise ConfigError(f"the reference {ref.name} must train from scratch (c<channels>-l<layers>-e<epochs>...)")
    ref = ref.resolved(space_obj, defaults["epochs"])
    resolved: list[Setting] = [ref]
    for s in parsed:
        s = s.resolved(space_obj, defaults["epochs"])
        if s.name not in {r.name for r in resolved}:
            resolved.append(s)
    if len(resolved) < 2:
        raise ConfigError(f"give at least one setting other than the reference {ref.name}")
    for s in resolved:
        _check_setting(s, space_obj, config, train_set)
    config.space, config.space_options = space_obj.name, space_obj.options
    config.reference, config.settings = ref.name, [s.name for s in resolved[1:]]
    config.space_options = json.loads(json.dumps(config.space_options))
    return StudyPlan(config, space_obj, resolved, split)


def supernet_spaces() -> list[str]:
    """The registered spaces whose architectures are subnets of a supernet."""
    return [name for name, cls in SPACES.items() if issubclass(cls, SupernetSpace)]


def _study_space(space: str | SearchSpace, supernet: str | None, width_mult: float | None,
                 image_size: int) -> SearchSpace:
    """The space a study samples: a given object as it is; a supernet space shaped by the given supernet file,
    else for the data's image size (and ``width_mult``); any other space by its name."""
    if isinstance(space, SearchSpace):
        if width_mult is not None:
            raise ConfigError("--width-mult shapes a supernet space made here; the given space keeps its shape")
        return space
    cls = SPACES.get(space)
    if not issubclass(cls, SupernetSpace):
        if width_mult is not None:
            raise ConfigError(f"--width-mult shapes a supernet space; the {space} space has none")
        return get_space(space)
    if supernet is not None:
        from nsganet.supernet.files import read_supernet_space

        if width_mult is not None:
            raise ConfigError("--width-mult shapes a new supernet; --supernet keeps the given one's")
        found = read_supernet_space(supernet)
        if found.name != space:
            raise ConfigError(f"supernet {supernet} holds the {found.name} space, not {space}")
        return found
    options = {} if width_mult is None else {"width_mult": width_mult}
    try:
        return get_space(space).for_images(image_size, **options)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the {space} space cannot be shaped for {image_size}-px images: {exc}") from None


def _check_setting(setting: Setting, space: SearchSpace, config: StudyConfig, train_set: Any) -> None:
    """A setting the data and the machine afford: a supernet to inherit from, images the split has, and
    networks that fit in memory."""
    if setting.inherits:
        if setting.supernet_epochs is None and config.supernet is None:
            raise ConfigError(f"setting {setting.name} inherits from a given supernet: give --supernet FILE, or "
                              "train one in the study folder with inherit-s<epochs>")
        return
    if setting.images is not None and setting.images > len(train_set):
        raise ConfigError(f"setting {setting.name}: the search-train split has {len(train_set)} images, fewer "
                          f"than {setting.images}")
    space.check_size(space.largest(), f"the largest {space.name} network of setting {setting.name}",
                     ": lower its channels or layers", num_classes=train_set.num_classes,
                     input_size=setting.size or train_set.image_size, in_channels=train_set.channels,
                     **build_options(space, setting))


def plan_recorded(out: str | Path) -> StudyPlan:
    """The plan of the study recorded in folder ``out`` (to continue it as it was started)."""
    out = Path(out)
    path = out / STORE_FILE
    if not path.is_file():
        raise NsganetError(f"nothing to resume in {out}: it holds no proxy study ({STORE_FILE})")
    lock = FolderLock(out, "nsganet proxy-study", label="study folder").acquire()
    try:
        with StudyStore(path) as store:
            config = StudyConfig.from_dict(store.get_meta("config"), path)
    finally:
        lock.release()
    space = get_space(config.space, **config.space_options)
    settings = [parse_setting(n) for n in config.names]
    for s in settings:
        if s.inherits and not isinstance(space, SupernetSpace):
            raise corrupt(path, f"its setting {s.name} inherits weights in the {space.name} space")
    return StudyPlan(config, space, settings)


def default_out(space: str | SearchSpace, dataset: str | None, seed: int) -> Path:
    """``runs/proxy-study-SPACE-DATASET-seedN``."""
    from nsganet.data.formats import DEFAULT_DATASET

    name = space if isinstance(space, str) else space.name
    return Path("runs") / safe_name(f"proxy-study-{name}-{dataset or DEFAULT_DATASET}-seed{seed}")


def run_proxy_study(space: str | SearchSpace = "micro", settings: Sequence[str | Setting] | None = None,
                    reference: str | Setting | None = None, out: str | Path | None = None, *,
                    archs: int = DEFAULT_ARCHS, seed: int = 0, top_k: int | None = None, metric: str = "rho",
                    threshold: float = DEFAULT_THRESHOLD, executor: ExecutorSettings | None = None,
                    device: str = "auto", amp: str = "auto", data_mode: str = "auto", data_workers: int | None = None,
                    progress: bool = True, callbacks: Iterable[StudyCallback] = (), **options: Any) -> ProxyStudyResult:
    """Study how well cheaper ``settings`` rank ``archs`` architectures of ``space`` against ``reference``.

    Settings are texts of :data:`GRAMMAR` (``"c8-l1-e5"``, ``"inherit-s2"``)
    or :class:`Setting` objects; without them the defaults are studied. The
    data, batch size and learning rate are ``options`` as :func:`plan_study`
    takes them (``dataset``, ``data``, ``image_size``, ``batch_size``, ``lr``,
    ``vld_size``, ``supernet``, ``supernet_epochs``, ``finetune_epochs``,
    ``width_mult``). Results go to ``out``; running again into it continues
    the study (the same config), skipping what is stored. ``callbacks``
    (:class:`StudyCallback`) hear the events, e.g.
    :class:`nsganet.report.proxy_study_plots.StudyPlot` to draw ``study.png``.
    """
    plan = plan_study(space, settings, reference, archs=archs, seed=seed, data_mode=data_mode, **options)
    folder = Path(out) if out is not None else default_out(plan.space, plan.config.dataset, seed)
    runtime = StudyRuntime(executor or ExecutorSettings(), device, amp, data_mode, data_workers, progress)
    return ProxyStudy(plan, folder, runtime, Analysis(top_k, metric, threshold), callbacks).run()


def resume_proxy_study(out: str | Path, *, top_k: int | None = None, metric: str = "rho",
                       threshold: float = DEFAULT_THRESHOLD, executor: ExecutorSettings | None = None,
                       device: str = "auto", amp: str = "auto", data_mode: str = "auto",
                       data_workers: int | None = None, progress: bool = True,
                       callbacks: Iterable[StudyCallback] = ()) -> ProxyStudyResult:
    """Continue the study in ``out`` with its recorded config (how it runs and is read may change)."""
    plan = plan_recorded(out)
    runtime = StudyRuntime(executor or ExecutorSettings(), device, amp, data_mode, data_workers, progress)
    return ProxyStudy(plan, out, runtime, Analysis(top_k, metric, threshold), callbacks).run()


__all__ = ["GRAMMAR", "Analysis", "PairResult", "ProxyStudy", "ProxyStudyResult", "Setting", "SettingRow",
           "StudyCallback", "StudyConfig", "StudyPlan", "StudyRuntime", "StudyTable", "default_reference",
           "default_settings", "parse_setting", "plan_recorded", "plan_study", "rank_correlations",
           "resume_proxy_study", "run_proxy_study", "sample_architectures", "study_table", "top_k_overlap"]
