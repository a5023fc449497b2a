"""Search configuration: the keys shared by the CLI options, config files and run directories.

Every key is a typed field of :class:`SearchConfig` whose metadata (made by
:func:`option`) holds its help text, its bound or choices and its option
group: the default is written once, in the field, and the ``nsganet search``
options, their help (with the default) and the validation of config files all
come from it. The lists of choices come from the domain packages' registries
(spaces, strategies, executors, latency back-ends, datasets); the domain never
imports this module.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from nsganet.costs.latency import BACKENDS
from nsganet.data.formats import DATA_MODES, DEFAULT_DATASET, MEMORY_LIMIT
from nsganet.errors import ConfigError
from nsganet.executors import EXECUTORS
from nsganet.robustness import DEFAULT_EPS
from nsganet.search.constraints import canonical as canonical_constraints
from nsganet.search.schedule import GENERATIONAL, SCHEDULES
from nsganet.spaces import SPACES
from nsganet.strategies import STRATEGIES
from nsganet.strategies.base import DEFAULT_POP_SIZE
from nsganet.utils.checks import (
    CHANNELS,
    CLASSES,
    IMAGE_SIZE,
    IN_CHANNELS,
    LAYERS,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPEN_UNIT,
    POSITIVE,
    POSITIVE_INT,
    Bound,
    float_list,
)
from nsganet.utils.device import AMP_MODES, check_device
from nsganet.utils.files import read_text, safe_name

#: Option groups of ``nsganet search`` (the first is the ungrouped one).
GENERAL = ""
PROXY = "proxy training (the default: architectures are trained on a dataset)"
INHERITANCE = "weight inheritance (supernet spaces, e.g. mobilenetv3: subnets of a once-for-all supernet)"
OBJECTIVE_SETTINGS = "robustness and latency objectives (--objectives error,flops,latency,robustness)"
TABLE = "tabular benchmark (look accuracies up instead of training)"
#: The smallest reduction factor of multi-fidelity evaluation (each rung keeps 1/eta of its architectures).
FIDELITY_ETA = Bound(2, integer=True)
#: Epochs of the supernet a search trains in its run directory when none is given (``supernet_epochs``).
DEFAULT_SUPERNET_EPOCHS = 10
#: The shape of the networks whose costs a table run (or a user's evaluator) measures, key by key.
NETWORK_DEFAULTS = {"num_classes": 10, "input_size": 32, "in_channels": 3}


def option(default: Any, help: str = "", *, metavar: str | None = None, bound: Bound | None = None,
           choices: Callable[[], Sequence[str]] | None = None, group: str = GENERAL, parse: Any = None,
           default_text: str | int | Callable[[], str] | None = None, runtime: bool = False, cli: bool = True,
           lazy: bool = False, scores: bool = True, flag: str | None = None, repeat: bool = False) -> Any:
    """A :class:`SearchConfig` field and everything the command line and validation need to know of it.

    ``bound`` checks numbers (and parses them on the command line),
    ``choices`` lists the allowed names (the command line checks them; ``lazy``:
    only when the option is given, since listing them loads heavy modules),
    ``default_text`` says what a ``None`` default means, ``runtime`` marks keys
    that may change when a run is resumed, ``cli=False`` keys are config-file only. ``scores=False``
    marks keys that do not change an architecture's objective values (what to search, not how to score):
    a warm start reuses the results of a run that differs from it only in such keys (and runtime ones).
    ``flag`` names the command-line option when it is not the key's name; a ``repeat`` option may be given
    several times, each adding one item to the list.
    """
    metadata = {"help": help, "metavar": metavar, "bound": bound, "choices": choices, "group": group,
                "parse": parse, "default_text": default_text, "runtime": runtime, "cli": cli,
                "lazy": lazy, "scores": scores, "flag": flag, "repeat": repeat}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _proxy_defaults(which: int) -> str:
    """The proxy width (0) or depth (1) each space trains with by default."""
    return ", ".join(f"{name} {cls.proxy_defaults[which]}" for name, cls in SPACES.items()
                     if cls.proxy_defaults[which] is not None)


def _dataset_names() -> list[str]:
    from nsganet.data import dataset_names

    return dataset_names()


@dataclasses.dataclass
class SearchConfig:
    """Everything that determines a search; the same keys as ``nsganet search`` options.

    Architectures are scored either by a tabular benchmark (``table`` and
    ``metric``) or by training on ``dataset`` (the embedded digits by
    default): proxy training, or weight inheritance from a once-for-all
    supernet for spaces that have one (``supernet``, an nsganet supernet file
    or a published checkpoint, searched as it is or fine-tuned on the data for
    ``supernet_epochs``; else one trained for ``supernet_epochs`` in the run
    directory; ``finetune_epochs`` fine-tune each candidate first). For tabular runs ``num_classes``, ``input_size`` and
    ``in_channels`` shape the networks whose costs are measured; with a dataset
    they come from the data. ``vld_size`` images of the training data (else
    ``valid_fraction`` of them) validate, whatever the evaluator. The runtime
    keys (``workers``, ``executor`` and the Ray resources, ``eval_retries``,
    ``out``) may change when a run is resumed. Each field's help says the rest.
    """

    space: str = option("micro", "search space", choices=SPACES.names)
    strategy: str = option("nsganetv1", "search strategy", choices=STRATEGIES.names, scores=False)
    schedule: str = option(GENERATIONAL, "generational: evaluate a batch, wait for its slowest, tell the strategy; "
                           "async: give each free worker a new architecture at once", choices=lambda: SCHEDULES,
                           scores=False)
    objectives: list[str] = option(["error", "flops"], "comma-separated objectives to minimise ('nsganet list' "
                                   "shows them)", metavar="A,B", parse=str, scores=False)
    budget: int = option(120, "distinct architectures to evaluate", metavar="N", bound=POSITIVE_INT, scores=False)
    seed: int = option(0, "random seed", metavar="N", bound=NONNEGATIVE_INT)
    pop_size: int | None = option(DEFAULT_POP_SIZE, "population (batch) size; the V1 paper used 40", metavar="N",
                                  bound=POSITIVE_INT, scores=False)
    init_from: str | None = option(None, "warm start: the first generation (nsganetv2: the design of experiments) "
                                   "starts with the front of the earlier run RUN, reusing its results where they "
                                   "were scored the same way", metavar="RUN", default_text="none", scores=False)
    init_archs: str | list[str] | None = option(None, "warm start: the first generation starts with the "
                                                "architectures of FILE (one canonical string a line, # comments; or "
                                                "a CSV with an 'arch' column), each evaluated; a config file may "
                                                "list them instead", metavar="FILE", default_text="none",
                                                scores=False)
    constraints: list[str] = option([], "a hard constraint NAME<=NUMBER (or >=, <, >) on an objective or a cost, "
                                    "in its units, e.g. flops<=300 or latency<=5; repeatable: architectures that "
                                    "break one never join the front", metavar="EXPR", flag="constraint",
                                    repeat=True, default_text="none", scores=False)
    strategy_params: dict[str, Any] = option({}, "strategy options, also -S KEY=VALUE", cli=False, scores=False)
    build_options: dict[str, Any] = option({}, "options of the space's networks, also -B KEY=VALUE, e.g. {stem: "
                                           "imagenet} for micro networks on large images", cli=False)
    table: str | None = option(None, "tabular benchmark CSV with an 'arch' column and accuracy columns",
                               metavar="FILE", group=TABLE)
    metric: str | None = option(None, "accuracy column of --table (percent); error = 100 - it", metavar="COLUMN",
                                group=TABLE)
    dataset: str | None = option(None, "dataset format ('nsganet list' shows them)", metavar="NAME", group=PROXY,
                                 choices=_dataset_names, lazy=True,
                                 default_text=f"{DEFAULT_DATASET}, scikit-learn's 8x8 digits, embedded")
    data: str | None = option(None, "dataset location (a folder, or a .npz file for numpy)", metavar="DIR",
                              group=PROXY)
    image_size: int | None = option(None, "resize images to PX x PX", metavar="PX", bound=IMAGE_SIZE,
                                    group=PROXY, default_text="as stored")
    data_mode: str = option("auto", "hold image files decoded in memory or stream them from disk through "
                            f"--data-workers processes; auto: in memory when they fit in {MEMORY_LIMIT / 2**30:g} GiB",
                            choices=lambda: DATA_MODES, group=PROXY)
    official_valid: bool = option(False, "validate on the dataset's own validation split (e.g. cinic10's valid/) "
                                  "instead of a part of the training data", group=PROXY)
    data_workers: int | None = option(None, "processes decoding streamed images for each training run",
                                      metavar="N", bound=NONNEGATIVE_INT, group=PROXY,
                                      default_text="up to 4", runtime=True)
    valid_fraction: float = option(0.2, "share of the training data held out for validation", bound=OPEN_UNIT,
                                   cli=False)
    epochs: int = option(5, "training epochs per architecture", metavar="N", bound=POSITIVE_INT, group=PROXY)
    fidelity_eta: int | None = option(None, "multi-fidelity: train each generation's new architectures in rungs of "
                                      "growing epochs (fidelity_min_epochs, x ETA, x ETA^2, ... up to --epochs), "
                                      "keeping the best 1/ETA of each rung by non-dominated rank and crowding",
                                      metavar="ETA", bound=FIDELITY_ETA, group=PROXY, default_text="off",
                                      scores=False)
    fidelity_min_epochs: int = option(1, "multi-fidelity: epochs of the first rung", metavar="N", bound=POSITIVE_INT,
                                      group=PROXY, scores=False)
    batch_size: int = option(32, "batch size; the V1 paper used 128", metavar="N", bound=POSITIVE_INT, group=PROXY)
    lr: float = option(0.05, "initial learning rate of the cosine schedule", metavar="LR", bound=POSITIVE,
                       group=PROXY)
    channels: int | None = option(None, "proxy width, initial channels", metavar="C", bound=CHANNELS,
                                  group=PROXY, default_text=lambda: _proxy_defaults(0))
    layers: int | None = option(None, "proxy depth, cells per stage", metavar="N", bound=LAYERS, group=PROXY,
                                default_text=lambda: _proxy_defaults(1))
    train_images: int | None = option(None, "train each proxy on a fixed subset of N search-train images",
                                      metavar="N", bound=POSITIVE_INT, group=PROXY, default_text="all")
    cutout: int = option(0, "cutout size", metavar="PX", bound=NONNEGATIVE_INT, group=PROXY, default_text="0, off")
    supernet: str | None = option(None, "supernet to inherit weights from: a file of 'nsganet supernet train' or "
                                  "a published checkpoint (OFA's ofa_mbv3_d234_e346_k357_w1.0 / _w1.2)",
                                  metavar="FILE", group=INHERITANCE, default_text="train one in the run directory")
    supernet_epochs: int | None = option(None, "epochs of supernet training before the search: of the supernet "
                                         "trained in the run directory, or of fine-tuning --supernet on the data "
                                         "(0: search it as it is; NSGANetV2 fine-tuned 5 on small datasets)",
                                         metavar="N", bound=NONNEGATIVE_INT, group=INHERITANCE,
                                         default_text=f"{DEFAULT_SUPERNET_EPOCHS}, or 0 with --supernet")
    vld_size: int | None = option(None, "training images held out for validation, for proxy training too",
                                  metavar="N", bound=POSITIVE_INT, group=INHERITANCE,
                                  default_text="valid_fraction of them")
    finetune_epochs: int = option(0, "fine-tune each subnet for N epochs before validating it", metavar="N",
                                  bound=NONNEGATIVE_INT, group=INHERITANCE)
    fgsm_eps: list[float] | None = option(None, "FGSM attack strengths (pixel scale 0..1) of the robustness "
                                          "objective", metavar="E1,E2,...", group=OBJECTIVE_SETTINGS, parse=float_list,
                                          default_text=f"the NSGANetV1 supplement's {','.join(map(str, DEFAULT_EPS))}")
    latency_backend: str = option("torch", "engine the latency objective is measured with",
                                  choices=lambda: BACKENDS, group=OBJECTIVE_SETTINGS)
    latency_batch: int = option(1, "batch size of latency measurements", metavar="N", bound=POSITIVE_INT,
                                group=OBJECTIVE_SETTINGS)
    lut: str | None = option(None, "per-layer latency look-up table ('nsganet lut build') predicting the latency "
                             "of a layer-wise space's networks (mobilenetv3)", metavar="FILE",
                             group=OBJECTIVE_SETTINGS)
    num_classes: int | None = option(None, "classes of the networks whose flops/params are measured",
                                     metavar="N", bound=CLASSES, group=TABLE,
                                     default_text=NETWORK_DEFAULTS["num_classes"])
    input_size: int | None = option(None, "input resolution of the networks whose flops/params are measured",
                                    metavar="PX", bound=IMAGE_SIZE, group=TABLE,
                                    default_text=NETWORK_DEFAULTS["input_size"])
    in_channels: int | None = option(None, "input channels of the networks whose flops/params are measured",
                                     bound=IN_CHANNELS, cli=False,
                                     default_text=NETWORK_DEFAULTS["in_channels"])
    device: str = option("auto", "where networks train: auto (a GPU when there is one), cpu, cuda or cuda:N",
                         metavar="DEV", runtime=True)
    amp: str = option("auto", "mixed precision: auto (bf16, or fp16 with loss scaling, on GPUs; off on CPUs), off, "
                      "bf16 or fp16", choices=lambda: AMP_MODES, runtime=True)
    workers: int | None = option(None, "evaluate in N local processes, each with its share of the CPU threads and, "
                                 "with GPUs, its own GPU", metavar="N", bound=POSITIVE_INT,
                                 default_text="one per GPU, else per core, when training; 1 otherwise",
                                 runtime=True)
    executor: str = option("local", "where evaluations run: local processes or the tasks of a Ray cluster",
                           choices=EXECUTORS.names, runtime=True)
    ray_address: str | None = option(None, "Ray cluster to join, e.g. 10.0.0.1:6379 or auto", metavar="ADDR",
                                     default_text="start Ray on this machine", runtime=True)
    cpus_per_eval: float = option(1.0, "CPUs each Ray evaluation task reserves, and its torch threads",
                                  metavar="C", bound=POSITIVE, runtime=True)
    gpus_per_eval: float = option(0.0, "GPUs each Ray evaluation task reserves; fractions share a GPU",
                                  metavar="G", bound=NONNEGATIVE, runtime=True)
    eval_retries: int = option(2, "run an evaluation whose worker or node died again up to N times, then record "
                               "it as failed", metavar="N", bound=NONNEGATIVE_INT, runtime=True)
    out: str | None = option(None, "run directory", metavar="DIR", default_text="runs/SPACE-DATA-STRATEGY-seedN",
                             runtime=True)

    def __post_init__(self) -> None:
        if isinstance(self.objectives, str):
            self.objectives = [n.strip() for n in self.objectives.split(",")]
        if isinstance(self.constraints, (str, tuple)):
            self.constraints = [self.constraints] if isinstance(self.constraints, str) else list(self.constraints)
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), str(f.type))
            if f.metadata["bound"] is not None:
                f.metadata["bound"].check(f.name, getattr(self, f.name))
        if (self.table is None) != (self.metric is None):
            raise ConfigError("--table and --metric go together: give both or neither")
        if self.table is not None:
            if self.dataset is not None or self.data is not None:
                raise ConfigError("give either --table (look accuracies up) or --dataset/--data (train), not both")
            self.table = str(Path(self.table).expanduser().resolve())
        if self.data is not None:
            self.data = str(Path(self.data).expanduser().resolve())
        self._check_warm_start()
        self.constraints = canonical_constraints(self.constraints)
        check_device(self.device)
        for name, allowed in (("data_mode", DATA_MODES), ("amp", AMP_MODES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.official_valid and self.table is not None:
            raise ConfigError("official_valid chooses validation data for training; it cannot go with --table")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS.names())}, got {self.executor!r}")
        ray_only = [name for name in ("ray_address", "cpus_per_eval", "gpus_per_eval") if getattr(self, name) !=
                    FIELDS[name].default]
        if self.executor != "ray" and ray_only:
            raise ConfigError("ray_address, cpus_per_eval and gpus_per_eval apply to --executor ray")
        if self.latency_backend not in BACKENDS:
            raise ConfigError(f"latency_backend must be one of {', '.join(BACKENDS)}, got {self.latency_backend!r}")
        if self.fgsm_eps is not None:
            if len(self.fgsm_eps) < 2 or any(isinstance(e, bool) or not isinstance(e, (int, float))
                                             or not 0 <= e <= 1 for e in self.fgsm_eps):
                raise ConfigError(f"fgsm_eps must list at least two numbers within 0..1, got {self.fgsm_eps!r}")
            self.fgsm_eps = [float(e) for e in self.fgsm_eps]
        if self.lut is not None:
            self.lut = str(Path(self.lut).expanduser().resolve())
        if self.supernet is not None:
            if self.table is not None:
                raise ConfigError("--supernet scores architectures by weight inheritance; it cannot go with --table")
            self.supernet = str(Path(self.supernet).expanduser().resolve())
        if self.supernet_epochs is None:
            self.supernet_epochs = 0 if self.supernet is not None else DEFAULT_SUPERNET_EPOCHS
        elif self.supernet_epochs == 0 and self.supernet is None:
            raise ConfigError("supernet_epochs 0 searches a given --supernet as it is; without one the run trains "
                              "its supernet: give at least 1 epoch")
        self._check_fidelity()
        if self.build_options and self.space in SPACES:
            self._check_build_options()
        if self.strategy_params and self.strategy in STRATEGIES:
            self._check_strategy_params()

    def _check_warm_start(self) -> None:
        """``init_from`` a folder path, ``init_archs`` a file path or a list of architecture strings (none: off)."""
        if self.init_from is not None:
            self.init_from = str(Path(self.init_from).expanduser().resolve())
        if isinstance(self.init_archs, list):
            bad = next((a for a in self.init_archs if not isinstance(a, str) or not a.strip()), None)
            if bad is not None:
                raise ConfigError(f"init_archs must be a file or a list of architecture strings, got {bad!r} in it")
            if not self.init_archs:
                self.init_archs = None
        elif self.init_archs is not None:
            self.init_archs = str(Path(self.init_archs).expanduser().resolve())

    def _check_fidelity(self) -> None:
        """Multi-fidelity needs epochs to train in rungs: not a table, and a first rung below ``epochs``."""
        if self.fidelity_eta is None:
            if self.fidelity_min_epochs != FIELDS["fidelity_min_epochs"].default:
                raise ConfigError("fidelity_min_epochs applies to multi-fidelity runs: give --fidelity-eta too")
            return
        if self.table is not None:
            raise ConfigError("--fidelity-eta trains architectures in rungs of epochs; a --table run trains nothing")
        if self.fidelity_min_epochs >= self.epochs:
            raise ConfigError(f"fidelity_min_epochs ({self.fidelity_min_epochs}) must be below epochs "
                              f"({self.epochs}): the last rung trains the full --epochs")

    def _check_strategy_params(self) -> None:
        """Strategy options (``-S KEY=VALUE``) against the strategy's fields and values, before anything runs: a
        key with an option of its own (pop_size: --pop-size) is refused naming it, an unknown one with the
        closest option."""
        cls = STRATEGIES.get(self.strategy)
        options = strategy_options(self.strategy)
        for key in self.strategy_params:
            own = _own_option(key)
            if own is not None:
                raise ConfigError(f"{key} is not a strategy option: set it with {own}")
            if key not in options:
                close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.7)
                hint = f" (did you mean {close[0]}?)" if close else f"; options: {', '.join(options)}" if options \
                    else " (it has none; --pop-size sets its batch size)"
                raise ConfigError(f"strategy {self.strategy} has no option {key!r}{hint}")
        pop_size = {} if self.pop_size is None else {"pop_size": self.pop_size}
        try:
            cls(**self.strategy_params, **pop_size)
        except (TypeError, ValueError) as exc:  # a value of the wrong kind that the strategy does not check
            fields = {f.name: f for f in dataclasses.fields(cls)}
            for key, value in self.strategy_params.items():
                _check_type(key, value, str(fields[key].type), what=f"{self.strategy} option")
            raise ConfigError(f"{self.strategy} options {self.strategy_params}: {exc}") from None

    def _check_build_options(self) -> None:
        """Build options within their bounds, and the network a run builds first to check them (the space's
        smallest, of the default shape) small enough for this machine's memory: refused before it is allocated."""
        space = SPACES.get(self.space)()
        options = {**space.proxy_options(self.channels, self.layers, use_defaults=not self.uses_table),
                   **space.check_build_options(self.build_options)}
        space.check_size(space.smallest(), f"the smallest {self.space} network with build options {options}",
                         ": lower --channels, --layers or the build options", **options)

    @property
    def uses_table(self) -> bool:
        return self.table is not None

    @property
    def dataset_name(self) -> str:
        return self.dataset or DEFAULT_DATASET

    def network_shape(self) -> dict[str, int]:
        """``num_classes``, ``input_size`` and ``in_channels`` of the networks a table run measures."""
        return {name: getattr(self, name) or default for name, default in NETWORK_DEFAULTS.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchConfig:
        """Validate a mapping of config keys; unknown keys and wrong types are errors."""
        if not isinstance(values, dict):
            raise ConfigError("a config must be a mapping of keys to values")
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r}; known keys: {', '.join(sorted(FIELDS))}")
        return cls(**values)

    def to_dict(self, include_runtime: bool = True) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if not include_runtime:
            for key in RUNTIME_KEYS:
                values.pop(key)
        return values

    def default_out(self) -> str:
        """``runs/SPACE-DATA-STRATEGY-seedN``; the names may come from user objects, so they are made path-safe."""
        source = "table" if self.uses_table else self.dataset_name
        return f"runs/{safe_name(f'{self.space}-{source}-{self.strategy}-seed{self.seed}')}"


