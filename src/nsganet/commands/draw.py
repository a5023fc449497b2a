"""``nsganet draw``: draw an architecture of a space that can draw (e.g. micro's cells) into an image."""

from __future__ import annotations

import argparse
from typing import Any

from nsganet.commands.base import Command, register
from nsganet.errors import NsganetError


@register
class Draw(Command):
    name = "draw"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        from nsganet.spaces import SPACES, DrawableSpace

        drawable = [name for name, cls in SPACES.items() if issubclass(cls, DrawableSpace)]
        w = subparsers.add_parser("draw", help="draw an architecture's cells into an image",
                                  description="Draw an architecture given by its canonical string, in a space that "
                                              f"can draw its architectures ({', '.join(drawable)}).")
        w.add_argument("arch", metavar="STRING", help="canonical architecture string (quote it)")
        w.add_argument("--space", choices=SPACES.names(), default="micro", help="search space (default %(default)s)")
        w.add_argument("--out", metavar="FILE", default="cell.png", help="image file to write (default %(default)s)")
        return w

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.spaces import DrawableSpace, get_space

        space = get_space(args.space)
        if not isinstance(space, DrawableSpace):
            raise NsganetError(f"the {space.name} space cannot draw its architectures")
        genome = space.from_string(args.arch)
        try:
            space.draw(genome, args.out)
        except OSError as exc:
            raise NsganetError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"drew {args.out}")
        return 0
