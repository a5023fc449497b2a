"""``nsganet list``: the spaces, strategies (with their options), objectives and datasets."""

from __future__ import annotations

import argparse
from typing import Any

from nsganet.commands.base import Command, register


@register
class List(Command):
    name = "list"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        return subparsers.add_parser("list", help="list the spaces, strategies, objectives and datasets")

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.config import FIELDS, strategy_options
        from nsganet.data import DATASETS, dataset_names
        from nsganet.search.objectives import OBJECTIVES
        from nsganet.spaces import space_names
        from nsganet.strategies import strategy_names

        print("spaces:     " + ", ".join(space_names()))
        print(f"strategies (each evaluates --pop-size architectures a batch, default {FIELDS['pop_size'].default}; "
              "options and defaults, set with -S KEY=VALUE):")
        for name in strategy_names():
            options = strategy_options(name)
            print(f"  {name:<10} " + (", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in options.items()) or "(no options)"))
        print("objectives: " + ", ".join(f"{o.name} ({o.description})" for _, o in OBJECTIVES.items()))
        print("datasets (--data, how they are held):")
        for name in dataset_names():
            fmt = DATASETS.get(name)
            held = "image files: in memory when they fit, else streamed" if fmt.files else "arrays, in memory"
            print(f"  {name:<14} {fmt.data or 'embedded':<10} {held}")
        return 0
