"""Exported networks: a folder with ``net.json``, optional ``net.pt`` weights and ``net.onnx``.

A folder holding only another tool's network files that a space reads (a
:class:`~nsganet.spaces.base.ForeignNetFiles` space: NSGANetV2's
``net.config`` with ``net.init`` or ``net.inherited`` for ``mobilenetv3``) is
read as an exported network too (:func:`open_net`).

``net.json`` holds everything needed to rebuild the network without the run
that found it: the space (and its options, e.g. the supernet shape that
defines a weight-sharing space), the canonical architecture string, the build settings (classes,
input size, channels, width/depth options) and the input normalisation of the
data it was searched on. ``net.pt`` holds a ``state_dict`` when there are
weights (inherited from a supernet, or trained by ``nsganet train``); it is
read with ``torch.load(..., weights_only=True)``. ``net.onnx`` is the same
network for ONNX Runtime and other engines.

Nothing in these files is executed: the architecture string is parsed by its
space, and unknown spaces, keys or shapes are errors.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nsganet.errors import NsganetError, torch_load_problem
from nsganet.utils.checks import CLASSES, IMAGE_SIZE, IN_CHANNELS
from nsganet.utils.files import atomic_save, atomic_write, read_text
from nsganet.utils.onnx import export_onnx

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from nsganet.spaces.base import SearchSpace

logger = logging.getLogger(__name__)

FORMAT = "nsganet-net"
VERSION = 1
SPEC_FILE, WEIGHTS_FILE, ONNX_FILE = "net.json", "net.pt", "net.onnx"
#: The largest ``net.json`` read: a network description takes a few kilobytes.
MAX_SPEC_BYTES = 1 << 20
#: Bounds of the network's shape (:mod:`nsganet.utils.checks` states them).
SHAPE_BOUNDS = {"num_classes": CLASSES, "input_size": IMAGE_SIZE, "in_channels": IN_CHANNELS}


@dataclass
class NetSpec:
    """What ``net.json`` records about an exported network.

    ``space_options`` rebuild spaces that take options (``get_space(space,
    **space_options)``; a supernet space's shape); ``build_options`` go to the space's ``build`` (e.g.
    ``channels``, ``layers``, ``auxiliary``). ``mean``/``std`` normalise inputs
    per channel, as during search. ``dataset`` names where the network was
    searched (``name``, ``data``, ``image_size``) so that ``nsganet train`` and
    ``nsganet evaluate`` default to the same data; ``source`` records the run,
    the evaluation number and its objective values; ``supernet`` the supernet
    file its weights came from (a teacher for distillation). Sizes are
    bounded (:data:`SHAPE_BOUNDS`), normalisation values finite, ``std`` positive.
    """

    space: str
    arch: str
    num_classes: int
    input_size: int
    in_channels: int
    mean: list[float]
    std: list[float]
    space_options: dict[str, Any] = field(default_factory=dict)
    build_options: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    supernet: str | None = None

    def __post_init__(self) -> None:
        for name, bound in SHAPE_BOUNDS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise NsganetError(f"net {name} must be a positive integer, got {value!r}")
            bound.check(f"net {name}", value)
        for name in ("mean", "std"):
            value = getattr(self, name)
            if (not isinstance(value, list) or len(value) != self.in_channels
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise NsganetError(f"net {name} must be a list of {self.in_channels} numbers, got {value!r}")
            if not all(math.isfinite(v) for v in value):
                raise NsganetError(f"net {name} must hold finite numbers, got {value!r}")
        if any(v <= 0 for v in self.std):
            raise NsganetError(f"net std must be positive, got {self.std}")
        for name in ("space_options", "build_options", "dataset", "source"):
            if not isinstance(getattr(self, name), dict):
                raise NsganetError(f"net {name} must be a mapping, got {getattr(self, name)!r}")
        if not isinstance(self.arch, str) or not isinstance(self.space, str):
            raise NsganetError("net space and arch must be strings")
        _check_dataset(self.dataset)

    # -- rebuilding ---------------------------------------------------------------------------
    def search_space(self) -> SearchSpace:
        """The space the architecture belongs to, rebuilt from ``space_options``."""
        from nsganet.spaces import get_space

        return get_space(self.space, **self.space_options)

    def genome(self) -> Any:
        """The architecture's genome, parsed (never evaluated) from its canonical string."""
        return self.search_space().from_string(self.arch)

    def build(self, **overrides: Any) -> nn.Module:
        """A freshly initialised network; ``overrides`` replace build options (e.g. ``auxiliary=True``).

        One too large for this machine's memory is refused before it is built.
        """
        space = self.search_space()
        options = {**self.build_options, **overrides}
        genome = space.from_string(self.arch)
        shape = {"num_classes": self.num_classes, "input_size": self.input_size, "in_channels": self.in_channels}
        try:
            space.check_size(genome, f"the {self.space} network of {self.num_classes} classes of {self.in_channels}x"
                             f"{self.input_size}x{self.input_size} images with build options {options}", **shape,
                             **options)
            return space.build(genome, **shape, **options)
        except TypeError as exc:
            raise NsganetError(f"cannot build {self.space} network with options {options}: {exc}") from None

    def load_data(self, dataset: str | None = None, data: str | Path | None = None, image_size: int | None = None,
                  split: str = "train", mode: str = "auto", check: bool = True) -> tuple[Any, dict[str, Any]]:
        """One split of ``dataset`` (``train`` or ``test``; only its files are opened) and where it came from,
        checked against the network's input (unless not ``check``: a transfer to other data); the split is None
        when the data have no such split.

        Without ``dataset`` it is the data the network was searched on
        (:attr:`dataset`; the embedded digits when none is recorded), and its
        recorded location and image size fill in what is not given. ``mode``
        holds image files in memory or streams them (:data:`nsganet.data.DATA_MODES`).
        """
        from nsganet.data import load_split
        from nsganet.data.formats import DEFAULT_DATASET

        recorded = self.dataset or {}
        name = dataset or recorded.get("name") or DEFAULT_DATASET
        if name == recorded.get("name"):
            data = data if data is not None else recorded.get("data")
            image_size = image_size if image_size is not None else recorded.get("image_size")
        loaded = load_split(name, data, split, image_size=image_size, mode=mode)
        where = name if data is None else f"{name} at {data}"
        if loaded is not None and check:
            if loaded.channels != self.in_channels or loaded.num_classes != self.num_classes:
                raise NsganetError(f"the network takes {self.in_channels}-channel images of {self.num_classes} "
                                   f"classes; {where} has {loaded.channels}-channel images of {loaded.num_classes} "
                                   "classes")
            if (loaded.height != self.input_size or loaded.width != self.input_size) \
                    and not self.search_space().resizes_input:
                raise NsganetError(f"the network takes {self.input_size}x{self.input_size} images; {where} has "
                                   f"{loaded.height}x{loaded.width}: give --image-size {self.input_size}")
        return loaded, {"name": name, "data": None if data is None else str(data), "image_size": image_size}

    def example_input(self, batch_size: int = 1) -> Any:
        """A zero batch of the network's input shape."""
        import torch

        return torch.zeros(batch_size, self.in_channels, self.input_size, self.input_size)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, values: Any, where: str = "net.json") -> NetSpec:
        """Validate a mapping read from ``net.json``."""
        if not isinstance(values, dict) or values.get("format") != FORMAT:
            raise NsganetError(f"{where} is not an nsganet network description (format {FORMAT!r})")
        if values.get("version") != VERSION:
            raise NsganetError(f"{where} has version {values.get('version')!r}; this nsganet reads {VERSION}")
        body = {k: v for k, v in values.items() if k not in ("format", "version")}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(body) - known)
        if unknown:
            raise NsganetError(f"{where}: unknown key {unknown[0]!r}")
        required = [k for k in ("space", "arch", "num_classes", "input_size", "in_channels", "mean", "std")
                    if k not in body]
        if required:
            raise NsganetError(f"{where}: missing key {required[0]!r}")
        try:
            return cls(**body)
        except NsganetError as exc:
            raise NsganetError(f"{where}: {exc}") from None


