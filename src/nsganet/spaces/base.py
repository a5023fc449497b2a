"""The search-space interface: an integer encoding, a network builder, and the capabilities a space declares.

A space declares its encoding (bounds and how variables group into units and
blocks) so that strategies can work on any space without knowing what the
variables mean. Only :meth:`SearchSpace.build` touches torch, and it imports it
lazily, so strategies and stores never pull torch in.

What a space can do beyond that, it declares by subclassing a capability, and
the rest of nsganet asks ``isinstance(space, Capability)``, never for a name:

- :class:`SupernetSpace`: every architecture is a subnet of one weight-sharing
  supernet (search by weight inheritance, export with inherited weights);
- :class:`LayerwiseSpace`: a network is a chain of layers whose settings repeat
  across architectures (per-layer latency look-up tables);
- :class:`DrawableSpace`: architectures can be drawn (``nsganet draw``, reports).

Spaces register at their definition site (``@SPACES.register()``) and are
rebuilt from their name and :attr:`SearchSpace.options` (``get_space(name,
**options)``), which is how exported networks and supernet files record them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from nsganet.errors import InvalidArchitecture, NsganetError
from nsganet.registry import Registry
from nsganet.utils.checks import CHANNELS, LAYERS, Bound, machine_memory

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class Encoding:
    """Integer encoding of a space: inclusive bounds and variable groups.

    ``units`` lists, for each unit (a node of a cell, a layer, ...), the indices
    of its variables; ``blocks`` lists, for each block (a cell, a stage, ...),
    the indices of its units. Variables within a unit are ordered so that
    neighbouring integer values are similar choices (inputs chronologically,
    operations by complexity): parent-centric mutation relies on that.

    ``conditions`` declares conditional variables: a triple ``(var, controller,
    min_value)`` makes variable ``var`` active only while
    ``genome[controller] >= min_value`` (a layer beyond a stage's depth, say). Inactive variables do
    not change the architecture, so :meth:`canonical` sets them to their lower
    bound and strategies only propose canonical genomes: one architecture, one
    genome.
    """

    lower: np.ndarray
    upper: np.ndarray
    units: tuple[tuple[int, ...], ...]
    blocks: tuple[tuple[int, ...], ...] = field(default=())
    conditions: tuple[tuple[int, int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, dtype=np.int64)
        upper = np.asarray(self.upper, dtype=np.int64)
        if lower.shape != upper.shape or lower.ndim != 1 or np.any(upper < lower):
            raise ValueError("encoding bounds must be 1-D with lower <= upper")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        covered = sorted(i for unit in self.units for i in unit)
        if covered != list(range(len(lower))):
            raise ValueError("units must partition the variables 0..n_var-1")
        if not self.blocks:
            object.__setattr__(self, "blocks", (tuple(range(len(self.units))),))
        if sorted(u for block in self.blocks for u in block) != list(range(len(self.units))):
            raise ValueError("blocks must partition the units")
        conditions = tuple((int(v), int(c), int(m)) for v, c, m in self.conditions)
        if any(not (0 <= v < len(lower) and 0 <= c < len(lower)) or v == c for v, c, _ in conditions):
            raise ValueError("conditions must name two different variables of the encoding")
        object.__setattr__(self, "conditions", conditions)

    @property
    def n_var(self) -> int:
        return len(self.lower)

    def contains(self, genome: np.ndarray) -> bool:
        """Whether every variable lies within its bounds."""
        genome = np.asarray(genome)
        return genome.shape == self.lower.shape and bool(
            np.all(genome >= self.lower) and np.all(genome <= self.upper)
        )

    def canonical(self, genomes: np.ndarray) -> np.ndarray:
        """``genomes`` (one or a matrix) with every inactive variable at its lower bound."""
        out = np.array(genomes, dtype=np.int64)
        rows = out.reshape(-1, self.n_var)
        for var, controller, min_value in self.conditions:
            inactive = rows[:, controller] < min_value
            rows[inactive, var] = self.lower[var]
        return out

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` canonical genomes, every variable drawn uniformly within its bounds."""
        return self.canonical(rng.integers(self.lower, self.upper + 1, size=(n, self.n_var), dtype=np.int64))

    @property
    def size(self) -> int:
        """Number of genomes within the bounds (canonical or not): an upper bound on the architectures."""
        return math.prod(int(u - lo + 1) for lo, u in zip(self.lower, self.upper))

    def enumerate(self) -> np.ndarray:
        """Every canonical genome once, in lexicographic order; meant for small spaces (see :attr:`size`)."""
        axes = [np.arange(lo, u + 1, dtype=np.int64) for lo, u in zip(self.lower, self.upper)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.n_var)
        return np.unique(self.canonical(grid), axis=0)


class SearchSpace(ABC):
    """A family of architectures with an integer encoding and a network builder."""

    name: ClassVar[str]
    #: Build options that set the width and the depth of a proxy network (None: no such knob).
    proxy_knobs: ClassVar[tuple[str | None, str | None]] = (None, None)
    #: Width and depth of the proxy networks trained during search, when not configured.
    proxy_defaults: ClassVar[tuple[int | None, int | None]] = (None, None)
    #: Bounds of numeric build options (each item of a list-valued one), checked before a network is built.
    option_bounds: ClassVar[dict[str, Bound]] = {}
    encoding: Encoding

    @abstractmethod
    def to_string(self, genome: np.ndarray) -> str:
        """The canonical, human-readable string of a genome."""

    @abstractmethod
    def from_string(self, text: str) -> np.ndarray:
        """The genome of a canonical string; raises :class:`InvalidArchitecture`."""

    @abstractmethod
    def build(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32,
              in_channels: int = 3, **options: Any) -> nn.Module:
        """The ``torch.nn.Module`` of a genome."""

    def check_build_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` when each names a keyword of :meth:`build` other than the network's shape; else an error.

        Numeric values are checked against :attr:`option_bounds`; the others
        when a network is built.
        """
        import inspect

        from nsganet.errors import ConfigError

        shape = ("genome", "num_classes", "input_size", "in_channels")
        known = [name for name, p in inspect.signature(self.build).parameters.items()
                 if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in shape]
        for name in options:
            if name not in known:
                raise ConfigError(f"{self.name} networks have no build option {name!r}; they take "
                                  f"{', '.join(known) or 'none'}")
        for name, value in options.items():
            bound = self.option_bounds.get(name)
            for item in (value if isinstance(value, (list, tuple)) else [value]) if bound is not None else ():
                bound.check(f"{self.name} build option {name}", item)
        return dict(options)

    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments this space was made with (plain values): ``get_space(name, **options)`` rebuilds it."""
        return {}

    #: Whether the networks resize whatever they are fed to their architecture's own resolution (then any image
    #: size suits them, and :meth:`input_resolution` says what they compute at).
    resizes_input: ClassVar[bool] = False

    def input_resolution(self, genome: np.ndarray, input_size: int) -> int:
        """The side of the images a network of ``genome`` computes at when fed ``input_size`` px.

        Networks run at their input's size unless the architecture chooses its
        own resolution (then this returns that one).
        """
        return input_size

    def operations(self, genome: np.ndarray) -> list[str]:
        """The design choices an architecture is made of, one entry per use (repeats count).

        Reports count these to compare the choices of the non-dominated
        architectures with those of all evaluated ones (NSGANetV1 Fig. 9a).
        This generic version names each variable's value, ``x<i>=<value>``;
        spaces override it with their operation names.
        """
        return genome_values(self.check(genome))

    def analytic_costs(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32,
                       in_channels: int = 3, **options: Any) -> dict[str, float] | None:
        """FLOPs and parameters in closed form, or ``None`` where the network must be counted.

        Spaces whose costs have a closed form override this: a surrogate-assisted
        search asks for the costs of thousands of candidates, which building
        each network would make the bottleneck. It must agree with counting
        (see :class:`~nsganet.search.objectives.CostModel`).
        """
        return None

    def smallest(self) -> np.ndarray:
        """A genome of minimal cost (used for objective bounds and designs of experiments)."""
        return self.encoding.lower.copy()

    def largest(self) -> np.ndarray:
        """A genome of maximal cost."""
        return self.encoding.upper.copy()

    def proxy_options(self, channels: int | None = None, layers: int | None = None,
                      use_defaults: bool = True) -> dict[str, Any]:
        """Build options of a down-scaled proxy network: ``channels`` wide, ``layers`` cells per stage.

        :attr:`proxy_knobs` names the build options these map to (a space
        without such a knob ignores it); ``None`` means :attr:`proxy_defaults`,
        or the full network's setting when ``use_defaults`` is off. Values out
        of :data:`~nsganet.utils.checks.CHANNELS` or :data:`~nsganet.utils.checks.LAYERS` are refused.
        """
        CHANNELS.check("channels", channels)
        LAYERS.check("layers", layers)
        options: dict[str, Any] = {}
        for knob, value, default in zip(self.proxy_knobs, (channels, layers), self.proxy_defaults):
            value = value if value is not None or not use_defaults else default
            if knob is not None and value is not None:
                options[knob] = value
        return options

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` random genomes."""
        return self.encoding.sample(rng, n)

    def footprint(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
                  **options: Any) -> Footprint | None:
        """The size of the network of ``genome``, counted without allocating it; None when it cannot be counted.

        The network is built and run on one image on torch's ``meta`` device,
        where tensors have shapes but no memory, with the random number
        generator left as it was. A network whose forward pass needs real
        values is counted by its parameters alone.
        """
        import torch

        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            try:
                model = self.build(genome, num_classes=num_classes, input_size=input_size, in_channels=in_channels,
                                   **options)
            except (RuntimeError, NotImplementedError):
                return None
            params = sum(p.numel() for p in model.parameters())
            return Footprint(params, _activations(model, (1, in_channels, input_size, input_size)))

    def check_size(self, genome: np.ndarray, what: str, hint: str = "", num_classes: int = 10, input_size: int = 32,
                   in_channels: int = 3, **options: Any) -> None:
        """Refuse, naming it ``what``, a network of ``genome`` too large to train in this machine's memory.

        ``hint`` ends the message (": lower --channels"). Nothing is allocated (:meth:`footprint`).
        """
        size = self.footprint(genome, num_classes=num_classes, input_size=input_size, in_channels=in_channels,
                              **options)
        memory = machine_memory()
        if size is not None and memory is not None and size.train_bytes > memory:
            raise NsganetError(f"{what} would have {size.params:,} parameters ({size.train_bytes / 2**30:,.1f} GiB "
                               f"to train on one image), more than this machine's {memory / 2**30:,.1f} GiB of "
                               f"memory{hint}")

    def check(self, genome: np.ndarray) -> np.ndarray:
        """The genome as an int64 array; raises :class:`InvalidArchitecture` if out of bounds.

        Inactive variables (see :class:`Encoding`) are returned at their lower bound.
        """
        arr = np.asarray(genome)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or not self.encoding.contains(arr):
            raise InvalidArchitecture(
                f"genome {list(np.ravel(arr))} is not a valid {self.name} encoding "
                f"(expects {self.encoding.n_var} integers within "
                f"{self.encoding.lower.tolist()}..{self.encoding.upper.tolist()})"
            )
        return self.encoding.canonical(arr)

    def architecture(self, genome: np.ndarray) -> Architecture:
        """Wrap a genome as an :class:`Architecture` of this space."""
        return Architecture(self, tuple(int(v) for v in self.check(genome)))


@dataclass(frozen=True)
class Footprint:
    """How large a network is: its parameters and the activations one image leaves for the backward pass."""

    params: int
    activations: int

    @property
    def train_bytes(self) -> int:
        """Memory to train it on one image in float32: weights, gradients and momentum, and the activations."""
        return 4 * (3 * self.params + self.activations)


def _activations(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Values output by the leaf modules of ``model`` (on the meta device) for one input; 0 when it cannot run."""
    import torch

    count = 0

    def hook(module: Any, inputs: Any, output: Any) -> None:
        nonlocal count
        count += sum(t.numel() for t in (output if isinstance(output, (tuple, list)) else [output])
                     if isinstance(t, torch.Tensor))

    handles = [m.register_forward_hook(hook) for m in model.modules() if next(m.children(), None) is None]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(input_shape, device="meta"))
    except (RuntimeError, NotImplementedError, ValueError, TypeError):
        return 0
    finally:
        for handle in handles:
            handle.remove()
    return count


