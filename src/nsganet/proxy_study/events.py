"""A proxy study's events and the listeners that ship with it.

The study only computes, stores and announces; everything a user sees is a
:class:`StudyCallback`: the progress bar and the study's files here, the
figure in :mod:`nsganet.report.proxy_study_plots`. A user's own callback hears
the same events (in the study's own process), e.g. to stop early by raising.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from nsganet.proxy_study.config import StudyConfig
from nsganet.proxy_study.outputs import ProxyStudyResult, write_study_files
from nsganet.proxy_study.settings import Setting
from nsganet.proxy_study.store import PairResult
from nsganet.spaces import SearchSpace
from nsganet.utils.progress import progress_bar


class RunningStudy(Protocol):
    """What callbacks see of the running :class:`~nsganet.proxy_study.runner.ProxyStudy`."""

    out: Path
    config: StudyConfig
    space: SearchSpace
    settings: dict[str, Setting]
    archs: list[str]


class StudyCallback:
    """Hears a study's events (in the study's own process); override what you need."""

    def on_study_start(self, study: RunningStudy, total: int, done: int) -> None:
        """The study starts with ``done`` of its ``total`` pairs stored already."""

    def on_setting_start(self, study: RunningStudy, setting: Setting, pending: int) -> None:
        """``pending`` architectures are evaluated at ``setting`` next."""

    def on_result(self, study: RunningStudy, result: PairResult) -> None:
        """A pair finished and is committed to the store."""

    def on_study_end(self, study: RunningStudy, result: ProxyStudyResult) -> None:
        """Every pair is stored; ``result`` holds the table."""

    def on_close(self, study: RunningStudy) -> None:
        """The study stops, finished or not: release what was opened."""


class ProgressBar(StudyCallback):
    """A progress bar over the study's pairs, named by the setting being evaluated."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_study_start(self, study: RunningStudy, total: int, done: int) -> None:
        self.bar = progress_bar(total, done, desc="proxy study", unit="pair")

    def on_setting_start(self, study: RunningStudy, setting: Setting, pending: int) -> None:
        self.bar.set_description(setting.name)

    def on_result(self, study: RunningStudy, result: PairResult) -> None:
        self.bar.update(1)

    def on_close(self, study: RunningStudy) -> None:
        if self.bar is not None:
            self.bar.close()


class StudyFiles(StudyCallback):
    """``results.csv``, ``study.csv`` and ``study.json`` when the study ends (derived from the store)."""

    def on_study_end(self, study: RunningStudy, result: ProxyStudyResult) -> None:
        write_study_files(result)


__all__ = ["ProgressBar", "RunningStudy", "StudyCallback", "StudyFiles"]