def _check_dataset(dataset: dict[str, Any]) -> None:
    """The recorded data of a network: a format name, a location and an image size (each optional)."""
    name, data = dataset.get("name"), dataset.get("data")
    if (name is not None and not isinstance(name, str)) or (data is not None and not isinstance(data, str)):
        raise NsganetError(f"net dataset name and data must be strings, got {name!r} and {data!r}")
    size = dataset.get("image_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        raise NsganetError(f"net dataset image_size must be an integer, got {size!r}")
    IMAGE_SIZE.check("net dataset image_size", size)


def _folder(path: str | Path) -> Path:
    """The network folder of ``path`` (a folder, or a ``net.json`` in it)."""
    path = Path(path)
    return path.parent if path.name == SPEC_FILE else path


def read_spec(path: str | Path) -> NetSpec:
    """The :class:`NetSpec` of an exported network folder (or its ``net.json``; or another tool's files)."""
    return open_net(path).spec


def _read_json_spec(folder: Path) -> NetSpec:
    """``net.json`` read and checked: at most :data:`MAX_SPEC_BYTES`, JSON, a :class:`NetSpec` whose architecture
    parses in its space and whose build options keep their bounds."""
    file = folder / SPEC_FILE
    try:
        size = file.stat().st_size
    except OSError:
        size = 0  # read_text says why it cannot be read
    if size > MAX_SPEC_BYTES:
        raise NsganetError(f"{file} is {size:,} bytes; a network description takes at most {MAX_SPEC_BYTES:,}")
    text = read_text(file, hint=" (export networks with 'nsganet select')")
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NsganetError(f"{file} is not valid JSON (line {exc.lineno})") from None
    except RecursionError:
        raise NsganetError(f"{file} is nested too deeply to be a network description") from None
    spec = NetSpec.from_dict(values, where=str(file))
    try:
        spec.genome()  # the architecture string must parse in its space
        spec.search_space().check_build_options(spec.build_options)
    except NsganetError as exc:
        raise NsganetError(f"{file}: {exc}") from None
    return spec


@dataclass
class NetFolder:
    """An exported network folder read: its spec and its weights, if it has any.

    ``weights`` is the file they come from (``net.pt``, or another tool's
    weights file); ``state`` holds the weights already read when they come
    from another tool's files (converted to the network's key names).
    """

    path: Path
    spec: NetSpec
    weights: Path | None = None
    state: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def has_weights(self) -> bool:
        return self.weights is not None

    def build(self, weights: str | Path | None = None, **overrides: Any) -> nn.Module:
        """The network in eval mode with the folder's weights, or with the ``state_dict`` file ``weights``;
        ``overrides`` replace build options."""
        model = self.spec.build(**overrides)
        if weights is not None:
            load_weights(model, weights)
        else:
            self.load_into(model)
        return model.eval()

    def load_into(self, model: nn.Module) -> None:
        """Load the folder's weights into ``model`` (a network built from :attr:`spec`)."""
        if self.state is not None:
            mismatch = _state_mismatch(model.state_dict(), self.state)
            if mismatch:
                raise NsganetError(f"weights {self.weights} do not fit the network: {mismatch}")
            model.load_state_dict(self.state)
        elif self.weights is not None:
            load_weights(model, self.weights)


def _foreign_space(folder: Path) -> Any:
    """The space class whose other tool's network files ``folder`` holds (None if none)."""
    from nsganet.spaces import SPACES, ForeignNetFiles

    return next((cls for _, cls in SPACES.items() if issubclass(cls, ForeignNetFiles) and cls.foreign_marker
                 and (folder / cls.foreign_marker).is_file()), None)


def open_net(path: str | Path) -> NetFolder:
    """An exported network folder: ``net.json`` (and ``net.pt``), or a folder holding only another tool's network
    files that a space reads (NSGANetV2's ``net.config`` with ``net.init`` or ``net.inherited``)."""
    folder = _folder(path)
    foreign = None if (folder / SPEC_FILE).is_file() else _foreign_space(folder)
    if foreign is None:
        spec = _read_json_spec(folder)
        weights = folder / WEIGHTS_FILE
        return NetFolder(folder, spec, weights if weights.is_file() else None)
    net = foreign.read_foreign_files(folder)
    space = net.space
    spec = NetSpec(space=space.name, arch=space.to_string(net.genome), num_classes=net.num_classes,
                   input_size=net.input_size, in_channels=net.in_channels, mean=list(net.mean), std=list(net.std),
                   space_options=space.options, source={"files": list(net.files), "folder": str(folder.resolve())})
    weights = folder / net.files[-1] if net.state is not None else None
    return NetFolder(folder, spec, weights, net.state)


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a ``state_dict`` file into ``model``; mismatches and foreign files are one-line errors."""
    import pickle

    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise NsganetError(f"cannot read weights {path}: {torch_load_problem(exc)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NsganetError(f"{path} is not a state_dict of tensors")
    mismatch = _state_mismatch(model.state_dict(), state)
    if mismatch:
        raise NsganetError(f"weights {path} do not fit the network: {mismatch}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise NsganetError(f"weights {path} do not fit the network: {str(exc).splitlines()[0][:200]}") from None


def _state_mismatch(expected: dict[str, Any], given: dict[str, Any]) -> str:
    """How a ``state_dict`` differs from the network's, in one line ('' when it fits).

    torch's own message puts the heading on its first line and the keys on the
    next ones; this names the counts and the first key of each kind instead.
    """
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [k for k in expected if k in given and tuple(expected[k].shape) != tuple(given[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]!r}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]!r}")
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} of another shape, e.g. {k!r} {tuple(given[k].shape)} instead of "
                     f"{tuple(expected[k].shape)}")
    return "; ".join(parts)


def load_net(path: str | Path, weights: str | Path | None = None, **overrides: Any) -> tuple[NetSpec, nn.Module]:
    """Rebuild an exported network: its spec and the module, with its weights loaded when it has any.

    The folder holds ``net.json`` (and ``net.pt``), or another tool's network
    files (NSGANetV2's ``net.config`` with ``net.init`` or ``net.inherited``).
    ``weights`` loads another ``state_dict`` file instead (e.g. a trained
    ``best.pt``); ``overrides`` replace build options.
    """
    net = open_net(path)
    return net.spec, net.build(weights, **overrides)


def write_net(folder: str | Path, spec: NetSpec, model: nn.Module | None = None, weights: bool = False,
              onnx: bool = True) -> Path:
    """Export a network into ``folder``: ``net.json``, ``net.pt`` when ``weights`` (of ``model``), ``net.onnx``.

    Without ``model`` a freshly initialised network is built for the ONNX file.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NsganetError(f"cannot create {folder}: {exc.strerror or exc}") from None
    if model is None:
        if weights:
            raise NsganetError("weights=True needs the model whose weights to save")
        model = spec.build()
    atomic_write(folder / SPEC_FILE, json.dumps(spec.to_dict(), indent=1) + "\n")
    if weights:
        atomic_save(model.state_dict(), folder / WEIGHTS_FILE)
    elif (folder / WEIGHTS_FILE).exists():
        (folder / WEIGHTS_FILE).unlink()  # stale weights of an earlier export would not match
    if onnx:
        export_onnx(model, folder / ONNX_FILE, spec.example_input())
    logger.info("exported %s to %s", spec.arch, folder)
    return folder
