"""Running a proxy study: one study in one folder, new or continued, from sampling to the table.

:class:`ProxyStudy` samples the architectures, scores every pair its store
does not hold yet (training the supernets an inheritance setting needs),
commits each at once and announces the events; :func:`run_proxy_study` and
:func:`resume_proxy_study` are the entry points.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.errors import ConfigError, NsganetError
from nsganet.executors import ExecutorSettings, make_executor
from nsganet.proxy_study.config import StudyPlan, StudyRuntime
from nsganet.proxy_study.events import ProgressBar, StudyCallback, StudyFiles
from nsganet.proxy_study.outputs import STORE_FILE, ProxyStudyResult
from nsganet.proxy_study.planning import DEFAULT_ARCHS, plan_recorded, plan_study
from nsganet.proxy_study.settings import Setting, supernet_key
from nsganet.proxy_study.store import PairResult, StudyStore, corrupt
from nsganet.proxy_study.table import DEFAULT_THRESHOLD, Analysis, analysed_table
from nsganet.proxy_study.tasks import StudyTask, load_search_split, sample_architectures
from nsganet.spaces import SearchSpace, SupernetSpace
from nsganet.train.checkpoint import TrainingListener
from nsganet.utils.files import safe_name
from nsganet.utils.lock import LOCK_FILE, FolderLock

logger = logging.getLogger(__name__)


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
        table = analysed_table(ordered, settings, supernet_seconds, self.analysis)
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


__all__ = ["ProxyStudy", "default_out", "resume_proxy_study", "run_proxy_study"]