#: The config's fields by name (with their metadata: help, bound, choices, group).
FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(SearchConfig)}
#: Keys that describe where and how a run is executed, not what it computes: they may change on resume.
RUNTIME_KEYS = tuple(name for name, f in FIELDS.items() if f.metadata["runtime"])


def default_values() -> dict[str, Any]:
    """Every key's default value (a fresh copy of each list and mapping)."""
    return {name: f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            for name, f in FIELDS.items()}


def default_text(name: str) -> str:
    """How ``nsganet search --help`` states the default of key ``name``: " (default 100)", " (default: all)" or ""."""
    f = FIELDS[name]
    text = f.metadata["default_text"]
    if isinstance(text, (int, float)):
        return f" (default {text})"
    if text is not None:
        return f" (default: {text() if callable(text) else text})"
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
    if default is None:
        return ""
    if isinstance(default, list):
        return f" (default {','.join(map(str, default))})"
    return f" (default {default:g})" if isinstance(default, float) else f" (default {default})"


def strategy_options(strategy: str) -> dict[str, Any]:
    """The options ``-S KEY=VALUE`` sets for ``strategy`` with their defaults: its fields but those the config
    sets with options of their own (``pop_size``, from ``--pop-size``)."""
    cls = STRATEGIES.get(strategy)
    return {f.name: None if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(cls)
            if f.init and f.name not in FIELDS}


