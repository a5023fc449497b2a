"""``nsganet report RUN``: an HTML page with the figures of a run, for a browser or to share."""

from __future__ import annotations

import argparse
from typing import Any

from nsganet.commands.base import Command, register


@register
class Report(Command):
    name = "report"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        p = subparsers.add_parser(
            "report", help="write an HTML report of a run (figures, front table, config)",
            description="Write RUN/report/index.html (or --out DIR/index.html) and its PNG figures: the "
                        "non-dominated front (pairwise for 3+ objectives), the front per generation, the "
                        "hypervolume curve, the surrogate's quality per iteration (nsganetv2), the frequency of "
                        "choices in the front versus all evaluated architectures (per kind of choice, e.g. kernel "
                        "and depth, where a space's choices come in kinds; fronts of 8 or more), parallel "
                        "coordinates (3+ objectives) and drawings of front architectures (every built-in space). "
                        "A figure left out is named with the reason. Objectives carry their units and the page "
                        "says what each measures (split, network, input size); the configuration is shown as "
                        "the run resolved it; run time and any recorded hardware are shown. Each network "
                        "exported by 'nsganet select' gets a section: its drawing and, once 'nsganet train' "
                        "and 'nsganet evaluate' ran, its training curve, test accuracy, corruption and FGSM "
                        "results. The page is self-contained: inline CSS, relative links, no external "
                        "resources. Works on finished runs and on runs still in progress. Prints the page's path.",
            epilog="examples:\n"
                   "  nsganet report runs/demo\n"
                   "  nsganet report runs/demo --out /tmp/demo-report --open",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("run", metavar="RUN", help="run directory of 'nsganet search'")
        p.add_argument("--out", metavar="DIR", help="folder for index.html and the figures (default RUN/report)")
        p.add_argument("--open", action="store_true", help="open the page in the default web browser")
        return p

    def run(self, args: argparse.Namespace) -> int:
        import sys

        from nsganet.report.build import write_report

        report = write_report(args.run, out=args.out)
        print(report.index)
        if args.open:
            import webbrowser

            if not webbrowser.open(report.index.resolve().as_uri()):
                print("nsganet: no web browser could be started; open the file above", file=sys.stderr)
        return 0