@dataclass(frozen=True)
class Architecture:
    """One point of a search space, as handed to evaluators.

    ``str(arch)`` is the canonical string; :meth:`build` returns its network.
    """

    space: SearchSpace
    genome: tuple[int, ...]

    def __str__(self) -> str:
        return self.space.to_string(np.asarray(self.genome))

    def build(self, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
              **options: Any) -> nn.Module:
        return self.space.build(np.asarray(self.genome), num_classes=num_classes,
                                input_size=input_size, in_channels=in_channels, **options)


def genome_values(genome: Any) -> list[str]:
    """Each variable's value as a name, ``x<i>=<value>``: the operations of a genome whose meaning is unknown."""
    return [f"x{i}={int(v)}" for i, v in enumerate(genome)]


# -- capabilities ----------------------------------------------------------------------------------------------


class DrawableSpace(SearchSpace):
    """Capability: architectures of this space can be drawn into an image file."""

    @abstractmethod
    def draw(self, genome: np.ndarray, path: str | Path) -> None:
        """Draw the architecture of ``genome`` into the image file ``path``."""


class DescribedSpace(SearchSpace):
    """Capability: data-free descriptors of what a network computes, for accuracy predictors.

    A genome's variables say how an architecture is written; descriptors say
    what it computes (which operations carry the input to the output, how
    deep the longest path is). Two genomes that differ only in edges no signal
    passes through get the same descriptors. Predictors fitted on a few
    hundred architectures rank far better with them (see
    ``benchmarks/nb201_predictors.py``).
    """

    @abstractmethod
    def descriptors(self, genomes: np.ndarray) -> np.ndarray:
        """A float matrix, one row per genome of ``genomes`` (n, n_var), every column scaled to [0, 1]."""


