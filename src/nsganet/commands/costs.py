"""``nsganet costs``: the FLOPs/params range of a space, or of one architecture; with ``--run``, as a run measured.

:func:`add_network_arguments` and :func:`network_of` are shared with
``nsganet draw``: ``--run RUN`` takes the space (a supernet run's preset and
width), the network shape and the build options from the run as its search
resolved them; without it a string of a space with presets (mobilenetv3) is
read by the preset it belongs to.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from nsganet.commands.args import (
    channels_arg,
    image_size_arg,
    in_channels_arg,
    layers_arg,
    num_classes_arg,
    positive_float,
)
from nsganet.commands.base import Command, register
from nsganet.errors import ConfigError, InvalidArchitecture, NsganetError

#: The shape options of ``costs`` (key of ``NETWORK_DEFAULTS``: metavar, what it is, its argparse type).
SHAPE_OPTIONS = {"num_classes": ("N", "classes", num_classes_arg), "input_size": ("PX", "input resolution",
                                                                                  image_size_arg),
                 "in_channels": ("C", "input channels", in_channels_arg)}


def add_network_arguments(parser: Any, default_space: str, shape: bool = False) -> None:
    """``--space``, ``--run``, ``--preset``, ``--width-mult`` (and with ``shape`` the network's shape, width and
    depth): how an architecture string is read and its network built."""
    from nsganet.config import NETWORK_DEFAULTS
    from nsganet.spaces import SPACES, LayerwiseSpace

    presets = sorted({p for _, cls in SPACES.items() if issubclass(cls, LayerwiseSpace) for p in cls.presets})
    parser.add_argument("--space", choices=SPACES.names(), help=f"search space (default {default_space}; with "
                                                                "--run: the run's)")
    parser.add_argument("--run", metavar="RUN", help="a run directory of 'nsganet search': its space (a supernet's "
                        "preset and width), network shape, width and depth, as the search measured them")
    parser.add_argument("--preset", metavar="NAME", help=f"shape preset of a space that has them ({', '.join(presets)}"
                        "; default: the one whose strings ARCH is written in)")
    parser.add_argument("--width-mult", type=positive_float, metavar="W",
                        help="width multiplier of the preset (default: the preset's)")
    if not shape:
        return
    for name, (metavar, what, parse) in SHAPE_OPTIONS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=parse, metavar=metavar,
                            help=f"{what} (default {NETWORK_DEFAULTS[name]}; with --run: the run's)")
    parser.add_argument("--channels", type=channels_arg, metavar="C",
                        help="network width (default: the space's full network; with --run: the run's)")
    parser.add_argument("--layers", type=layers_arg, metavar="N",
                        help="cells per stage (default: the space's full network; with --run: the run's)")


@dataclass
class Network:
    """An architecture's space and genome (None: the whole space), the shape and build options to measure at."""

    space: Any
    genome: Any
    shape: dict[str, int]
    build_options: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # "run RUN", "preset small", ...: where the space's settings came from

    def cost_model(self) -> Any:
        from nsganet.costs.model import CostModel

        return CostModel(self.space, build_options=self.build_options, **self.shape)


def network_of(args: argparse.Namespace, arch: str | None, default_space: str) -> Network:
    """The network ``arch`` (None: the space) of the options :func:`add_network_arguments` added."""
    from nsganet.config import NETWORK_DEFAULTS

    given = {name: getattr(args, name, None) for name in SHAPE_OPTIONS}
    proxy = getattr(args, "channels", None), getattr(args, "layers", None)
    if args.run is not None:
        network = _run_network(args)
        network.shape.update({k: v for k, v in given.items() if v is not None})
    else:
        shape = {name: value if value is not None else NETWORK_DEFAULTS[name] for name, value in given.items()}
        network = Network(None, None, shape)
        network.space, network.origin = _space_of(args.space or default_space, args, arch, shape,
                                                  given["input_size"])
    if any(v is not None for v in proxy):  # over the run's: e.g. the larger network 'select' exports
        network.build_options.update(network.space.proxy_options(*proxy, use_defaults=False))
    if arch is not None:
        network.genome = network.space.from_string(arch)
    return network


def _run_network(args: argparse.Namespace) -> Network:
    """The space, shape and build options of ``--run``'s networks (see :func:`~nsganet.deploy.select.run_settings`)."""
    from nsganet.deploy.select import read_run, run_settings

    for option in ("preset", "width_mult"):
        if getattr(args, option) is not None:
            raise NsganetError(f"--{option.replace('_', '-')} cannot go with --run: the run's space has its own")
    record = read_run(args.run)
    if args.space is not None and args.space != record.config.space:
        raise NsganetError(f"--space {args.space}: the run {args.run} searched the {record.config.space} space")
    settings = run_settings(record)
    return Network(settings.space, None, dict(settings.shape), dict(settings.build_options), f"run {args.run}")


