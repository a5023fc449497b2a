"""The strategy interface: ask for a batch of genomes, tell their objective values.

Strategies see only the numeric :class:`~nsganet.spaces.base.Encoding` and the
:class:`~nsganet.strategies.archive.Archive`; they never import torch. All
their randomness comes from one generator seeded in :meth:`Strategy.setup`,
and :meth:`Strategy.state_dict` captures everything needed to continue a run
exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from nsganet.errors import ConfigError
from nsganet.registry import Registry
from nsganet.spaces.base import Encoding
from nsganet.strategies.archive import Archive, genome_key
from nsganet.utils.checks import coerce_numeric_options

#: The population (batch) size of every strategy, ``nsganet search --pop-size``'s default too.
DEFAULT_POP_SIZE = 20


@dataclasses.dataclass(frozen=True)
class ProblemContext:
    """What a strategy may know of the problem besides its encoding; every field is optional.

    ``costs`` maps a genome matrix to the values of the objectives in
    ``cost_columns`` (FLOPs, parameters: known without training), so that a
    surrogate-assisted strategy can rank candidates it has not evaluated.
    ``smallest`` and ``largest`` are the space's extreme genomes.
    ``descriptors`` maps a genome matrix to data-free descriptors of what each
    network computes (a :class:`~nsganet.spaces.base.DescribedSpace`'s), which
    accuracy predictors can learn from.
    ``violation`` (constrained runs only) maps a genome matrix and two rows of
    objective values per genome, ``low`` and ``high`` (predicted or true, in
    objective order; NaN: unknown), to each genome's total constraint
    violation (0: feasible) at its most favourable values within
    ``[low, high]``; costs that are not objectives are measured on the genome.
    """

    smallest: np.ndarray | None = None
    largest: np.ndarray | None = None
    cost_columns: tuple[int, ...] = ()
    costs: Callable[[np.ndarray], np.ndarray] | None = None
    descriptors: Callable[[np.ndarray], np.ndarray] | None = None
    #: A warm start: the first batch of a run starts with these genomes, in order (see :meth:`Strategy.seeded`).
    initial: np.ndarray | None = None
    violation: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None


@dataclasses.dataclass
class Strategy(ABC):
    """Base class: hyper-parameters are dataclass fields, run state is set in :meth:`setup`."""

    name: ClassVar[str]
    #: Capability: proposes by an accuracy predictor, pricing many unevaluated candidates by their costs.
    uses_surrogate: ClassVar[bool] = False
    #: Capability: proposes and learns one evaluation at a time (:meth:`ask_async`, :meth:`tell_async`).
    supports_async: ClassVar[bool] = False
    pop_size: int = DEFAULT_POP_SIZE

    def __post_init__(self) -> None:
        """Check that numeric options are numbers (they may come from a YAML file)."""
        coerce_numeric_options(self, self.name)
        if self.pop_size < 2:
            raise ConfigError(f"{self.name} pop_size must be at least 2, got {self.pop_size}")
        self.context = ProblemContext()

    def bind(self, context: ProblemContext) -> None:
        """Tell the strategy what else is known of the problem; called before :meth:`setup`."""
        self.context = context

    def setup(self, encoding: Encoding, n_obj: int, budget: int, seed: int) -> None:
        """Prepare a fresh run; called once before the first :meth:`ask`."""
        self.encoding, self.n_obj, self.budget = encoding, n_obj, budget
        self.rng = np.random.default_rng(seed)
        self.generation = 0
        self.completed = 0  # evaluations told by tell_async
        self.started = False  # whether ask_async drew the run's first genomes (see from_queue)
        self.queue = np.empty((0, encoding.n_var), dtype=np.int64)  # those not proposed yet

    @abstractmethod
    def ask(self, archive: Archive) -> np.ndarray:
        """The next batch of genomes to evaluate, none of them already in ``archive``.

        An empty batch means the strategy has nothing left to propose.
        """

    @abstractmethod
    def tell(self, X: np.ndarray, F: np.ndarray, V: np.ndarray | None = None) -> None:
        """Objective values of evaluated genomes from the last batch (NaN rows: failed).

        ``V``, given in constrained runs only, holds their constraint violations
        (0: feasible); strategies rank by Deb's constrained domination with it.
        """

    def ask_async(self, archive: Archive, n: int, pending: np.ndarray) -> np.ndarray:
        """Up to ``n`` new genomes for free workers, none in ``archive`` nor among ``pending``.

        ``pending`` holds the genomes proposed and not yet told, shape (k, n_var).
        An empty result means the strategy has nothing left to propose.
        """
        raise ConfigError(f"strategy {self.name} does not support the async schedule")

    def tell_async(self, x: np.ndarray, f: np.ndarray, v: float | None = None) -> None:
        """One finished evaluation: genome ``x``, objective values ``f`` (NaN: failed), violation ``v``."""
        raise ConfigError(f"strategy {self.name} does not support the async schedule")

    def pending_keys(self, pending: np.ndarray | None) -> set[tuple[int, ...]]:
        """The keys of ``pending`` genomes (rows), to keep proposals off them."""
        if pending is None:
            return set()
        return {genome_key(x) for x in np.asarray(pending, dtype=np.int64).reshape(-1, self.encoding.n_var)}

    def from_queue(self, archive: Archive, n: int, taken: set[tuple[int, ...]],
                   first: Callable[[], np.ndarray]) -> np.ndarray:
        """Up to ``n`` of the run's first genomes (``first()``, drawn on the first call) not proposed yet.

        For :meth:`ask_async`: a generational run's first batch, handed out in
        its order as workers come free. Genomes proposed join ``taken``.
        """
        if not self.started:
            self.started = True
            self.queue = np.asarray(first(), dtype=np.int64).reshape(-1, self.encoding.n_var)
        out, rest = [], []
        for x in self.queue:
            key = genome_key(x)
            if key in taken or key in archive:
                continue
            if len(out) < n:
                taken.add(key)
                out.append(x)
            else:
                rest.append(x)
        self.queue = np.asarray(rest, dtype=np.int64).reshape(len(rest), self.encoding.n_var)
        return np.asarray(out, dtype=np.int64).reshape(len(out), self.encoding.n_var)

    def count_completion(self) -> None:
        """Count one evaluation told by :meth:`tell_async`; a generation is ``pop_size`` of them."""
        self.completed += 1
        self.generation = self.completed // self.pop_size

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state after the last :meth:`tell` (or :meth:`tell_async` and :meth:`ask_async`)."""
        state = {"generation": self.generation, "rng": self.rng.bit_generator.state}
        if self.completed or self.started:  # an asynchronous run
            state.update(completed=self.completed, queue=self.queue.tolist() if self.started else None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generation = int(state["generation"])
        self.rng.bit_generator.state = state["rng"]
        self.completed = int(state.get("completed", 0))
        self.started = state.get("queue") is not None
        self.queue = np.asarray(state.get("queue") or [], dtype=np.int64).reshape(-1, self.encoding.n_var)

    def info(self) -> dict[str, Any]:
        """Strategy-specific figures for the per-generation stats file."""
        return {}

    def seeded(self, n: int, archive: Archive,
               fill: Callable[[int, set[tuple[int, ...]]], np.ndarray]) -> np.ndarray:
        """A run's first batch: the warm start's genomes (``context.initial``), then ``fill`` up to ``n``.

        Warm-start genomes already in ``archive`` or repeated are skipped; all
        the others come first, even when they are ``n`` or more (then ``fill``
        is asked for none). ``fill(k, taken)`` returns up to ``k`` genomes
        outside ``taken`` (the keys of those before it) and the archive.
        Without a warm start this is ``fill(n, set())``.
        """
        initial = self.context.initial
        if initial is None or len(initial) == 0:
            return fill(n, set())
        taken: set[tuple[int, ...]] = set()
        first = []
        for genome in self.encoding.canonical(np.asarray(initial, dtype=np.int64).reshape(-1, self.encoding.n_var)):
            key = genome_key(genome)
            if key not in taken and key not in archive:
                taken.add(key)
                first.append(genome)
        rest = fill(max(0, n - len(first)), taken)
        return np.vstack([np.asarray(first, dtype=np.int64).reshape(len(first), self.encoding.n_var), rest])

    def sample_new(self, n: int, archive: Archive, taken: set[tuple[int, ...]],
                   propose: Callable[[], np.ndarray] | None = None, max_tries: int = 50,
                   fallback: bool = True) -> np.ndarray:
        """Up to ``n`` distinct genomes not in ``archive`` nor ``taken``.

        Genomes come from ``propose`` (uniform sampling by default); after
        ``max_tries`` duplicates in a row the rest are sampled uniformly (or,
        without ``fallback``, fewer are returned), and if even uniform samples
        keep repeating the space is taken to be exhausted.
        """
        out: list[np.ndarray] = []
        failures = 0
        uniform = lambda: self.encoding.sample(self.rng, 1)[0]  # noqa: E731
        source = propose or uniform
        while len(out) < n:
            candidate = self.encoding.canonical(source())
            key = genome_key(candidate)
            if key in taken or key in archive:
                failures += 1
                if failures >= max_tries:
                    if source is uniform or not fallback:
                        break
                    source, failures = uniform, 0
                continue
            taken.add(key)
            out.append(candidate)
            failures = 0
        return np.asarray(out, dtype=np.int64).reshape(len(out), self.encoding.n_var)


#: Every strategy class by name; strategies register where they are defined (``@STRATEGIES.register()``).
STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "strategies", sort=True)
