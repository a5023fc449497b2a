"""What a proxy study is and how it runs: the config its store records, the runtime, and the plan ready to run.

:class:`StudyConfig` is everything that decides a study's results; a study
continues only under the same one. :class:`StudyRuntime` may change when it
continues. :class:`StudyPlan` is a config resolved against its space and data.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.errors import NsganetError
from nsganet.executors import ExecutorSettings
from nsganet.proxy_study.settings import Setting, parse_setting
from nsganet.proxy_study.store import corrupt
from nsganet.spaces import SearchSpace


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


@dataclass
class StudyPlan:
    """A study ready to run: its config, the space (shaped for the data), the settings (reference first), and
    the data split already loaded (None: load it when needed)."""

    config: StudyConfig
    space: SearchSpace
    settings: list[Setting]
    split: tuple[Any, Any, Any] | None = None


__all__ = ["StudyConfig", "StudyPlan", "StudyRuntime"]