class SupernetSpace(SearchSpace):
    r"""Capability: every architecture is a subnet of one weight-sharing supernet.

    Such a space is searched by weight inheritance: one supernet is trained
    (the sandwich rule of :mod:`nsganet.supernet.training` drives it through
    :meth:`activate`), and each candidate is :meth:`extract`\ ed with its
    weights. The space's :attr:`options` describe the supernet's shape, so a
    supernet file or an exported network rebuilds the exact space.
    """

    @abstractmethod
    def for_images(self, image_size: int) -> SupernetSpace:
        """The space (supernet shape) to train a new supernet in for images of ``image_size`` px."""

    @abstractmethod
    def new_supernet(self, num_classes: int, in_channels: int) -> nn.Module:
        """A freshly initialised supernet of this shape."""

    @abstractmethod
    def activate(self, supernet: nn.Module, genome: np.ndarray) -> None:
        """Make the subnet of ``genome`` the one ``supernet`` computes."""

    @abstractmethod
    def extract(self, supernet: nn.Module, genome: np.ndarray) -> nn.Module:
        """The subnet of ``genome`` as a standalone network carrying copies of the supernet's weights.

        It computes what the supernet computes with ``genome`` active, in the
        supernet's mode and on its device.
        """

    def prepare_transfer(self, supernet: nn.Module, num_classes: int) -> None:
        """Adapt a trained supernet before it is fine-tuned on new data of ``num_classes`` classes.

        The default replaces nothing; a space whose classifier or channel order
        must change (a new head, channels sorted by importance) overrides it.
        """

    @classmethod
    def read_published(cls, path: Path) -> tuple[SupernetSpace, nn.Module, dict[str, Any]] | None:
        """A published checkpoint of this supernet family (not an nsganet file), or None when ``path`` is not one.

        Returns the space, the supernet with the checkpoint's weights and a
        description with ``num_classes``, ``in_channels``, ``mean``, ``std``
        and ``dataset``. Raise :class:`~nsganet.errors.NsganetError` to say why
        a file that looks like one does not load.
        """
        return None


