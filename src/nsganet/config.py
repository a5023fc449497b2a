"""Search configuration: the keys shared by the CLI options, config files and run directories."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from nsganet.errors import ConfigError

#: Keys that describe where and how a run is executed, not what it computes: they may change on resume.
RUNTIME_KEYS = ("out", "workers", "executor", "ray_address", "cpus_per_eval", "gpus_per_eval", "eval_retries")
#: Where evaluations run: this machine's processes, or the tasks of a Ray cluster.
EXECUTORS = ("local", "ray")
#: Engines the latency objective can be measured with.
LATENCY_BACKENDS = ("torch", "onnxruntime")
#: The embedded dataset used when neither a dataset nor a table is given.
DEFAULT_DATASET = "digits"


@dataclasses.dataclass
class SearchConfig:
    """Everything that determines a search; the same keys as ``nsganet search`` options.

    Architectures are scored either by a tabular benchmark (``table`` and
    ``metric``) or by proxy training on ``dataset`` (the embedded digits by
    default). For tabular runs ``num_classes``, ``input_size`` and
    ``in_channels`` shape the networks whose costs are measured; with a dataset
    they come from the data. The ``mobilenetv3`` space is scored by weight
    inheritance from a once-for-all supernet: ``supernet`` (a file from
    ``nsganet supernet train``), or one trained for ``supernet_epochs`` in the
    run directory; ``finetune_epochs`` fine-tune each candidate first.
    ``vld_size`` images of the training data (else ``valid_fraction`` of them)
    validate, whatever the evaluator. ``fgsm_eps`` are the attack strengths
    (pixel scale, 0..1) of the ``robustness`` objective; ``latency_backend``
    (``torch`` or ``onnxruntime``) and ``latency_batch`` set how the ``latency``
    objective is measured, and ``lut`` a per-layer latency look-up table
    (``nsganet lut build``) that predicts it for ``mobilenetv3`` networks.
    Evaluations run in ``workers`` local processes, or with ``executor: ray``
    as tasks of ``cpus_per_eval`` CPUs and ``gpus_per_eval`` GPUs on the Ray
    cluster at ``ray_address`` (a local one without it); an evaluation whose
    worker dies is retried ``eval_retries`` times. These keys, and ``out``,
    may change when a run is resumed.
    """

    space: str = "micro"
    strategy: str = "nsganetv1"
    objectives: list[str] = dataclasses.field(default_factory=lambda: ["error", "flops"])
    budget: int = 100
    seed: int = 0
    pop_size: int | None = 20
    strategy_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    table: str | None = None
    metric: str | None = None
    dataset: str | None = None
    data: str | None = None
    image_size: int | None = None
    valid_fraction: float = 0.2
    epochs: int = 5
    batch_size: int = 32
    lr: float = 0.05
    channels: int | None = None
    layers: int | None = None
    train_images: int | None = None
    cutout: int = 0
    supernet: str | None = None
    supernet_epochs: int = 10
    vld_size: int | None = None
    finetune_epochs: int = 0
    fgsm_eps: list[float] | None = None
    latency_backend: str = "torch"
    latency_batch: int = 1
    lut: str | None = None
    num_classes: int | None = None
    input_size: int | None = None
    in_channels: int | None = None
    workers: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    cpus_per_eval: float = 1.0
    gpus_per_eval: float = 0.0
    eval_retries: int = 2
    out: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.objectives, str):
            self.objectives = [n.strip() for n in self.objectives.split(",")]
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), str(f.type))
        if self.budget < 1:
            raise ConfigError(f"budget must be at least 1, got {self.budget}")
        if self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed}")
        for name in ("num_classes", "input_size", "in_channels", "image_size", "epochs", "batch_size", "workers",
                     "channels", "layers", "train_images", "supernet_epochs", "vld_size", "latency_batch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.cutout < 0 or self.lr <= 0 or self.finetune_epochs < 0:
            raise ConfigError("cutout and finetune_epochs must be >= 0 and lr > 0")
        if not 0 < self.valid_fraction < 1:
            raise ConfigError(f"valid_fraction must lie strictly between 0 and 1, got {self.valid_fraction}")
        if (self.table is None) != (self.metric is None):
            raise ConfigError("--table and --metric go together: give both or neither")
        if self.table is not None:
            if self.dataset is not None or self.data is not None:
                raise ConfigError("give either --table (look accuracies up) or --dataset/--data (train), not both")
            self.table = str(Path(self.table).expanduser().resolve())
        if self.data is not None:
            self.data = str(Path(self.data).expanduser().resolve())
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.cpus_per_eval <= 0 or self.gpus_per_eval < 0 or self.eval_retries < 0:
            raise ConfigError("cpus_per_eval must be positive, gpus_per_eval and eval_retries at least 0")
        if self.executor != "ray" and (self.ray_address is not None or self.cpus_per_eval != 1.0
                                       or self.gpus_per_eval != 0.0):
            raise ConfigError("ray_address, cpus_per_eval and gpus_per_eval apply to --executor ray")
        if self.latency_backend not in LATENCY_BACKENDS:
            raise ConfigError(f"latency_backend must be one of {', '.join(LATENCY_BACKENDS)}, "
                              f"got {self.latency_backend!r}")
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

    @property
    def uses_table(self) -> bool:
        return self.table is not None

    @property
    def dataset_name(self) -> str:
        return self.dataset or DEFAULT_DATASET

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchConfig:
        """Validate a mapping of config keys; unknown keys and wrong types are errors."""
        if not isinstance(values, dict):
            raise ConfigError("a config must be a mapping of keys to values")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self, include_runtime: bool = True) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if not include_runtime:
            for key in RUNTIME_KEYS:
                values.pop(key)
        return values

    def default_out(self) -> str:
        """``runs/SPACE-DATA-STRATEGY-seedN``; the names may come from user objects, so they are made path-safe."""
        from nsganet.search.outputs import safe_name  # imported here: outputs pulls in numpy and the indicators

        source = "table" if self.uses_table else self.dataset_name
        return f"runs/{safe_name(f'{self.space}-{source}-{self.strategy}-seed{self.seed}')}"


_KINDS = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict}


def _check_type(name: str, value: Any, annotation: str) -> None:
    """Check a value against its field annotation, e.g. 'int | None' or 'list[str]'."""
    options = [a.strip() for a in annotation.split("|")]
    if value is None and "None" in options:
        return
    for option in options:
        kind = _KINDS.get(option.split("[")[0])
        if kind is not None and isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
            return
    expected = " or ".join(o if o != "None" else "null" for o in options)
    raise ConfigError(f"config key {name!r} must be {expected}, got {value!r}")


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a plain mapping (validated by :meth:`SearchConfig.from_dict`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config {path} must be a mapping of keys to values")
    return values


def dump_config(config: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
