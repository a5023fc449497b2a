"""``nsganet draw``: draw an architecture of a space that can draw its architectures into an image."""

from __future__ import annotations

import argparse
from typing import Any

from nsganet.commands.base import Command, register
from nsganet.commands.costs import add_network_arguments, network_of
from nsganet.errors import NsganetError


@register
class Draw(Command):
    name = "draw"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        w = subparsers.add_parser("draw", help="draw an architecture into an image",
                                  description="Draw an architecture given by its canonical string, in a space that "
                                              "can draw its architectures. With --run RUN: in the run's space, as "
                                              "its search made it (e.g. a mobilenetv3 supernet's preset).")
        w.add_argument("arch", metavar="STRING", help="canonical architecture string (quote it)")
        add_network_arguments(w, "micro")
        w.add_argument("--out", metavar="FILE", default="cell.png", help="image file to write (default %(default)s)")
        return w

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.spaces import DrawableSpace

        network = network_of(args, args.arch, "micro")
        space = network.space
        if not isinstance(space, DrawableSpace):
            raise NsganetError(f"the {space.name} space cannot draw its architectures")
        try:
            space.draw(network.genome, args.out)
        except OSError as exc:
            raise NsganetError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"drew {args.out}")
        return 0
