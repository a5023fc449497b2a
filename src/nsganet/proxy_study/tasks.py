"""The work of a proxy study: which architectures it samples, the data each setting sees, and what a worker runs.

Every training is seeded from (seed, setting, architecture) alone and runs
on :data:`EVAL_THREADS` CPU threads, so a pair's result depends on neither
the workers nor the machine's core count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from nsganet.errors import ConfigError
from nsganet.proxy_study.config import StudyConfig, StudyRuntime
from nsganet.proxy_study.settings import Setting, build_options, supernet_key
from nsganet.spaces import SearchSpace
from nsganet.utils.checks import POSITIVE_INT
from nsganet.utils.seeds import derived_seed

#: CPU threads of every evaluation (see :class:`StudyTask`); use workers to use more cores.
EVAL_THREADS = 1


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


__all__ = ["EVAL_THREADS", "StudyTask", "load_search_split", "sample_architectures"]