def _own_option(key: str) -> str | None:
    """How a key that is no strategy option is set: a config key's option (``--pop-size``), ``--strategy`` for the
    strategy's ``name``; None for any other key."""
    name = "strategy" if key == "name" else key
    if name not in FIELDS:
        return None
    meta = FIELDS[name].metadata
    flag = f"--{meta.get('flag') or name.replace('_', '-')} (config key {name})" if meta["cli"] else \
        f"config key {name}"
    return flag


_KINDS = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict}


def _check_type(name: str, value: Any, annotation: str, what: str = "config key") -> None:
    """Check a value against its field annotation, e.g. 'int | None' or 'list[str]'."""
    options = [a.strip() for a in annotation.split("|")]
    if value is None and "None" in options:
        return
    for option_type in options:
        kind = _KINDS.get(option_type.split("[")[0])
        if kind is not None and isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
            return
    expected = " or ".join(o if o != "None" else "null" for o in options)
    raise ConfigError(f"{what} {name!r} must be {expected}, got {value!r}")


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a plain mapping (validated by :meth:`SearchConfig.from_dict`)."""
    path = Path(path)
    text = read_text(path, "config", ConfigError)
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"config {path} is nested too deeply to be a config") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config {path} must be a mapping of keys to values")
    return values


def dump_config(config: dict[str, Any], path: str | Path) -> None:
    """Write a config file (atomically)."""
    from nsganet.utils.files import atomic_write

    atomic_write(path, yaml.safe_dump(config, sort_keys=False))
