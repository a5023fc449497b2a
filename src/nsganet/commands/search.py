"""``nsganet search``: search a space for the accuracy-vs-cost trade-off; its options are the config's keys."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nsganet.commands.args import key_value
from nsganet.commands.base import Command, register
from nsganet.errors import NsganetError

EPILOG = """config-file keys:
  strategy_params  strategy options (also -S KEY=VALUE), e.g. {crossover_prob: 0.9,
                   exploit_start: 0.667} for nsganetv1, {n_doe: 40, n_candidates: 8,
                   predictor: as} for nsganetv2; 'nsganet list' shows them all
  build_options    options of the space's networks (also -B KEY=VALUE), e.g.
                   {stem: imagenet} for micro networks on large images
%s

examples:
  nsganet search                                   # micro space, embedded digits
  nsganet search --dataset cifar10 --data ~/cifar-10-batches-py --workers 2 --budget 300
  nsganet search --space nb201 --table nats_tss_cifar10.csv --metric cifar10_test_acc_200ep
  nsganet search --space nb201 --table nats_tss_cifar10.csv --metric cifar10_test_acc_200ep \\
      --strategy nsganetv2 -S predictor=gp -S n_doe=30
  nsganet search --config runs/demo/config.yaml --out runs/again
  nsganet search --config runs/demo/config.yaml --out runs/demo --resume   # after a crash"""


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per command-line key of :class:`~nsganet.config.SearchConfig`, in groups, help from the field."""
    from nsganet.config import FIELDS, INHERITANCE, OBJECTIVE_SETTINGS, PROXY, TABLE, default_text

    groups: dict[str, Any] = {"": parser}
    for title in (PROXY, INHERITANCE, OBJECTIVE_SETTINGS, TABLE):
        groups[title] = parser.add_argument_group(title)
    for name, field in FIELDS.items():
        meta = field.metadata
        if not meta["cli"]:
            continue
        kwargs: dict[str, Any] = {"metavar": meta["metavar"], "dest": name,
                                  "help": f"{meta['help']}{default_text(name)}"}
        if isinstance(field.default, bool):
            kwargs.update(action="store_true", default=None)
            kwargs.pop("metavar")
        elif meta["choices"] is not None and not meta["lazy"]:
            kwargs["choices"] = list(meta["choices"]())
            kwargs.pop("metavar")
        elif meta["choices"] is not None:
            from nsganet.commands.args import one_of

            kwargs["type"] = one_of(meta["choices"])
        elif meta["bound"] is not None:
            kwargs["type"] = meta["bound"].parse
        elif meta["parse"] is not None:
            kwargs["type"] = meta["parse"]
        if meta.get("repeat"):  # each occurrence adds one item to the list
            kwargs["action"] = "append"
        groups[meta["group"]].add_argument(f"--{meta.get('flag') or name.replace('_', '-')}", **kwargs)


def config_of(args: argparse.Namespace) -> Any:
    """The :class:`~nsganet.config.SearchConfig` of ``--config FILE`` overridden by the options given."""
    from nsganet.config import SearchConfig, load_config

    values: dict[str, Any] = load_config(args.config) if args.config else {}
    for f in dataclasses.fields(SearchConfig):  # options given on the command line win over the file
        if getattr(args, f.name, None) is not None:
            values[f.name] = getattr(args, f.name)
    for key, given in (("strategy_params", args.strategy_param), ("build_options", args.build_option)):
        if given:
            params = values.get(key) or {}
            if not isinstance(params, dict):
                raise NsganetError(f"config key {key!r} must be a mapping")
            values[key] = {**params, **dict(given)}
    return SearchConfig.from_dict(values)


@register
class Search(Command):
    name = "search"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        from nsganet.config import FIELDS, default_text

        config_only = "\n".join(f"  {name:<16} {f.metadata['help']}{default_text(name)}"
                                for name, f in FIELDS.items() if not f.metadata["cli"]
                                and name not in ("strategy_params", "build_options"))
        s = subparsers.add_parser(
            "search", help="search a space for the accuracy-vs-cost trade-off",
            description="Search a space for architectures trading off the objectives. With no options: "
                        "NSGANetV1 on the micro (cell) space, proxy-training each architecture on the embedded "
                        "digits. Every option can also be given in a YAML --config file under the same name "
                        "(dashes as underscores); options on the command line win. The run directory keeps a "
                        "SQLite store, evaluations.csv, front.csv, stats/gen_N.json, config.yaml and plots.",
            epilog=EPILOG % config_only, formatter_class=argparse.RawDescriptionHelpFormatter)
        s.add_argument("--config", metavar="FILE", help="YAML file with any of the options below")
        s.add_argument("-S", "--strategy-param", action="append", type=key_value, metavar="KEY=VALUE",
                       dest="strategy_param",
                       help="a strategy option (repeatable), e.g. -S n_doe=40 -S predictor=gp; see 'nsganet list'")
        s.add_argument("-B", "--build-option", action="append", type=key_value, metavar="KEY=VALUE",
                       dest="build_option",
                       help="an option of the space's networks (repeatable), e.g. -B stem=imagenet for micro "
                            "networks on large images")
        s.add_argument("--resume", action="store_true",
                       help="continue the run in --out where it stopped (starts it if there is none)")
        s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        add_config_options(s)
        return s

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.api import run_config

        result = run_config(config_of(args), resume=args.resume, progress=not args.quiet)
        print(f"run directory: {result.out}")
        print(f"evaluated {len(result.evaluations)} architectures ({result.n_failed} failed) in "
              f"{result.generations} generations; normalised hypervolume {result.hypervolume:.4f}")
        if result.constraints:
            print(f"{len(result.feasible)} of them meet {', '.join(map(str, result.constraints))}; "
                  "the front holds only those")
        print(f"non-dominated front ({len(result.front)} architectures):")
        print(result.front_table())
        return 0
