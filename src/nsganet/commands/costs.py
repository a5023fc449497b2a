"""``nsganet costs``: the FLOPs/params range of a space, or of one architecture."""

from __future__ import annotations

import argparse
from typing import Any

from nsganet.commands.args import positive_int
from nsganet.commands.base import Command, register


@register
class Costs(Command):
    name = "costs"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        from nsganet.config import NETWORK_DEFAULTS
        from nsganet.spaces import space_names

        c = subparsers.add_parser("costs", help="print the FLOPs/params range of a space, or of one architecture",
                                  description="Measure flops (million multiply-accumulates) and params (millions) "
                                              "of a space's smallest and largest networks, or of --arch.")
        c.add_argument("--space", choices=space_names(), default="nb201", help="search space (default %(default)s)")
        c.add_argument("--arch", metavar="STRING", help="canonical architecture string to measure")
        for name, metavar, what in (("num_classes", "N", "classes"), ("input_size", "PX", "resolution")):
            c.add_argument(f"--{name.replace('_', '-')}", type=positive_int, default=NETWORK_DEFAULTS[name],
                           metavar=metavar, help=f"{what} (default {NETWORK_DEFAULTS[name]})")
        c.add_argument("--channels", type=positive_int, metavar="C", help="network width (default: the space's)")
        c.add_argument("--layers", type=positive_int, metavar="N", help="cells per stage (default: the space's)")
        return c

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.costs.model import CostModel
        from nsganet.spaces import get_space

        space = get_space(args.space)
        model = CostModel(space, num_classes=args.num_classes, input_size=args.input_size,
                          build_options=space.proxy_options(args.channels, args.layers, use_defaults=False))
        setting = f"{args.space}, {args.input_size} px, {args.num_classes} classes"
        if args.arch:
            values = model.measure(space.from_string(args.arch))
            print(f"{args.arch} ({setting}): {values['flops']:.4f} MFLOPs, {values['params']:.6f} M params")
            return 0
        low, high = model.measure(space.smallest()), model.measure(space.largest())
        print(f"{setting}: flops {low['flops']:.4f}-{high['flops']:.4f} M multiply-accumulates, "
              f"params {low['params']:.6f}-{high['params']:.6f} M")
        print(f"  smallest: {space.to_string(space.smallest())}")
        print(f"  largest:  {space.to_string(space.largest())}")
        return 0