@dataclass
class ForeignNetwork:
    """A network read from another tool's files: its space and genome, shape, input normalisation and weights.

    ``state`` is a ``state_dict`` of ``space.build(genome, ...)`` (None when
    the files hold no weights); ``files`` names what was read (weights last).
    """

    space: SearchSpace
    genome: np.ndarray
    num_classes: int
    input_size: int
    in_channels: int
    mean: list[float]
    std: list[float]
    state: dict[str, Any] | None
    files: list[str]


class ForeignNetFiles(SearchSpace):
    """Capability: this space's networks are also written, and read, in another tool's network files.

    ``nsganet select`` writes them beside ``net.json``; a folder holding only
    them (:attr:`foreign_marker` present) is read as an exported network by
    ``load_net``, ``nsganet train`` and ``nsganet evaluate``.
    """

    #: The file whose presence marks a folder as holding such files.
    foreign_marker: ClassVar[str] = ""

    @abstractmethod
    def write_foreign_files(self, folder: Path, genome: np.ndarray, model: nn.Module,
                            trained: bool = False) -> list[str]:
        """Write the network of ``genome`` (``model``, with its weights: inherited, or ``trained``) into ``folder``;
        the names written."""

    @classmethod
    @abstractmethod
    def read_foreign_files(cls, folder: Path) -> ForeignNetwork:
        """The network the files in ``folder`` describe; a malformed file is a one-line error naming it."""


