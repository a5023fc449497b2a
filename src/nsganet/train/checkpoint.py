"""The one resumable-checkpoint scaffold of nsganet's long training runs (re-training, supernet training).

A :class:`Checkpointed` run owns an output folder, locked
(:mod:`nsganet.utils.lock`) from its start to :meth:`Checkpointed.end` so that a
second run into the same folder is refused instead of overwriting it. It refuses to start over a
checkpoint unless asked to resume, and to resume one written with other
settings or another network/data (naming the first difference). After every
epoch the training loop hands it the state to keep (model, optimiser,
history, ...); it writes that atomically, with fsync, to ``checkpoint.pt``, so
a run killed at any moment resumes from its last finished epoch. Every epoch
derives its randomness from ``(seed, epoch)``, so the resumed run ends exactly
where an uninterrupted one would have.

The loop reports progress as events (:meth:`Checkpointed.step`,
:meth:`Checkpointed.end_epoch`); listeners (:class:`TrainingListener`: a
progress bar, a curves writer, a user's callback) draw or write it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nsganet.errors import NsganetError, torch_load_problem
from nsganet.utils.files import atomic_save
from nsganet.utils.lock import FolderLock
from nsganet.utils.progress import progress_bar

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


def load_checkpoint(path: str | Path) -> Any:
    """A file nsganet saved with torch, read with ``weights_only=True`` (tensors and plain containers only)."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NsganetError(f"no such checkpoint: {path}") from None
    except Exception as exc:  # corrupt, truncated or not a torch file
        raise NsganetError(f"cannot read checkpoint {path}: {torch_load_problem(exc)}") from None


class TrainingListener:
    """Hears a checkpointed training run's progress; override what you need."""

    def on_start(self, run: Checkpointed) -> None:
        """Training starts (or resumes) at ``run.done_steps`` of ``run.total_steps``."""

    def on_step(self, run: Checkpointed, loss: str | None) -> None:
        """One optimisation step finished; ``loss`` is the running loss as text when it was read back."""

    def on_epoch(self, run: Checkpointed, epoch: int, history: Mapping[str, list[float]],
                 summary: Mapping[str, str]) -> None:
        """Epoch ``epoch`` (1-based) finished and is checkpointed; ``summary`` holds short figures to show."""

    def on_end(self, run: Checkpointed, history: Mapping[str, list[float]]) -> None:
        """Training ended (finished, or stopped by an exception)."""


class ProgressBar(TrainingListener):
    """A progress bar over the run's steps, showing the latest epoch's summary."""

    def __init__(self, desc: str) -> None:
        self.desc, self.bar = desc, None

    def on_start(self, run: Checkpointed) -> None:
        self.bar = progress_bar(run.total_steps, run.done_steps, desc=self.desc, unit="step")

    def on_step(self, run: Checkpointed, loss: str | None) -> None:
        if loss is not None:
            self.bar.set_postfix(loss=loss, refresh=False)
        self.bar.update(1)

    def on_epoch(self, run: Checkpointed, epoch: int, history: Mapping[str, list[float]],
                 summary: Mapping[str, str]) -> None:
        self.bar.set_postfix(summary)

    def on_end(self, run: Checkpointed, history: Mapping[str, list[float]]) -> None:
        if self.bar is not None:
            self.bar.close()


class Checkpointed:
    """An output folder of a training run that checkpoints every epoch and resumes exactly.

    ``kind`` tags the checkpoint (``format``) and ``what`` names the run in
    messages. A process that does not ``writes`` (a rank other than 0 of a
    multi-process run) reads the checkpoint to resume but never writes it.
    ``settings`` and ``meta`` (plain values) must equal the checkpoint's to
    resume. With ``resume`` an existing checkpoint is
    continued; without one that is an error unless ``missing_ok``. Without
    ``resume`` an existing checkpoint is an error.
    """

    def __init__(self, out: str | Path, kind: str, what: str, settings: Mapping[str, Any],
                 meta: Mapping[str, Any], *, resume: bool, missing_ok: bool = False,
                 listeners: Iterable[TrainingListener] = (), writes: bool = True) -> None:
        self.out, self.kind, self.what = Path(out), kind, what
        self.settings, self.meta = dict(settings), dict(meta)
        self.listeners, self.writes = list(listeners), writes
        self.total_steps = self.done_steps = 0
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NsganetError(f"cannot create {self.out}: {exc.strerror or exc}") from None
        self.path = self.out / CHECKPOINT_FILE
        self.state: dict[str, Any] | None = None
        # one writer per output folder until end(): a second run into it is refused, naming this one
        self._lock = FolderLock(self.out, f"nsganet {what}") if writes else None
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._open(resume, missing_ok)
            if self._lock is not None:
                self._lock.claim()
        except BaseException:
            self._release()
            raise

    def _open(self, resume: bool, missing_ok: bool) -> None:
        """Read the checkpoint to resume, refusing to start over one or to resume nothing."""
        what = self.what
        if self.path.exists():
            if not resume:
                raise NsganetError(f"{self.out} already holds a {what} run ({CHECKPOINT_FILE}); pass --resume to "
                                   "continue it, or choose another --out")
            self.state = self._checked(load_checkpoint(self.path))
            logger.info("resuming the %s in %s after epoch %d", what, self.out, self.start_epoch)
        elif resume and not missing_ok:
            raise NsganetError(f"nothing to resume in {self.out}: it holds no {CHECKPOINT_FILE}")

    def _checked(self, state: Any) -> dict[str, Any]:
        """The checkpoint, if it is one of this kind written with the same settings and meta."""
        if not isinstance(state, dict) or state.get("format") != self.kind or "epoch" not in state:
            raise NsganetError(f"{self.path} is not an nsganet {self.what} checkpoint")
        for what, now, then in (("setting ", self.settings, state.get("settings")), ("", self.meta, state.get("meta"))):
            then = then if isinstance(then, dict) else {}
            for key in [*now, *(k for k in then if k not in now)]:
                if now.get(key) != then.get(key):
                    raise NsganetError(f"cannot resume {self.out}: it was started with {what}{key}="
                                       f"{then.get(key)!r}, now {now.get(key)!r}; use another --out or the same "
                                       "settings")
        return state

    @property
    def start_epoch(self) -> int:
        """Epochs already finished (0 for a new run)."""
        return int(self.state["epoch"]) if self.state is not None else 0

    # -- events ------------------------------------------------------------------------------
    def start(self, total_steps: int, done_steps: int) -> None:
        self.total_steps, self.done_steps = total_steps, done_steps
        for listener in self.listeners:
            listener.on_start(self)

    def step(self, loss: str | None = None) -> None:
        self.done_steps += 1
        for listener in self.listeners:
            listener.on_step(self, loss)

    def end_epoch(self, epoch: int, state: Mapping[str, Any], history: Mapping[str, list[float]],
                  summary: Mapping[str, str] | None = None) -> None:
        """Checkpoint ``state`` after epoch ``epoch`` (1-based), then tell the listeners."""
        if self.writes:
            atomic_save({"format": self.kind, "version": 1, "epoch": epoch, "settings": self.settings,
                         "meta": self.meta, "history": dict(history), **state}, self.path)
        for listener in self.listeners:
            listener.on_epoch(self, epoch, history, summary or {})

    def end(self, history: Mapping[str, list[float]]) -> None:
        """Training ended (finished or stopped): tell the listeners and release the output folder."""
        try:
            for listener in self.listeners:
                listener.on_end(self, history)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