def _space_of(name: str, args: argparse.Namespace, arch: str | None, shape: dict[str, int],
              image_size: int | None) -> tuple[Any, str]:
    """The space ``arch`` is read in: the named one, or of the presets (and image sizes) of a space that has
    them, the one whose strings it is written in; several that measure differently are refused."""
    candidates = _candidates(name, args.preset, args.width_mult, image_size)
    if arch is None or len(candidates) == 1:
        return candidates[0]
    hint = f"give --run RUN, or --preset{' and --input-size' if hasattr(args, 'input_size') else ''}"
    fits, first_error = [], None
    for space, origin in candidates:
        try:
            fits.append((space, origin, space.from_string(arch)))
        except InvalidArchitecture as exc:
            first_error = first_error or exc
    if not fits:
        tried = ", ".join(origin or "the default" for _, origin in candidates)
        raise InvalidArchitecture(f"{first_error} (read in each of: {tried}; {hint})")
    from nsganet.costs.model import CostModel

    costs = {origin: CostModel(space, **shape).measure(genome) for space, origin, genome in fits}
    if len({tuple(sorted(c.items())) for c in costs.values()}) > 1:
        raise NsganetError(f"{arch[:60]!r} is an architecture of several {fits[0][0].name} settings that measure "
                           f"differently ({', '.join(costs)}): {hint}")
    return fits[0][0], fits[0][1]


def _candidates(name: str, preset: str | None, width_mult: float | None,
                image_size: int | None) -> list[tuple[Any, str]]:
    """The spaces a string of space ``name`` may be written in, each with where its settings come from: the
    space's own default, each preset, and (a supernet space) the one a search makes for images of
    ``image_size`` px (default: the default input size)."""
    from nsganet.config import NETWORK_DEFAULTS
    from nsganet.spaces import SPACES, LayerwiseSpace, SupernetSpace, get_space

    cls = SPACES.get(name)
    presets = list(cls.presets) if issubclass(cls, LayerwiseSpace) else []
    if preset is not None and preset not in presets:
        raise NsganetError(f"the {name} space has no preset {preset!r}"
                           + (f"; presets: {', '.join(presets)}" if presets else ""))
    if width_mult is not None and not presets:
        raise NsganetError(f"--width-mult applies to spaces with presets; the {name} space has none")
    found: list[tuple[Any, str]] = [] if preset is not None or width_mult is not None else [(get_space(name), "")]
    for p in [preset] if preset is not None else presets:
        try:  # a preset that takes no image size is made without one
            found.append((cls.preset(p, image_size, width_mult), f"preset {p}"))
        except ConfigError:
            found.append((cls.preset(p, None, width_mult), f"preset {p}"))
    if preset is None and issubclass(cls, SupernetSpace):
        size = image_size or NETWORK_DEFAULTS["input_size"]
        found.append((get_space(name).for_images(size, width_mult), f"{size} px images"))
    distinct: list[tuple[Any, str]] = []
    for space, origin in found:
        same = next((i for i, (other, _) in enumerate(distinct) if other.options == space.options), None)
        if same is None:
            distinct.append((space, origin))
        elif not distinct[same][1]:  # the space's default is this preset: say so
            distinct[same] = (distinct[same][0], origin)
    return distinct


def describe(network: Network) -> str:
    """``micro, 8 px, 1 channel, 10 classes, channels=4, layers=1; run RUN``."""
    shape = network.shape
    parts = [network.space.name, f"{shape['input_size']} px",
             f"{shape['in_channels']} channel{'s' if shape['in_channels'] != 1 else ''}",
             f"{shape['num_classes']} classes", *(f"{k}={v}" for k, v in network.build_options.items())]
    return ", ".join(parts) + (f"; {network.origin}" if network.origin else "")


@register
class Costs(Command):
    name = "costs"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        c = subparsers.add_parser(
            "costs", help="print the FLOPs/params range of a space, or of one architecture",
            description="Measure flops (million multiply-accumulates) and params (millions) of a space's smallest "
                        "and largest networks, or of ARCH. With --run RUN: of the networks of that run, as its "
                        "search measured them (its evaluations.csv holds the same numbers).",
            epilog="examples:\n"
                   "  nsganet costs --space micro --input-size 32 --channels 16 --layers 2\n"
                   "  nsganet costs --run runs/demo 'normal: ...; reduce: ...'\n"
                   "  nsganet costs --space mobilenetv3 'r16 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | "
                   "k3e3 k3e3'\n"
                   "  nsganet costs --space micro --in-channels 1 --input-size 8 --channels 4 --layers 1 ARCH",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        c.add_argument("arch_arg", nargs="?", metavar="ARCH", help="canonical architecture string to measure (quote "
                                                                   "it; default: the space's range)")
        c.add_argument("--arch", metavar="STRING", help="the same as ARCH")
        add_network_arguments(c, "nb201", shape=True)
        return c

    def run(self, args: argparse.Namespace) -> int:
        if args.arch is not None and args.arch_arg is not None:
            raise NsganetError("give the architecture once: as ARCH or as --arch")
        arch = args.arch if args.arch is not None else args.arch_arg
        network = network_of(args, arch, "nb201")
        model, space = network.cost_model(), network.space
        setting = describe(network)
        if network.genome is not None:
            values = model.measure(network.genome)
            print(f"{arch} ({setting}): {values['flops']!r} MFLOPs, {values['params']!r} M params")
            return 0
        low, high = model.measure(space.smallest()), model.measure(space.largest())
        print(f"{setting}: flops {low['flops']:.4f}-{high['flops']:.4f} M multiply-accumulates, "
              f"params {low['params']:.6f}-{high['params']:.6f} M")
        print(f"  smallest: {space.to_string(space.smallest())}")
        print(f"  largest:  {space.to_string(space.largest())}")
        return 0
