"""Search configuration: the keys shared by the CLI options, config files and run directories."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from nsganet.errors import ConfigError

#: Keys that describe where and how a run is watched, not what it computes.
RUNTIME_KEYS = ("out",)


@dataclasses.dataclass
class SearchConfig:
    """Everything that determines a search; the same keys as ``nsganet search`` options."""

    space: str = "nb201"
    strategy: str = "nsganetv1"
    objectives: list[str] = dataclasses.field(default_factory=lambda: ["error", "flops"])
    budget: int = 300
    seed: int = 0
    pop_size: int | None = None
    strategy_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    table: str | None = None
    metric: str | None = None
    num_classes: int = 10
    input_size: int = 32
    in_channels: int = 3
    out: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.objectives, str):
            self.objectives = [n.strip() for n in self.objectives.split(",")]
        for name, kind in (("space", str), ("strategy", str)):
            _expect(name, getattr(self, name), kind)
        _expect("objectives", self.objectives, list)
        for name in ("budget", "seed", "num_classes", "input_size", "in_channels"):
            _expect(name, getattr(self, name), int)
        if self.pop_size is not None:
            _expect("pop_size", self.pop_size, int)
        for name in ("table", "metric", "out"):
            if getattr(self, name) is not None:
                _expect(name, getattr(self, name), str)
        _expect("strategy_params", self.strategy_params, dict)
        if self.budget < 1:
            raise ConfigError(f"budget must be at least 1, got {self.budget}")
        if self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed}")
        for name in ("num_classes", "input_size", "in_channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if (self.table is None) != (self.metric is None):
            raise ConfigError("--table and --metric go together: give both or neither")
        if self.table is not None:
            self.table = str(Path(self.table).expanduser().resolve())

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
        return f"runs/{self.space}-{self.strategy}-seed{self.seed}"


def _expect(name: str, value: Any, kind: type) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"config key {name!r} must be {kind.__name__}, got {value!r}")


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