class Layer(Protocol):
    """One layer setting of a :class:`LayerwiseSpace`: a unique key, its input shape, a module to time.

    ``takes_input`` marks a layer that reads the network's input (which the
    network converts to channels-last).
    """

    @property
    def key(self) -> str: ...

    @property
    def takes_input(self) -> bool: ...

    @property
    def input_shape(self) -> tuple[int, ...]: ...

    def build(self) -> nn.Module: ...

    def to_dict(self) -> dict[str, Any]: ...


class LayerwiseSpace(SearchSpace):
    """Capability: a network is a chain of layers whose settings repeat across architectures.

    A look-up table (:mod:`nsganet.costs.lut`) times every distinct layer
    setting once and predicts a network's latency as the sum over its
    :meth:`layers`. Architectures choose their input resolution among
    :attr:`resolutions`. :attr:`presets` name shapes a table can be built for
    without a supernet file, with their default classes and input channels.
    """

    presets: ClassVar[dict[str, tuple[int, int]]] = {}

    @classmethod
    def preset(cls, name: str, image_size: int | None = None, width_mult: float | None = None) -> LayerwiseSpace:
        """The space of preset ``name`` (for ``image_size`` px and ``width_mult`` where the preset takes them)."""
        from nsganet.errors import ConfigError

        raise ConfigError(f"the {cls.name} space has no preset {name!r}")

    @property
    @abstractmethod
    def resolutions(self) -> tuple[int, ...]:
        """The input resolutions the space's architectures choose from, ascending."""

    @abstractmethod
    def with_resolution(self, genome: np.ndarray, resolution: int) -> np.ndarray:
        """``genome`` with its input resolution set to ``resolution`` (one of :attr:`resolutions`)."""

    @abstractmethod
    def layers(self, genome: np.ndarray, num_classes: int, in_channels: int) -> list[Layer]:
        """The layers the network of ``genome`` runs, in order."""

    @abstractmethod
    def layer_settings(self, resolutions: tuple[int, ...], num_classes: int, in_channels: int) -> list[Layer]:
        """Every distinct layer setting of the space's networks at ``resolutions``, in network order."""

    def channels_last(self, in_channels: int, batch_size: int) -> bool:
        """Whether layers after the first run on channels-last tensors (the first always gets its input so)."""
        return False


#: Every search space by name; spaces register where they are defined.
SPACES: Registry[type[SearchSpace]] = Registry("space", sort=True)
